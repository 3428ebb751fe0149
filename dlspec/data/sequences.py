"""Sequence sources: labelled sentences and time series in, token ids or sliding windows out.

`text(...)` reads TSV/CSV sentences robustly (unpaired quotes, odd Unicode
line separators; bytes that are not the declared encoding are an error naming
the line, never silently replaced), lower-cases words and builds the vocabulary on
the training split only (id 0 pads, id 1 is unknown). `timeseries(...)` and
`sine(...)` cut a series into windows of past values and the values that
follow; their splits are chronological.
"""
from __future__ import annotations

import csv
import math
import re
from collections import Counter

from ..errors import DataError, Loc
from ..schema.args import Arg, non_negative, positive
from .sources import SourceData, TensorData, source
from .tables import ENCODING, natural, read_text
from .tables import number as finite_number

PAD, UNK = "<pad>", "<unk>"
_WORD = re.compile(r"[\w']+")


def tokenize(sentence: str) -> list:
    """Lower-cased words; punctuation dropped."""
    return _WORD.findall(sentence.lower())


def _read_lines(path: str, loc: Loc, encoding: str = "utf-8") -> list:
    text = read_text(path, encoding, loc)
    # split on \n only: \u2028, \x85 and friends inside a sentence are not line ends
    return [(i + 1, line.rstrip("\r")) for i, line in enumerate(text.split("\n")) if line.strip()]


def _fields(line: str, sep: str) -> list:
    if sep == ",":
        return next(csv.reader([line], skipinitialspace=True), [])  # one line at a time: a stray quote stays local
    return line.split(sep)


def _column(spec, header: list, what: str, path: str, loc: Loc) -> int:
    if isinstance(spec, int) and not isinstance(spec, bool):
        if spec < 0 or (header and spec >= len(header)):
            raise DataError(f"{path}: no column {spec} for {what}; the header has {len(header or [])} columns "
                            f"({', '.join(header or [])})", loc, hint="column indexes are 0-based")
        return spec
    if header and spec in header:
        return header.index(spec)
    from ..errors import did_you_mean
    raise DataError(f"{path}: no column '{spec}' for {what}." + did_you_mean(str(spec), header or []), loc,
                    hint="with header=false, give a 0-based column index")


class TextData:
    """Sentences with labels; encoded to padded token ids once the vocabulary is built."""

    def __init__(self, tokens: list, labels, max_len: int, max_vocab: int, min_freq: int):
        self.tokens, self.labels = tokens, labels
        self.max_len, self.max_vocab, self.min_freq = max_len, max_vocab, min_freq
        self.itos = None
        self.data = None

    def fit(self, train_indices: list) -> None:
        counts = Counter(t for i in train_indices for t in self.tokens[i])
        words = sorted((w for w, c in counts.items() if c >= self.min_freq), key=lambda w: (-counts[w], w))
        self.itos = [PAD, UNK] + words[: self.max_vocab]
        self.data = TensorData(encode(self.tokens, self.itos, self.max_len), self.labels)

    def __len__(self):
        return len(self.tokens)

    def __getitem__(self, i):
        return self.data[i]


def encode(token_lists: list, itos: list, max_len: int):
    import torch
    stoi = {w: i for i, w in enumerate(itos)}
    ids = torch.zeros(len(token_lists), max_len, dtype=torch.long)
    for row, tokens in enumerate(token_lists):
        seq = [stoi.get(t, 1) for t in tokens[:max_len]]
        if seq:
            ids[row, : len(seq)] = torch.tensor(seq)
    return ids


@source("text", (Arg("path", "any"), Arg("sep", "str", "\t"), Arg("header", "bool", False), Arg("text", "any", 0),
                 Arg("label", "any", 1), Arg("max_len", "int", 40, positive), Arg("max_vocab", "int", 20000, positive),
                 Arg("min_freq", "int", 1, positive), ENCODING), paths=("path",),
        doc="Labelled sentences (TSV or CSV; path may be a list of files): text(\"reviews.tsv\", sep=\"\\t\", "
            "header=false, text=0, label=1, max_len=40, max_vocab=20000, min_freq=1, encoding=\"utf-8\").")
def _text(a: dict, loc: Loc) -> SourceData:
    import torch
    paths = a["path"] if isinstance(a["path"], (list, tuple)) else [a["path"]]
    sentences, raw_labels = [], []
    for path in paths:
        lines = _read_lines(str(path), loc, a["encoding"])
        header = _fields(lines.pop(0)[1], a["sep"]) if a["header"] and lines else None
        if not lines:
            raise DataError(f"{path} holds no sentences", loc)
        t_col = _column(a["text"], header, "text", path, loc)
        l_col = _column(a["label"], header, "label", path, loc)
        for number, line in lines:
            fields = _fields(line, a["sep"])
            if len(fields) <= max(t_col, l_col):
                raise DataError(f"{path}, line {number}: expected at least {max(t_col, l_col) + 1} fields "
                                f"separated by {a['sep']!r}, found {len(fields)}", loc)
            label = fields[l_col].strip()
            if not label:
                raise DataError(f"{path}, line {number}: the label (column {l_col + 1}) is empty", loc)
            sentences.append(tokenize(fields[t_col]))
            raw_labels.append(label)
    classes = sorted(set(raw_labels), key=natural)
    index = {c: i for i, c in enumerate(classes)}
    labels = torch.tensor([index[c] for c in raw_labels], dtype=torch.long)
    data = TextData(sentences, labels, a["max_len"], a["max_vocab"], a["min_freq"])
    return SourceData(data, targets=labels.tolist(), classes=classes, fit_on_train=data.fit,
                      extra={"text": True, "max_len": a["max_len"]})


# ---- time series ----------------------------------------------------------


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
                      extra={"series": list(series), "window": window, "horizon": horizon})


@source("timeseries", (Arg("path", "str"), Arg("column", "any", None), Arg("window", "int", 12, positive),
                       Arg("horizon", "int", 1, positive), Arg("step", "int", 1, positive), ENCODING),
        paths=("path",),
        doc="A numeric column of a CSV file as a series: timeseries(\"series.csv\", column=\"Temp\", window=30, "
            "horizon=1, step=1). Windows of past values predict the next horizon values.")
def _timeseries(a: dict, loc: Loc) -> SourceData:
    lines = _read_lines(a["path"], loc, a.get("encoding", "utf-8"))
    if len(lines) < 2:
        raise DataError(f"{a['path']} is empty; expected a header row and values", loc)
    header = [h.strip() for h in _fields(lines[0][1], ",")]
    column = a["column"] if a["column"] is not None else len(header) - 1
    col = _column(column, header, "the series", a["path"], loc)
    series = []
    for number, line in lines[1:]:
        fields = _fields(line, ",")
        if col >= len(fields):
            raise DataError(f"{a['path']}, line {number}: {len(fields)} values, no column {col + 1} "
                            f"('{header[col]}')", loc)
        try:
            value = float(fields[col])
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
        doc="A synthetic noisy sine wave (no files): sine(length=1000, period=50, noise=0.05, window=30, horizon=1).")
def _sine(a: dict, loc: Loc) -> SourceData:
    import random
    rng = random.Random(a["seed"])
    series = [math.sin(2 * math.pi * t / a["period"]) + rng.gauss(0, a["noise"]) for t in range(a["length"])]
    return windows(series, a["window"], a["horizon"], a["step"], "sine", loc)
