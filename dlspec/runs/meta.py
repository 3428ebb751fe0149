"""What predicting needs besides the weights: a loaded run in, its `meta` (plain JSON data) out.

The meta is what runtime/preprocess.py reads (kind of input, classes, task,
vocabulary and tokenizer rule, table encoding, image mode/transform/normalisation/pixel cap,
series window and tail); exports write it as metadata.json, so a model that
runs without dlspec reads its inputs the way `dlspec predict` does.
"""
from __future__ import annotations

from typing import Optional

from ..data.named_rows import image_steps, rows_encoding
from ..runtime.inputs import MAX_PIXELS
from .loaded import LoadedRun


def run_meta(run: LoadedRun) -> dict:
    """The meta of a loaded run (see the module docstring)."""
    data, cfg = run.record.data, run.cfg.data
    plan = run.spec.plan(run.cfg.model, run.facts)
    meta = {"kind": input_kind(run), "task": data.task, "classes": data.classes,
            "input_shape": list(plan.in_shape.dims), "target_scale": data.target_scale,
            "normalize": data.normalization}
    if meta["kind"] == "text":
        from ..data.sources.text import WORD, UNK
        vocab = list(data.vocab)
        meta["text"] = {"vocab": vocab, "max_len": plan.in_shape.dims[0], "pattern": WORD.pattern, "lower": True,
                        "unk": vocab.index(UNK) if UNK in vocab else 1}
    elif meta["kind"] == "series":
        args = cfg.source_args or {}
        meta["series"] = {**data.series, "column": args.get("column"), "encoding": args.get("encoding", "utf-8")}
    if meta["kind"] in ("table", "any"):
        table = _table(run)
        if table:
            meta["table"] = table
    if meta["kind"] in ("image", "any") and len(plan.in_shape.dims) == 3:
        meta["image"] = _image(run)
    if run.record.spec.outputs:  # several outputs: each one's task, classes and target scale
        meta["outputs"] = {k: {"task": v.get("task"), "classes": v.get("classes"), "scale": v.get("scale")}
                           for k, v in run.record.spec.outputs.items()}
    if len(plan.inputs) > 1:
        meta["inputs"] = list(plan.inputs)
    encoding = inputs_encoding(run)
    if encoding:
        meta["inputs_encoding"] = encoding
    return meta


def inputs_encoding(run: LoadedRun) -> Optional[dict]:
    """How a csv row's columns become each input (data/named_rows.rows_encoding), or None."""
    return rows_encoding(run.cfg.data, run.record.data.inputs)


def input_kind(run: LoadedRun) -> str:
    """image, table, text, series or any: how predict reads inputs for this run."""
    if run.record.data.series:
        return "series"
    if run.record.data.vocab:
        return "text"
    from ..data.sources.base import SOURCES
    declared = SOURCES.get(run.cfg.data.source.name)
    kind = declared.input_kind if declared is not None else "any"
    return "image" if kind == "grayscale image" else kind


def _image(run: LoadedRun) -> dict:
    from ..data.sources.base import SOURCES
    declared = SOURCES.get(run.cfg.data.source.name)
    grey = declared is not None and declared.input_kind == "grayscale image"
    mode = "L" if grey else (run.cfg.data.source_args or {}).get("mode", "RGB")
    steps = image_steps(run.cfg.data.transform)
    # the pixel cap the training scan applied (image_folder's max_pixels=), so predict refuses the same
    return {"mode": mode, "steps": steps, "max_pixels": (run.cfg.data.source_args or {}).get("max_pixels", MAX_PIXELS)}


def _table(run: LoadedRun) -> dict:
    """The recorded encoding; for runs made before tables were encoded, the numeric feature columns."""
    table = run.record.data.table
    if table:
        return table
    features = run.record.data.features
    if not features:
        return {}
    encoding = (run.cfg.data.source_args or {}).get("encoding", "utf-8")
    return {"columns": [{"name": str(f), "kind": "number", "fill": None} for f in features], "encoding": encoding}
