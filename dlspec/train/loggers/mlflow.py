"""MLflow logging: the trainer's numbers in, an MLflow run out (parameters, metrics, results.json).

The tracking URI is the `uri=` argument, else MLFLOW_TRACKING_URI, else
MLflow's own default. A plain folder or a file: URI is a local file store,
which recent MLflow versions allow only with MLFLOW_ALLOW_FILE_STORE=true;
naming one is taken as that choice.

`record()` (kept in every checkpoint) is the run id, so `fit --resume` reopens
the same MLflow run. MLflow refuses to change a logged parameter: on resume only
parameters the run lacks are logged, and a setting that differs now (`--epochs`)
keeps its first value as the parameter, gets the new one as tag `resumed.NAME`,
and is named in the trainer's log. MLflow cannot delete logged values, so a
metric is not logged again at a step the run already holds (the steps the
interrupted process logged after its checkpoint stay, the resumed ones start
after them), and epochs the run lacks are filled in from the checkpoint's
history. A recorded run that the store no longer has (another tracking URI,
deleted) is a one-line warning and a new run.
"""
from __future__ import annotations

import os

from ...errors import DlspecError, warn
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
    """One MLflow run per dlspec run (kept across resumes), named after the run directory unless
    run_name= is given."""

    name = "mlflow"

    def __init__(self, out: str, args: dict, resume=None, say=print):
        import logging
        import mlflow
        logging.getLogger("mlflow").setLevel(logging.WARNING)  # its INFO lines would interleave with the epochs
        self.mlflow, self.out, self.every, self.say = mlflow, out, args["every"], say
        self.logged: dict = {}  # metric -> highest step the reopened run already holds
        try:
            uri = _tracking_uri(args["uri"])
            if uri:
                mlflow.set_tracking_uri(uri)
            experiment = mlflow.set_experiment(args["experiment"])
            recorded = ((resume.records if resume else {}).get(self.name) or {}).get("run_id")
            self.run = self._reopen(recorded, experiment) if recorded else None
            if self.run is None:
                self.run = mlflow.start_run(run_name=args["run_name"] or os.path.basename(os.path.abspath(out)))
            elif resume is not None:
                self.logged = self._logged_steps()
        except DlspecError:
            raise
        except Exception as exc:  # an unreachable server, a refused store: say so before training starts
            raise DlspecError(f"log mlflow: cannot start an MLflow run: {str(exc).splitlines()[0]}",
                              hint="check uri= (or MLFLOW_TRACKING_URI), e.g. mlflow(uri=\"mlruns\")") from None
        for row in (resume.history if resume else []):  # epochs the run lacks: added on resume, or cut off
            self.epoch(row["epoch"], row)

    def _reopen(self, run_id: str, experiment):
        """The recorded run, started again; None (after a warning) when this store no longer has it."""
        from mlflow.exceptions import MlflowException
        try:
            found = self.mlflow.tracking.MlflowClient().get_run(run_id)
        except MlflowException as exc:
            if getattr(exc, "error_code", "") != "RESOURCE_DOES_NOT_EXIST":
                raise
            found = None
        if found is None:
            why = "is not in"
        elif found.info.lifecycle_stage != "active":
            why = "was deleted from"
        elif found.info.experiment_id != experiment.experiment_id:
            why = "belongs to another experiment than"
        else:
            return self.mlflow.start_run(run_id=run_id)
        where = f"{self.mlflow.get_tracking_uri()} (experiment {experiment.name})"
        warn(f"log mlflow: the MLflow run this run logged to ({run_id}) {why} {where}; "
             f"the resumed run logs to a new MLflow run")
        return None

    def _logged_steps(self) -> dict:
        """metric -> the highest step the reopened run holds (read once, on resume)."""
        client, run_id = self.mlflow.tracking.MlflowClient(), self.run.info.run_id
        return {key: max((m.step for m in client.get_metric_history(run_id, key)), default=0)
                for key in self.run.data.metrics}

    def _log_new(self, metrics: dict, step: int) -> None:
        """Log the metrics at `step`, except those the reopened run holds at this step or later."""
        if self.logged:
            metrics = {k: v for k, v in metrics.items() if step > self.logged.get(k, -1)}
        if metrics:
            self.mlflow.log_metrics(metrics, step=step)

    def record(self) -> dict:
        return {"run_id": self.run.info.run_id}

    def start(self, hparams: dict) -> None:
        # MLflow limits a value to 6000 characters: settings are short, but a long list is cut, not refused
        values = {k: str(v)[:6000] for k, v in hparams.items()}
        recorded = self.run.data.params  # empty for a new run
        changed = {k: v for k, v in values.items() if k in recorded and recorded[k] != v}
        self.mlflow.log_params({k: v for k, v in values.items() if k not in recorded})
        if changed:
            self.mlflow.set_tags({f"resumed.{k}": v for k, v in changed.items()})
            listing = ", ".join(f"{k} {recorded[k]} -> {v}" for k, v in changed.items())
            self.say(f"log mlflow: resumed MLflow run {self.run.info.run_id} keeps the parameters it was started "
                     f"with; now different (set as tags resumed.NAME): {listing}")

    def step(self, global_step: int, scalars: dict) -> None:
        self._log_new({f"step_{k}": v for k, v in scalars.items()}, global_step)

    def epoch(self, epoch: int, row: dict) -> None:
        self._log_new(epoch_scalars(row), epoch)

    def end(self, results: dict) -> None:
        self.mlflow.log_metrics(final_scalars(results))  # step 0 again after a resume: the latest value counts
        results_file = os.path.join(self.out, "results.json")
        if os.path.exists(results_file):
            self.mlflow.log_artifact(results_file)

    def close(self, status: str = "FINISHED") -> None:
        self.mlflow.end_run(status=status)
