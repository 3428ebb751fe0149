"""MLflow logging: the trainer's numbers in, an MLflow run out (parameters, metrics, results.json).

The tracking URI is the `uri=` argument, else MLFLOW_TRACKING_URI, else
MLflow's own default. A plain folder or a file: URI is a local file store,
which recent MLflow versions allow only with MLFLOW_ALLOW_FILE_STORE=true;
naming one is taken as that choice.
"""
from __future__ import annotations

import os

from ...errors import DlspecError
from . import epoch_scalars, final_scalars


def _tracking_uri(uri):
    """uri as MLflow takes it; a local folder (already resolved against the spec) becomes a file: URI."""
    if uri is None:
        return None
    if uri.startswith("file:") or os.path.isabs(uri):
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")  # the user asked for a local file store
        return uri if uri.startswith("file:") else "file:" + uri
    return uri


class MlflowLogger:
    """One MLflow run per dlspec run, named after the run directory unless run_name= is given."""

    def __init__(self, out: str, args: dict):
        import logging
        import mlflow
        logging.getLogger("mlflow").setLevel(logging.WARNING)  # its INFO lines would interleave with the epochs
        self.mlflow, self.out, self.every = mlflow, out, args["every"]
        try:
            uri = _tracking_uri(args["uri"])
            if uri:
                mlflow.set_tracking_uri(uri)
            mlflow.set_experiment(args["experiment"])
            self.run = mlflow.start_run(run_name=args["run_name"] or os.path.basename(os.path.abspath(out)))
        except Exception as exc:  # an unreachable server, a refused store: say so before training starts
            raise DlspecError(f"log mlflow: cannot start an MLflow run: {str(exc).splitlines()[0]}",
                              hint="check uri= (or MLFLOW_TRACKING_URI), e.g. mlflow(uri=\"mlruns\")") from None

    def start(self, hparams: dict) -> None:
        # MLflow limits a value to 6000 characters: settings are short, but a long list is cut, not refused
        self.mlflow.log_params({k: str(v)[:6000] for k, v in hparams.items()})

    def step(self, global_step: int, scalars: dict) -> None:
        self.mlflow.log_metrics({f"step_{k}": v for k, v in scalars.items()}, step=global_step)

    def epoch(self, epoch: int, row: dict) -> None:
        self.mlflow.log_metrics(epoch_scalars(row), step=epoch)

    def end(self, results: dict) -> None:
        self.mlflow.log_metrics(final_scalars(results))
        results_file = os.path.join(self.out, "results.json")
        if os.path.exists(results_file):
            self.mlflow.log_artifact(results_file)

    def close(self, status: str = "FINISHED") -> None:
        self.mlflow.end_run(status=status)
