"""New rows for a finished run with named columns: a csv of rows (the columns it trained on; targets may be
absent), the data block and the run's DataRecord in, a dict input name -> batch tensor out, as the model was
trained to read them; and `rows_encoding`, the plain-JSON description of that reading a run's meta carries.

There is ONE reader of such rows: runtime/preprocess.named_rows, which `dlspec predict` and an export's
predict.py run. This module describes each input for it from what the record kept (data/named_pipeline.py
wrote it): an image input's mode and deterministic transform steps, a tokens input's vocabulary and length,
a vector input's column encoding, each input's normalisation. Nothing is fitted again.
"""
from __future__ import annotations

from typing import Optional

from ..errors import DataError, DlspecError, Loc
from ..runtime.inputs import MAX_PIXELS, InputError

IMAGE_STEPS = ("resize", "center_crop", "grayscale")  # transform steps with one meaning for a single image


def rows_encoding(cfg, inputs: Optional[dict]) -> Optional[dict]:
    """input name -> how a csv row's columns become that input (runtime/preprocess.named_rows reads it), from
    a run's recorded `inputs` of a csv with inputs= or several targets (data/sources/named_table.py); None
    for other data (a dotted source records no columns to read)."""
    if not inputs or not all(isinstance(i, dict) and i.get("columns") for i in inputs.values()):
        return None
    several, args = len(inputs) > 1, cfg.source_args or {}
    out = {}
    for name, info in inputs.items():
        entry = {"kind": info["kind"], "columns": list(info["columns"]), "shape": info.get("shape"),
                 "normalize": info.get("normalization"), "encoding": args.get("encoding", "utf-8")}
        if info["kind"] == "image":
            steps = cfg.transform_for.get(name, ([], None))[0] if several else cfg.transform
            entry["image"] = {"mode": info["mode"], "steps": image_steps(steps),
                              "max_pixels": args.get("max_pixels", MAX_PIXELS)}
        elif info["kind"] == "tokens":
            from .sources.text import UNK, WORD
            vocab = list(info["vocab"])
            entry["text"] = {"vocab": vocab, "max_len": info["max_len"], "pattern": WORD.pattern, "lower": True,
                             "unk": vocab.index(UNK) if UNK in vocab else 1}
        else:
            entry["table"] = info["table"]
        out[name] = entry
    return out


def image_steps(transform: list) -> list:
    """[name, args] of an image's deterministic transform steps (normalize is the recorded statistics); a
    step with no single-image meaning is an error at its line."""
    steps = []
    for t, args, st in transform:
        if t.name == "normalize":
            continue  # its statistics are the recorded normalisation, measured or written
        if t.name not in IMAGE_STEPS:
            raise DlspecError(f"transform step {t.name} cannot be applied to single images for prediction", st.loc,
                              hint=f"predict and exports apply {', '.join(IMAGE_STEPS)} and normalize; "
                                   "put random steps in `augment`")
        steps.append([t.name, {k: list(v) if isinstance(v, tuple) else v for k, v in args.items()}])
    return steps


def read_named_rows(cfg, record, path: str, loc: Loc = None) -> dict:
    """input name -> [rows, ...] tensor of the rows in csv `path`, read as run `record` was trained to."""
    import torch
    from ..runtime.preprocess import named_rows
    encoding = rows_encoding(cfg, record.inputs)
    if not encoding:
        raise DataError(f"data {cfg.name}: the run records no named inputs to read rows for", loc)
    try:
        _, samples = named_rows(path, {"inputs_encoding": encoding, "inputs": list(encoding)})
    except InputError as exc:
        raise DataError(exc.message, loc, hint=exc.hint) from None
    if len(encoding) == 1:
        return {next(iter(encoding)): torch.stack(samples)}
    return {name: torch.stack([s[name] for s in samples]) for name in encoding}
