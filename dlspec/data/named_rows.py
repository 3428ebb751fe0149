"""New rows for a finished run with named inputs: a csv of rows (the columns it trained on; targets may be
absent), the data block and the run's DataRecord in, a dict input name -> batch tensor out, as the
model was trained to read them.

Each input is read by what the record kept of it (data/named_pipeline.py wrote it): an image input's
paths relative to the csv's folder, converted to the recorded mode and passed through that input's
transform steps and recorded normalisation; a tokens input through the recorded vocabulary and length;
a vector input through the recorded column encoding and normalisation. Nothing is fitted again. This is
the reader predict uses for a csv with `inputs=` (runs/predict.py); every mistake names its file, line
and column.
"""
from __future__ import annotations

import os
from dataclasses import replace

from ..errors import DataError, Loc, did_you_mean
from ..runtime.inputs import MAX_PIXELS, InputError, open_image
from ..runtime.tables import TableEncoder
from .sources.tables import read_table
from .sources.text import encode, tokenize


def read_named_rows(cfg, record, path: str, loc: Loc = None) -> dict:
    """input name -> [rows, ...] tensor of the rows in csv `path`, read as run `record` was trained to."""
    import torch
    from .pipeline import inference_transform
    if not record.inputs:
        raise DataError(f"data {cfg.name}: the run records no named inputs to read rows for", loc)
    header, rows = read_table(path, (cfg.source_args or {}).get("encoding", "utf-8"), loc)
    for name, info in record.inputs.items():
        for column in info["columns"]:
            if column not in header:
                raise DataError(f"{path} has no column '{column}' (for input '{name}')." + did_you_mean(column, header)
                                + f" Columns: {', '.join(header)}", loc,
                                hint="give rows with the columns the run was trained on")
    several = len(record.inputs) > 1
    out = {}
    for name, info in record.inputs.items():
        at = [header.index(c) for c in info["columns"]]
        if info["kind"] == "tokens":
            out[name] = encode([tokenize(row[at[0]]) for _, row in rows], info["vocab"], info["max_len"])
            continue
        if info["kind"] == "vector":
            samples = _vector_rows(info, rows, at, header, path, loc)
        else:
            samples = _image_rows(info, rows, at[0], header, path, loc)
        steps = cfg.transform_for.get(name, ([], None))[0] if several else cfg.transform
        fn = inference_transform(replace(cfg, transform=steps), info.get("normalization"), samples[0])
        out[name] = torch.stack([fn(s) for s in samples])
    return out


def _vector_rows(info: dict, rows: list, at: list, header: list, path: str, loc: Loc) -> list:
    import torch
    encoder = TableEncoder(info["table"]["columns"])
    try:
        return [torch.tensor(encoder.encode([row[i] for i in at], lambda c, line=line: f"{path}, line {line}, "
                                            f"column '{c}'"), dtype=torch.float32) for line, row in rows]
    except InputError as exc:
        raise DataError(exc.message, loc, hint=exc.hint) from None


def _image_rows(info: dict, rows: list, i: int, header: list, path: str, loc: Loc) -> list:
    folder, images = os.path.dirname(os.path.abspath(path)), []
    for line, row in rows:
        file = os.path.join(folder, row[i].strip())
        where = f"{path}, line {line}, column '{header[i]}'"
        if not row[i].strip() or not os.path.exists(file):
            raise DataError(f"{where}: image file not found: {file}", loc,
                            hint="image paths are read relative to the csv file's folder")
        try:
            with open_image(file, MAX_PIXELS) as img:
                images.append(img.convert(info["mode"]))
        except InputError as exc:
            raise DataError(f"{where}: {exc.message}", loc, hint=exc.hint) from None
        except Exception as exc:  # Pillow raises many kinds for unreadable files
            raise DataError(f"{where}: {file} cannot be read as an image ({exc})", loc) from None
    return images
