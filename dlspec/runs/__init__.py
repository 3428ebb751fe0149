"""Finished runs: a run directory in; test metrics, predictions (predict) and exports (export) out."""
