"""What /metadata tells a client and the page: a ServedRun in, plain JSON data out.

The run's kind of input, task, inputs and outputs, classes, a table's columns (categories with their
levels, so the page offers them as choices), a series' window and last values, the test metrics of
results.json, the spec text the run was trained from and its model table (views/summary.py).
"""
from __future__ import annotations

import json
import os

from .served import ServedRun


def run_metadata(served: ServedRun) -> dict:
    run, meta = served.run, served.meta
    plan = run.spec.plan(run.cfg.model, run.facts)
    found = {
        "run": os.path.basename(os.path.abspath(served.run_dir)),
        "kind": served.kind, "task": meta.get("task"), "model": run.cfg.model, "data": run.cfg.data.name,
        "checkpoint": run.checkpoint, "epoch": run.epoch,
        "inputs": list(plan.inputs) if len(plan.inputs) > 1 else [run.cfg.model + ".input"],
        "input_shape": meta.get("input_shape"), "classes": meta.get("classes"),
        "outputs": meta.get("outputs"), "usage": served.usage(),
        "spec": run.record.spec.spec_text,
        "results": _results(served.run_dir), "summary": _summary(served),
        "curves": _has(served.run_dir, "curves.png"),
    }
    if meta.get("inputs_encoding"):  # rows read by named columns (predict reads them so, before any table)
        found["columns"] = _encoded_columns(meta["inputs_encoding"])
    elif "table" in meta:
        found["columns"] = _table_columns(meta["table"])
    if "series" in meta:
        found["series"] = {"window": meta["series"]["window"], "tail": list(meta["series"]["tail"])}
    if "image" in meta:
        found["image"] = {"mode": meta["image"]["mode"], "max_pixels": meta["image"]["max_pixels"]}
    return found


def _table_columns(table: dict) -> list:
    return [{"name": c["name"], "kind": c["kind"], "levels": c.get("levels"), "fill": c.get("fill")}
            for c in table["columns"]]


def _encoded_columns(encoding: dict) -> list:
    """The columns rows name, input by input: an image file's column (kind image), a text's (kind text), and a
    vector's numbers and categories."""
    columns = []
    for info in encoding.values():
        if info["kind"] in ("image", "tokens"):
            columns.append({"name": info["columns"][0], "kind": "image" if info["kind"] == "image" else "text",
                            "levels": None, "fill": None})
        else:
            columns.extend(_table_columns(info["table"]))
    return columns


def metadata_file(run_dir: str, name: str):
    """A run file's bytes when it is a regular file (never through a pipe or device planted there), else None."""
    from ..errors import DlspecError
    from ..language.files import open_regular
    try:
        with open_regular(os.path.join(run_dir, name)) as f:
            return f.read()
    except (OSError, DlspecError):
        return None


def _results(run_dir: str):
    data = metadata_file(run_dir, "results.json")
    try:
        return json.loads(data) if data else None
    except ValueError:
        return None


def _has(run_dir: str, name: str) -> bool:
    import stat
    try:
        return stat.S_ISREG(os.stat(os.path.join(run_dir, name)).st_mode)
    except OSError:
        return False


def _summary(served: ServedRun) -> str:
    """The model table `dlspec compile --show` prints."""
    from ..views.summary import format_table, model_summary
    run = served.run
    return format_table(model_summary(run.spec, run.cfg.model, (), None, run.facts))
