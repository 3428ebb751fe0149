"""Time series: `timeseries(...)` (a CSV column) and `sine(...)` (a generated wave) cut into
windows of past values and the values that follow; splits are chronological.
"""
from __future__ import annotations

import math

from ...errors import DataError, Loc
from ...schema.args import Arg, non_negative, positive
from .base import ENCODING, SeriesInfo, SourceData, TensorData, column_index, read_lines, source, split_fields
from .base import number as finite_number


def windows(series: list, window: int, horizon: int, step: int, what: str, loc: Loc) -> SourceData:
    """Sliding windows: `window` past values -> the next `horizon` values, in time order."""
    import torch
    count = len(series) - window - horizon + 1
    if count <= 0:
        raise DataError(f"{what} has {len(series)} values, too few for window={window} and horizon={horizon} "
                        f"(needs at least {window + horizon})", loc)
    starts = range(0, count, step)
    values = torch.tensor(series, dtype=torch.float32)
    x = torch.stack([values[i:i + window] for i in starts]).unsqueeze(2)
    y = torch.stack([values[i + window:i + window + horizon] for i in starts])
    return SourceData(TensorData(x, y), task="regression", chronological=True, shared_scale=True,
                      series=SeriesInfo(list(series), window, horizon))


@source("timeseries", (Arg("path", "str"), Arg("column", "any", None), Arg("window", "int", 12, positive),
                       Arg("horizon", "int", 1, positive), Arg("step", "int", 1, positive), ENCODING),
        paths=("path",),
        input_kind="series", doc="A numeric column of a CSV file as a series: timeseries(\"series.csv\", column=\"Temp\", window=30, "
            "horizon=1, step=1). Windows of past values predict the next horizon values.")
def _timeseries(a: dict, loc: Loc) -> SourceData:
    lines = read_lines(a["path"], loc, a.get("encoding", "utf-8"))
    if len(lines) < 2:
        raise DataError(f"{a['path']} is empty; expected a header row and values", loc)
    header = [h.strip() for h in split_fields(lines[0][1], ",")]
    column = a["column"] if a["column"] is not None else len(header) - 1
    col = column_index(column, header, "the series", a["path"], loc)
    series = []
    for number, line in lines[1:]:
        fields = split_fields(line, ",")
        if col >= len(fields):
            raise DataError(f"{a['path']}, line {number}: {len(fields)} values, no column {col + 1} "
                            f"('{header[col]}')", loc)
        try:
            float(fields[col])
        except ValueError:
            if fields[col].strip():
                raise DataError(f"{a['path']}, line {number}: '{fields[col]}' in column '{header[col]}' is not a "
                                "number", loc) from None
        series.append(_finite(fields[col], a["path"], number, header[col], col, loc))
    return windows(series, a["window"], a["horizon"], a["step"], a["path"], loc)


def _finite(cell: str, path: str, line: int, name: str, col: int, loc: Loc) -> float:
    return finite_number(cell, path, line, f"'{name}' (column {col + 1})", loc)


@source("sine", (Arg("length", "int", 1000, positive), Arg("period", "float", 50.0, positive),
                 Arg("noise", "float", 0.05, non_negative), Arg("window", "int", 30, positive),
                 Arg("horizon", "int", 1, positive), Arg("step", "int", 1, positive), Arg("seed", "int", 0)),
        input_kind="series", doc="A synthetic noisy sine wave (no files): sine(length=1000, period=50, noise=0.05, window=30, horizon=1).")
def _sine(a: dict, loc: Loc) -> SourceData:
    import random
    rng = random.Random(a["seed"])
    series = [math.sin(2 * math.pi * t / a["period"]) + rng.gauss(0, a["noise"]) for t in range(a["length"])]
    return windows(series, a["window"], a["horizon"], a["step"], "sine", loc)
