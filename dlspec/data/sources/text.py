"""Labelled sentences: `text(...)` in, token ids and a vocabulary out.

Reads TSV/CSV sentences robustly (unpaired quotes, odd Unicode line
separators; bytes that are not the declared encoding are an error naming the
line, never silently replaced), lower-cases words and builds the vocabulary on
the training split only (id 0 pads, id 1 is unknown).
"""
from __future__ import annotations

import re
from collections import Counter

from ...errors import DataError, Loc
from ...schema.args import Arg, positive
from .base import ENCODING, SourceData, TensorData, column_index, natural, read_lines, source, split_fields

PAD, UNK = "<pad>", "<unk>"

WORD = re.compile(r"[\w']+")


def tokenize(sentence: str) -> list:
    """Lower-cased words; punctuation dropped."""
    return WORD.findall(sentence.lower())


class TextData:
    """Sentences with labels; encoded to padded token ids once the vocabulary is built."""

    def __init__(self, tokens: list, labels, max_len: int, max_vocab: int, min_freq: int):
        self.tokens, self.labels = tokens, labels
        self.max_len, self.max_vocab, self.min_freq = max_len, max_vocab, min_freq
        self.itos = None
        self.data = None

    def fit(self, train_indices: list, saved=None) -> None:
        """Build the vocabulary on `train_indices`, or take the one a run saved (`saved`: its DataRecord,
        data/record.py)."""
        if saved is not None and saved.vocab:
            self.itos = list(saved.vocab)
        else:
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
        input_kind="text", doc="Labelled sentences (TSV or CSV; path may be a list of files): text(\"reviews.tsv\", sep=\"\\t\", "
            "header=false, text=0, label=1, max_len=40, max_vocab=20000, min_freq=1, encoding=\"utf-8\").")
def _text(a: dict, loc: Loc) -> SourceData:
    import torch
    paths = a["path"] if isinstance(a["path"], (list, tuple)) else [a["path"]]
    sentences, raw_labels = [], []
    for path in paths:
        lines = read_lines(str(path), loc, a["encoding"])
        header = split_fields(lines.pop(0)[1], a["sep"]) if a["header"] and lines else None
        if not lines:
            raise DataError(f"{path} holds no sentences", loc)
        t_col = column_index(a["text"], header, "text", path, loc)
        l_col = column_index(a["label"], header, "label", path, loc)
        for number, line in lines:
            fields = split_fields(line, a["sep"])
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
                      max_len=a["max_len"])
