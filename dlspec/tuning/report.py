"""What a tune run shows and leaves behind: an Optuna study in; progress lines, the trials table,
DIR/trials.csv, DIR/best.dlspec, DIR/history.png and DIR/importance.png out.

`show(DIR)` reprints the table of a tune directory from its study.
"""
from __future__ import annotations

import csv
import io
import os
import shlex
import warnings
from typing import Callable, Optional

from ..errors import DlspecError, TrainError
from ..train.rundir import writing
from . import params as P
from . import storage as S
from .rewrite import rewrite_lets

FIXED_COLUMNS = ("trial", "state", "value", "epochs", "seconds")


def trial_rows(study, spaces: Optional[dict] = None) -> list:
    """One dict per trial of the study, in trial order: number, state, value, epochs, seconds, each
    parameter (as spec text when its space is known), run directory and error."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        row = {"trial": t.number, "state": t.state.name.lower(), "value": t.value,
               "epochs": t.user_attrs.get("epochs"),
               "seconds": round(t.duration.total_seconds(), 1) if t.duration is not None else None}
        for name, value in t.params.items():
            row[name] = P.to_text(spaces[name], value) if spaces and name in spaces else value
        row["run_dir"] = t.user_attrs.get("run_dir", "")
        row["error"] = t.user_attrs.get("error", "")
        rows.append(row)
    return rows


def _param_names(rows: list) -> list:
    names = []
    for row in rows:
        names.extend(k for k in row if k not in FIXED_COLUMNS + ("run_dir", "error") and k not in names)
    return names


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, str):
        try:
            return f"{float(value):.4g}" if "." in value or "e" in value else value
        except ValueError:
            return value
    return str(value)


def format_table(rows: list, monitor: str) -> str:
    """The trials as an aligned text table (failed trials show their error)."""
    if not rows:
        return "no trials yet"
    errors = ["error"] if any(row.get("error") for row in rows) else []
    header = ["trial", "state", monitor, "epochs", "seconds"] + _param_names(rows) + errors
    keys = list(FIXED_COLUMNS) + _param_names(rows) + errors
    lines = [[_cell(row.get(k)) for k in keys] for row in rows]
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]
    if errors:
        widths[-1] = len(header[-1])  # the error column is last and not padded
    out = ["  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip()]
    out += ["  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip() for line in lines]
    return "\n".join(out)


def write_csv(out: str, rows: list) -> str:
    """DIR/trials.csv: one row per trial, values in full precision."""
    keys = list(FIXED_COLUMNS) + _param_names(rows) + ["run_dir", "error"]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=keys, extrasaction="ignore")
    writer.writeheader()
    writer.writerows({k: ("" if v is None else v) for k, v in row.items()} for row in rows)
    return _write(os.path.join(out, "trials.csv"), buffer.getvalue())


def _write(path: str, text: str) -> str:
    """Write a file whole (a temporary file, then a rename: processes sharing DIR never see half a file)."""
    tmp = f"{path}.{os.getpid()}.tmp"
    with writing(path):
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        os.replace(tmp, path)
    return path


class Progress:
    """Optuna's per-trial callback: `trial k/N (#NNNN): outcome | best #M value (params)`."""

    def __init__(self, log: Callable[[str], None], total: Optional[int], monitor: str, names: list):
        self.log, self.total, self.monitor, self.names = log, total, monitor, names
        self.done = 0

    def __call__(self, study, trial) -> None:
        self.done += 1
        epochs = trial.user_attrs.get("epochs", 0)
        params = ", ".join(f"{n}={_cell(trial.params[n])}" for n in self.names if n in trial.params)
        state = trial.state.name.lower()
        if state == "complete":
            outcome = f"{self.monitor} {trial.value:.4g} after {epochs} epoch(s)"
        elif state == "pruned":
            outcome = f"pruned after {epochs} epoch(s)"
        else:
            outcome = f"failed: {trial.user_attrs.get('error', 'no error recorded')}"
        seconds = f" in {trial.duration.total_seconds():.1f} s" if trial.duration is not None else ""
        line = f"trial {self.done}/{self.total or '?'} (#{trial.number:04d}): {outcome}{seconds}  [{params}]"
        best = _best(study)
        if best is not None:
            best_params = ", ".join(f"{n}={_cell(v)}" for n, v in best.params.items())
            line += f" | best #{best.number:04d}: {best.value:.4g} [{best_params}]"
        self.log(line)


