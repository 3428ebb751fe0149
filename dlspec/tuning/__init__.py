"""dlspec tune: hyperparameter search over a spec's search spaces, on Optuna.

check.py checks a spec across its spaces (also used by `dlspec compile`),
study.py opens the Optuna study and runs each trial as a normal fit,
rewrite.py writes best.dlspec, report.py the table, trials.csv and plots.
Optuna is imported only when a study runs (the `tune` extra).
"""
