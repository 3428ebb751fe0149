"""Code the tests share that is neither a test nor a fixture: tiny runs to predict from and spoil
(predict_runs.py, table_runs.py) and plain-torch references of every layer (layer_references.py)."""
