"""Word vectors into embeddings: a built model, its plan and the data's vocabulary in, log lines out.

An embedding written `init=vectors("glove.txt")` takes, row by row, the vector of its vocabulary
word from a GloVe-format text file (a word, then its numbers, per line; a word2vec header line
"COUNT WIDTH" is skipped). A word the file lacks starts from normal(0, 0.1) (layers/init.py's
MISSING_WORD), the padding row from 0; the log says how many were found. Run when a new run starts
training, never at predict or export: the trained weights in a checkpoint already hold the vectors.
The file is streamed, and only the vocabulary's words are kept.
"""
from __future__ import annotations

import os
from typing import Optional

import torch

from ..data.encoding import is_number
from ..errors import Loc, TrainError
from ..language.files import open_regular
from ..layers.init import MISSING_WORD, MISSING_WORD_TEXT, VECTORS_ENCODING, is_count_header, vector_fields
from ..planning.nodes import LayerNode, iter_nodes

SPECIAL = ("<pad>", "<unk>")  # data/sources/text.py's PAD and UNK: not words a vectors file has


def load_vectors(model: torch.nn.Module, plan, vocab: Optional[list]) -> list:
    """Fill every vectors() embedding of `model` (planned as `plan`) in place; one log line each."""
    lines = []
    for path, node, _ in iter_nodes(plan):
        call = node.args.get("init") if isinstance(node, LayerNode) else None
        if call is None or getattr(call, "callee", None) != "vectors":
            continue
        if not vocab:
            raise TrainError("vectors() aligns rows to the words of a text data source, and the data of this run "
                             "has no vocabulary", call.loc,
                             hint="link a text data block in the train block, or start the embedding another way")
        lines.append(_fill(model.get_submodule(path), call.kwargs["path"], vocab, call.loc))
    return lines


def _fill(embedding, path: str, vocab: list, loc: Loc) -> str:
    width = embedding.weight.shape[1]
    wanted = {word: i for i, word in enumerate(vocab) if word not in SPECIAL}
    found = read_vectors(path, wanted, width, loc)
    weight = embedding.weight
    with torch.no_grad():
        missing = [i for i in range(weight.shape[0]) if i not in found]
        if missing:
            rows = torch.empty(len(missing), width)
            torch.nn.init.normal_(rows, **MISSING_WORD[1])
            weight[missing] = rows.to(weight.dtype)
        for i, values in found.items():
            weight[i] = torch.tensor(values, dtype=weight.dtype)
        if embedding.padding_idx is not None:
            weight[embedding.padding_idx].zero_()
    words = len(wanted)
    return (f"{os.path.basename(path)}: {len(found):,} of {words:,} words found; "
            f"{words - len(found):,} start from {MISSING_WORD_TEXT}")


def read_vectors(path: str, wanted: dict, width: int, loc: Loc) -> dict:
    """{row: numbers} for the `wanted` words (word -> row) that the file at `path` holds."""
    try:
        handle = open_regular(path, TrainError, "word vectors file", loc, encoding=VECTORS_ENCODING)
    except FileNotFoundError:
        raise TrainError(f"word vectors file {path} not found", loc,
                         hint="the path is resolved against the spec's folder") from None
    except OSError as exc:
        raise TrainError(f"cannot read word vectors file {path}: {exc.strerror or exc}", loc) from None
    found: dict = {}
    with handle:
        try:
            for number, line in enumerate(handle, 1):
                if not line.strip() or (number == 1 and is_count_header(line)):
                    continue  # a blank line, or word2vec's "COUNT WIDTH" header
                word, numbers = vector_fields(line, width)
                if len(numbers) != width:
                    raise TrainError(f"{path}:{number}: the word {word!r} has {len(numbers)} numbers, but the "
                                     f"embedding's width is {width}", loc,
                                     hint="use vectors of the embedding's width, or set embedding(dim=...) to theirs")
                row = wanted.get(word)
                if row is not None and row not in found:  # a word given twice: its first vector counts
                    found[row] = _numbers(numbers, path, number, loc)
        except UnicodeDecodeError as exc:
            raise TrainError(f"{path} is not UTF-8 text: {exc.reason} at byte {exc.start}", loc) from None
    return found


def _numbers(texts: list, path: str, number: int, loc: Loc) -> list:
    try:
        values = [float(t) for t in texts]
    except ValueError:
        bad = next(t for t in texts if not is_number(t))
        raise TrainError(f"{path}:{number}: {bad!r} is not a number", loc) from None
    if not all(abs(v) < 3.4e38 for v in values):  # inf, nan or beyond float32
        raise TrainError(f"{path}:{number}: the vector holds a value that is not a finite number", loc)
    return values
