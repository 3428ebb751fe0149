"""linear (in_features inferred) and embedding (the vocabulary from the input or the data)."""
from __future__ import annotations

from ..schema.args import Arg, positive
from ..shapes import Shape, ShapeProblem
from ._base import need_features, nn, layer

def _linear_infer(shape: Shape, a: dict) -> Shape:
    need_features(shape, "linear")
    if shape.rank == 0:
        raise ShapeProblem("linear needs at least one feature dimension")
    if shape.rank > 2:
        raise ShapeProblem("linear acts on the last dimension; put flatten (or global_avgpool -> flatten) "
                           "before it to turn an image into a vector")
    return shape.with_dims(shape.dims[:-1] + (a["out"],))


layer("linear", (Arg("out", "int", check=positive, doc="output features"), Arg("bias", "bool", True)),
      infer=_linear_infer, build=lambda s, a: nn().Linear(s.dims[-1], a["out"], bias=a["bias"]),
      macs=lambda i, o, a: i.numel * a["out"], aliases=("Linear", "dense"), weights="matrix",
      doc="Fully connected layer on the last dimension: linear(out); in_features are inferred.",
      examples=[((20,), {"out": 7}), ((5, 6), {"out": 3, "bias": False})])


def _embedding_infer(shape: Shape, a: dict) -> Shape:
    if not shape.integer:
        raise ShapeProblem("embedding needs integer token ids, e.g. input tokens(T, vocab=N)")
    if a["num_embeddings"] is None and shape.vocab is None:
        raise ShapeProblem("embedding needs the vocabulary size: declare input tokens(T, vocab=N), "
                           "link a text data block in a train block, or pass num_embeddings=N")
    if a["num_embeddings"] is not None and shape.vocab is not None and a["num_embeddings"] < shape.vocab:
        raise ShapeProblem(too_few_embeddings("embedding", a["num_embeddings"], shape.vocab))
    roles = shape.roles[:-1] + ("T", "F") if shape.roles and shape.roles[-1] == "T" else None
    return Shape(shape.dims + (a["dim"],), roles=roles)  # tokens [T] -> a sequence [T, F]


def too_few_embeddings(what: str, rows: int, vocab: int) -> str:
    """Why a table of `rows` embeddings cannot look up token ids of a vocabulary of `vocab` (ids 0..vocab-1)."""
    return (f"{what} has {rows:,} embeddings, but the input's token ids go up to {vocab - 1:,} (a vocabulary "
            f"of {vocab:,}); the first batch would fail")


def _embedding_build(shape: Shape, a: dict):
    n = a["num_embeddings"] or shape.vocab
    return nn().Embedding(n, a["dim"], padding_idx=a["padding_idx"])


layer("embedding", (Arg("dim", "int", check=positive), Arg("num_embeddings", "int", None, positive),
                    Arg("padding_idx", "int", None)),
      infer=_embedding_infer, build=_embedding_build, aliases=("Embedding",), weights="matrix", biases=False, macs=lambda i, o, a: 0,  # a lookup
      doc="Token embedding: embedding(dim); the vocabulary size comes from tokens(T, vocab=N) or the data.",
      examples=[((7,), {"dim": 4, "num_embeddings": 30})])
