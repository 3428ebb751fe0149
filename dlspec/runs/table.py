"""`dlspec runs [DIR]`: a folder of run directories in, one row per run out (and a text table).

A run directory is a folder holding run.yaml (written when a fit starts); its
results.json (written when it ends) gives the best monitored value, the test
metrics and the duration, and metrics.csv the epochs done so far, so runs that
are still going or were interrupted are listed too. Nothing is unpickled:
only the YAML, JSON and CSV files a person can read are opened, and only when
they are regular files: a run holding a pipe or a device link there is skipped
with a warning.
"""
from __future__ import annotations

import csv
import json
import math
import os
from typing import Optional

import yaml

from ..errors import DlspecError, warn
from ..language.files import open_regular

SKIP = {"export", "tensorboard", "mlruns", "__pycache__"}  # folders inside a run that hold no runs
SCALED = "_scaled"  # suffix of a loss column in the scaled units of `scale standard|minmax`
FIXED = ("run", "model", "data", "epochs", "monitor", "best", "duration_s", "status")


def find_runs(root: str) -> list:
    """Every run directory under `root` (root itself included), in path order."""
    if not os.path.isdir(root):
        raise DlspecError(f"{root} is not a folder", hint="pass the folder that holds your run directories "
                                                         "(dlspec fit writes them under runs/ by default)")
    found = []
    for folder, subfolders, files in os.walk(root):
        if "run.yaml" in files:
            found.append(folder)
            subfolders[:] = []  # a run holds no runs
        else:
            subfolders[:] = sorted(d for d in subfolders if d not in SKIP and not d.startswith("."))
    return sorted(found)


def run_row(path: str, root: str) -> dict:
    """One run's row: run, model, data, epochs, monitor, best, test_* metrics, duration_s, status."""
    settings = _read(os.path.join(path, "run.yaml"), yaml.safe_load) or {}
    results = _read(os.path.join(path, "results.json"), json.load)
    history = _read(os.path.join(path, "metrics.csv"), lambda f: list(csv.DictReader(f))) or []
    done = len(history)
    row = {"run": os.path.relpath(path, root) if os.path.relpath(path, root) != "." else os.path.basename(path),
           "model": settings.get("model"), "data": settings.get("data"),
           "epochs": f"{done}/{settings.get('epochs', '?')}"}
    if results:
        row["monitor"] = results.get("monitor")
        row["best"] = (results.get("best") or {}).get(row["monitor"])
        row.update({f"test_{k}": v for k, v in (results.get("test") or {}).items()})
        row["duration_s"] = results.get("duration_seconds")
        row["status"] = "done"
    else:
        row["monitor"] = _monitor(settings, history)
        row["best"] = _best(history, row["monitor"])
        row["status"] = "unfinished" if done else "no epoch"
    if settings.get("scale") not in (None, "none"):
        _label_scaled_loss(row)
    return row


def _label_scaled_loss(row: dict) -> None:
    """With `scale`, metrics are in original units but the loss is in the scaled units the model trained
    in: its columns say so (test_loss_scaled; a loss monitor as val_loss_scaled)."""
    if "test_loss" in row:
        row["test_loss_scaled"] = row.pop("test_loss")
    if row.get("monitor") in ("loss", "val_loss"):
        row["monitor"] += SCALED


def list_runs(root: str = "runs", sort: Optional[str] = None, reverse: bool = False) -> list:
    """Rows for every run under `root`, sorted by a column (`test_accuracy`, `best`, `duration_s`, ...):
    best first by the metric's direction (losses and errors ascending); runs without it last."""
    rows = []
    for path in find_runs(root):
        try:
            rows.append(run_row(path, root))
        except NotRegular as exc:  # a pipe would hang the listing, a device never end it
            warn(f"skipping run {path}: {exc.message}")
    if sort is None:
        return rows
    columns = sorted({k for r in rows for k in r})
    if sort not in columns and f"test_{sort}" in columns:
        sort = f"test_{sort}"  # --sort accuracy means the test accuracy
    if rows and sort not in columns:
        from ..errors import did_you_mean
        raise DlspecError(f"--sort {sort}: no run has that column." + did_you_mean(sort, columns),
                          hint=f"columns: {', '.join(columns)}")
    have = [r for r in rows if _number(r.get(sort)) is not None]
    missing = [r for r in rows if _number(r.get(sort)) is None]
    descending = _higher_is_better(sort, rows) != reverse
    have.sort(key=lambda r: _number(r[sort]), reverse=descending)
    return have + missing


def format_runs(rows: list) -> str:
    """An aligned text table; numbers rounded for reading, missing values as '-'."""
    if not rows:
        return "no runs found"
    extra = sorted({k for r in rows for k in r if k not in FIXED})
    columns = [c for c in FIXED if c != "status"] + extra + ["status"]
    cells = [[_cell(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)) for row in cells]
    return "\n".join(line.rstrip() for line in lines)


class NotRegular(DlspecError):
    """A run file that is no regular file (a pipe, a link to a device): its run is skipped, never read."""


def _read(path: str, parse):
    try:
        with open_regular(path, NotRegular, "file", encoding="utf-8") as f:
            return parse(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, yaml.YAMLError):
        return None  # half-written (a fit writing it now) or not ours: the row shows '-'


def _monitor(settings: dict, history: list) -> Optional[str]:
    early = settings.get("early_stop") or {}
    if early.get("monitor"):
        return early["monitor"]
    return "val_loss" if history and history[0].get("val_loss") not in (None, "") else "loss"


def _best(history: list, monitor: Optional[str]):
    values = [v for v in (_number(r.get(monitor)) for r in history) if v is not None]
    if not values:
        return None
    return max(values) if _higher_is_better(monitor, []) else min(values)


def _higher_is_better(column: str, rows: list) -> bool:
    if column == "best":  # each run's own monitor; the first run's decides the direction
        column = next((r["monitor"] for r in rows if r.get("monitor")), "loss")
    if column == "duration_s":
        return False
    name = column[5:] if column.startswith("test_") else column
    name = name[:-len(SCALED)] if name.endswith(SCALED) else name
    from ..train.metrics import higher_is_better
    return higher_is_better(name)


def _number(value) -> Optional[float]:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _cell(value) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e5 else f"{value:,.0f}"
    return str(value)