def _best(study):
    try:
        return study.best_trial
    except ValueError:  # no trial has finished yet
        return None


def _refit_line(spec_path: str, values: dict, best_spec: str) -> str:
    """The command that refits the best trial from anywhere: the original spec with --set (best.dlspec
    holds the same values, but its relative paths would resolve against the tune folder)."""
    sets = " ".join("--set " + shlex.quote(f"{n}={v}") for n, v in values.items())
    return (f"refit it: dlspec fit {shlex.quote(spec_path)} {sets}\n"
            f"{best_spec}: the spec with these values (copy it beside {os.path.basename(spec_path)} if that uses "
            "relative paths)")


def finish(study, setup, log: Callable[[str], None]):
    """Table, trials.csv, best.dlspec and plots; the TuneResult (an error when no trial finished)."""
    from .study import TuneResult
    rows = trial_rows(study, setup.spaces)
    log(format_table(rows, setup.monitor))
    write_csv(setup.out, rows)
    best = _best(study)
    if best is None:
        errors = [r["error"] for r in rows if r["error"]]
        raise TrainError(f"no trial of study '{study.study_name}' has finished ({len(rows)} in all)"
                         + (f"; the last error: {errors[-1]}" if errors else ""),
                         hint=f"each trial's log is DIR/trials/NNNN/fit.log; the table is {setup.out}/trials.csv")
    values = {n: P.to_text(setup.spaces[n], best.params[n]) for n in setup.spaces if n in best.params}
    path = _write(os.path.join(setup.out, "best.dlspec"), rewrite_lets(setup.spec.text, setup.spaces, values))
    _plots(study, setup.out, log)
    log(f"best: trial #{best.number:04d}, {setup.monitor} {best.value:.6g} with "
        + ", ".join(f"{n} = {v}" for n, v in values.items())
        + f"\nrun directory {best.user_attrs.get('run_dir')}\n" + _refit_line(setup.spec.filename, values, path))
    return TuneResult(dict(best.params), best.value, best.user_attrs.get("run_dir"), best.number, setup.monitor,
                      setup.direction, setup.out, rows, study)


def _plots(study, out: str, log) -> None:
    """history.png and importance.png, Optuna's own matplotlib plots; a plot that cannot be drawn
    (importance needs two finished trials that differ) is skipped with a note."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as plots
    for name, draw in (("history.png", plots.plot_optimization_history), ("importance.png",
                                                                          plots.plot_param_importances)):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # Optuna marks its matplotlib plots experimental
                axes = draw(study)
                figure = axes.figure if hasattr(axes, "figure") else axes.flat[0].figure
                figure.tight_layout()
                path = os.path.join(out, name)
                tmp = f"{path}.{os.getpid()}.tmp.png"
                figure.savefig(tmp, dpi=100)
                os.replace(tmp, path)
                plt.close(figure)
        except Exception as exc:  # too few trials, or a plot Optuna cannot draw for this study
            plt.close("all")
            log(f"note: {name} not drawn ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})")


def show(out: str) -> str:
    """The trials table of a tune directory, read from its study (other processes' trials included)."""
    from .study import optuna_module
    info = S.read_info(out)
    optuna = optuna_module()
    storage = S.open_storage(optuna, info["storage"])
    try:
        study = optuna.load_study(study_name=info["study"], storage=storage)
    except KeyError:
        raise DlspecError(f"the storage {S.shown_url(info['storage'])} has no study '{info['study']}'") from None
    rows = trial_rows(study)
    text = format_table(rows, info.get("monitor", "value"))
    best = _best(study)
    if best is not None:
        text += f"\nbest: trial #{best.number:04d}, {info.get('monitor', 'value')} {best.value:.6g}"
    return text

