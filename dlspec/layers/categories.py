"""category_embedding: the layer the planner puts first in a model whose `vector(auto)` input
holds many-level category columns (data/encoding.py). Not registered: a spec never names it;
the data decides which columns it embeds, and `--show` lists it at the model's input line.

Its arguments: `width` (the data's feature width) and `columns`, one
(position, levels, dim, column name) per embedded column.
"""
from __future__ import annotations

from ..shapes import Shape
from .registry import LayerDef


def embedded_width(width: int, columns: tuple) -> int:
    """The feature width after each index column is replaced by its vector."""
    return width - len(columns) + sum(c[2] for c in columns)


def _build(shape: Shape, args: dict):
    from ..runtime.categories import CategoryEmbedding
    return CategoryEmbedding(args["width"], [c[:3] for c in args["columns"]])


CATEGORY_EMBEDDING = LayerDef(
    name="category_embedding", args=(), build=_build, macs=lambda i, o, a: 0,  # lookups
    infer=lambda shape, a: Shape((embedded_width(a["width"], a["columns"]),), roles=("F",)),
    doc="A learnt vector per level of each table column with more than onehot_max levels; "
        "put first by vector(auto).")
