"""Prediction answers in, files and readable lines out: `--out preds.csv|preds.jsonl` and the printed lines.

A CSV has one row per input: input, label, probability and top-k columns for
classes; prediction (or prediction_1, ... for several values) for
regression and forecasts (one row per step); for segmentation, the share of the
pixels each class covers (pixels). Outputs that are arrays (a feature vector, a
map, a segmentation's class map of pixel class indices) go into one .npy file beside the CSV or JSONL, whose
rows then name their index in it (`output_index`). Numbers in files are
full precision; printed numbers are rounded for reading. The folder is checked
writable before any prediction is made, and the files are serialised in
memory and written together (train/safe_write.py): a full disk is a one-line
error naming the path, with no partial file left.
"""
from __future__ import annotations

import csv
import io
import json
import os

from ..errors import DlspecError
from ..train.safe_write import make_folder, write_files, writing

FORMATS = (".csv", ".jsonl")


def check_out(path: str) -> str:
    """The file's format (.csv or .jsonl), checked before any prediction is made."""
    ext = os.path.splitext(path)[1].lower()
    if ext not in FORMATS:
        raise DlspecError(f"cannot write predictions to {path}: give a file ending in .csv or .jsonl")
    if os.path.isdir(path):
        raise DlspecError(f"cannot write predictions to {path}: it is a folder", hint="give a file name")
    return ext


def check_writable(path: str) -> bool:
    """The folder of `path` exists (it is made) and takes a file: checked before predicting. True when
    the folder was made here."""
    folder = os.path.dirname(path) or os.curdir
    return make_folder(folder, folder)


def write_predictions(answers: list, path: str) -> list:
    """Write `answers` (dicts from predict) to a .csv or .jsonl file; returns the paths written."""
    ext = check_out(path)
    rows, files = answers, {}
    if any("output" in a for a in answers):
        rows, npy, array = _arrays_apart(answers, path)
        files[npy] = array
    text = io.StringIO(newline="")
    if ext == ".jsonl":
        text.writelines(json.dumps(r) + "\n" for r in rows)
    else:
        flat = [_flat(r) for r in rows]
        writer = csv.DictWriter(text, list(dict.fromkeys(k for r in flat for k in r)))
        writer.writeheader()
        writer.writerows(flat)
    files = {path: text.getvalue(), **files}
    folder = os.path.dirname(path) or os.curdir
    with writing(folder):
        os.makedirs(folder, exist_ok=True)
    return write_files(folder, files, refuse_links=False)


def _arrays_apart(answers: list, path: str):
    """(rows naming their index in the .npy, its path, its bytes)."""
    import numpy as np
    npy = os.path.splitext(path)[0] + ".npy"
    arrays = [a["output"] for a in answers if "output" in a]
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(arrays, dtype=np.float32))
    rows, index = [], 0
    for a in answers:
        if "output" in a:
            a = {**{k: v for k, v in a.items() if k != "output"}, "output_file": os.path.basename(npy),
                 "output_index": index}
            index += 1
        rows.append(a)
    return rows, npy, buffer.getvalue()


def _flat(answer: dict) -> dict:
    """One CSV row: top-k as label_N/probability_N columns, a list of values as prediction_N; with several
    outputs, each output's columns prefixed by its name (kind_label, kind_probability, price_prediction)."""
    row = {}
    for key, value in answer.items():
        if isinstance(value, dict):  # one output of several
            row.update({f"{key}_{k}": v for k, v in _flat(value).items()})
        elif key == "top":
            for i, t in enumerate(value, 1):
                row[f"label_{i}"], row[f"probability_{i}"] = t["label"], t["probability"]
        elif isinstance(value, list):
            row.update({f"{key}_{i}": v for i, v in enumerate(value, 1)})
        else:
            row[key] = value
    return row


def readable(answer: dict, top: int = 1) -> str:
    """One printed line: `input: label (0.973)  (top classes)`, or `input: value(s)` rounded; with several
    outputs, `input: price 12.5; kind house (0.973)`."""
    several = {k: v for k, v in answer.items() if isinstance(v, dict)}
    if several:
        return f"{answer['input']}: " + "; ".join(f"{k} {readable({**v, 'input': ''}, top)[2:]}"
                                                   for k, v in several.items())
    if "label" in answer:
        extra = "" if top <= 1 or "top" not in answer else "  (" + ", ".join(
            f"{t['label']} {t['probability']:.3f}" for t in answer["top"]) + ")"
        return f"{answer['input']}: {answer['label']} ({answer['probability']:.3f}){extra}"
    if "prediction" in answer:
        return f"{answer['input']}: {_round(answer['prediction'])}"
    if "pixels" in answer:  # a class map (segmentation)
        rows = answer["output"]
        return f"{answer['input']}: class map {len(rows)}x{len(rows[0]) if rows else 0} ({answer['pixels']})"
    return f"{answer['input']}: array of {_size(answer['output'])} values"


def _round(value) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_round(v) for v in value) + "]"
    return f"{value:.4g}" if abs(value) < 1e6 else f"{value:.6g}"


def _size(value) -> int:
    return sum(_size(v) for v in value) if isinstance(value, list) else 1
