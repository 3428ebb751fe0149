"""dlspec tune: hyperparameter search over a spec's search spaces, on Optuna.

check.py checks a spec across its spaces (also used by `dlspec compile`);
params.py maps spaces to Optuna distributions and samples back to spec text;
storage.py opens the study's storage; study.py runs each trial as a normal
fit; rewrite.py writes best.dlspec; report.py the table, trials.csv and plots.
Optuna is imported only when a study runs (the `tune` extra).
"""
