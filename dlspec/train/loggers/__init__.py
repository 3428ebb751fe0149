"""Where training numbers go besides the console: the `log` train setting in, logger objects out.

`log tensorboard, mlflow(experiment="x")` names one or more loggers; the run
directory's metrics.csv is always written (`log csv` may be named for
clarity). Each logger receives the same calls from the trainer:

- `start(hparams)`: once, with the run's settings flattened to plain values;
- `step(global_step, scalars)`: rate-limited (at most once a second) during an epoch;
- `epoch(epoch, row)`: once per epoch with the metrics.csv row (loss, metrics, lr, samples/s);
- `end(results)`: with results.json (best monitored value, test metrics), then `close()`.

Every checkpoint holds `record()` (logger name -> what it needs to go on, e.g. the
MLflow run id), so `fit --resume` hands the loggers a `Resume` and they go on
with the same MLflow run and TensorBoard folder instead of starting new ones
(see mlflow.py and tensorboard.py for how each drops or skips what the interrupted
process logged after the checkpoint). A logger the checkpoint has no record of
(`log` changed, a run from an older dlspec) simply starts, given the history so far.

Checking a `log` setting never imports the logging library: a missing one is a
one-line error naming the pip command, given by `dlspec compile` before any data loads.
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from typing import Callable, Optional

from ...errors import DlspecError
from ...language.resolve import resolve_path
from ...schema.args import Arg, positive
from ...schema.registry import Registry
from ...schema.settings import bind_steps


@dataclass(frozen=True)
class LoggerDef:
    """A logger the `log` setting can name: its arguments, the package it needs, and a builder."""

    name: str
    args: tuple
    build: Callable  # (run_dir, bound args, Resume or None, say) -> logger object
    doc: str
    needs: str = ""  # the importable module it needs ("" for none)
    extra: str = ""  # the dlspec extra that installs it
    source: str = "built-in"


LOGGERS = Registry("logger")


@dataclass(frozen=True)
class Resume:
    """Where a resumed run goes on from, as its loggers need it."""

    epoch: int  # the checkpoint's epoch: the last one completed
    global_step: int  # batches trained through that epoch (the x axis of the step/ scalars)
    history: list = field(default_factory=list)  # metrics.csv rows of epochs 1..epoch
    records: dict = field(default_factory=dict)  # logger name -> its record() in the checkpoint


def _tensorboard(out: str, args: dict, resume: Optional[Resume], say: Callable):
    from .tensorboard import TensorBoardLogger
    return TensorBoardLogger(out, args, resume)


def _mlflow(out: str, args: dict, resume: Optional[Resume], say: Callable):
    from .mlflow import MlflowLogger
    return MlflowLogger(out, args, resume, say)


for _entry in (
    LoggerDef("csv", (), lambda *_: None, "metrics.csv in the run directory (always written)"),
    LoggerDef("tensorboard", (Arg("dir", "str", "tensorboard"), Arg("every", "float", 1.0, positive)), _tensorboard,
              "TensorBoard event files in RUN_DIR/tensorboard (loss, metrics, lr, samples/s per epoch and at most "
              "once every `every` seconds within an epoch; hparams at the end): tensorboard(dir=\"tensorboard\", "
              "every=1.0)", "tensorboard", "tensorboard"),
    LoggerDef("mlflow", (Arg("uri", "str", None), Arg("experiment", "str", "dlspec"), Arg("run_name", "str", None),
                         Arg("every", "float", 1.0, positive)), _mlflow,
              "an MLflow run (parameters, per-epoch and rate-limited per-step metrics, results.json as an artifact): "
              "mlflow(uri=None, experiment=\"dlspec\", run_name=None); uri defaults to MLFLOW_TRACKING_URI or "
              "MLflow's own default", "mlflow", "mlflow"),
):
    LOGGERS.register(_entry)


def check_log(steps: list) -> list:
    """(LoggerDef, args, loc) per logger named in a `log` setting; unknown names and arguments
    are located errors."""
    checked = []
    for step, (item, args) in zip(steps, bind_steps(LOGGERS, steps, "logger")):  # each unknown name at once
        if args.get("uri") and "://" not in args["uri"] and not args["uri"].startswith(("file:", "sqlite:")):
            args["uri"] = resolve_path(args["uri"], step.loc)  # a folder: relative to the spec, like every path
        checked.append((item, args, step.loc))
    return checked


def require_packages(checked: list) -> None:
    """A located one-line error when a named logger's package is not installed (looked for, not
    imported). `fit` and `compile` call it; loading a finished run does not need the loggers."""
    for item, _, loc in checked:
        if item.needs and importlib.util.find_spec(item.needs) is None:
            raise DlspecError(f"log {item.name} needs the {item.needs} package, which is not installed: "
                              f"pip install 'dlspec[{item.extra}]'", loc)


class Loggers:
    """Every logger of a run, called together."""

    def __init__(self, loggers: list):
        self.loggers = [lg for lg in loggers if lg is not None]
        self.step_every = min((lg.every for lg in self.loggers), default=None)

    def __bool__(self) -> bool:
        return bool(self.loggers)

    def start(self, hparams: dict) -> None:
        for lg in self.loggers:
            lg.start(hparams)

    def step(self, global_step: int, scalars: dict) -> None:
        for lg in self.loggers:
            lg.step(global_step, scalars)

    def epoch(self, epoch: int, row: dict) -> None:
        for lg in self.loggers:
            lg.epoch(epoch, row)

    def end(self, results: dict) -> None:
        for lg in self.loggers:
            lg.end(results)

    def record(self) -> dict:
        """What each logger needs to go on after a resume (kept in every checkpoint)."""
        return {lg.name: lg.record() for lg in self.loggers if hasattr(lg, "record")}

    def close(self, failed: bool = False) -> None:
        """Close every logger once; a run that failed or was interrupted is marked so where a logger can."""
        for lg in self.loggers:
            lg.close("FAILED" if failed else "FINISHED")
        self.loggers = []


def open_loggers(checked: list, out: str, resume: Optional[Resume] = None, say: Callable = print) -> Loggers:
    """Build the loggers a checked `log` setting names, writing under the run directory `out`;
    with `resume` they go on from a checkpoint; `say` is the trainer's log (one line each)."""
    return Loggers([item.build(out, args, resume, say) for item, args, _ in checked])


def flat_hparams(settings: dict) -> dict:
    """Run settings as the flat name -> number/string/bool mapping TensorBoard and MLflow take."""
    flat = {}

    def add(prefix: str, value) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                add(f"{prefix}.{k}" if prefix else str(k), v)
        elif isinstance(value, (int, float, str, bool)):
            flat[prefix] = value
        elif isinstance(value, (list, tuple)):
            flat[prefix] = ", ".join(map(str, value))
    add("", settings)
    return flat


def epoch_scalars(row: dict) -> dict:
    """The numbers of a metrics.csv row, without the epoch counter."""
    return {k: float(v) for k, v in row.items() if k != "epoch" and isinstance(v, (int, float))}


def final_scalars(results: dict) -> dict:
    """The numbers a run ends with: the best monitored value and the test metrics."""
    scalars = {}
    best = results.get("best") or {}
    monitor = results.get("monitor")
    if monitor and isinstance(best.get(monitor), (int, float)):
        scalars[f"best_{monitor}"] = float(best[monitor])
    for k, v in (results.get("test") or {}).items():
        if isinstance(v, (int, float)):
            scalars[f"test_{k}"] = float(v)
    return scalars

