"""The names a spec can use, by kind: the registries (plugins included) and a program's own declarations.

Shared by hover, completion and the highlighters, so they all read the same tables.
"""
from __future__ import annotations

from typing import Optional

from ..views.catalog import KINDS, registries
from ..schema.args import signature

# What each registry's entries are called in editors (catalog KINDS are plurals: "layers", …).
SINGULAR = {"layers": "layer", "transforms": "transform", "sources": "source", "losses": "loss",
            "optimizers": "optimizer", "schedules": "schedule", "metrics": "metric", "initialisers": "initialiser"}


def find_entry(name: str) -> Optional[tuple]:
    """(kind, entry) of the first registry holding `name` (layers first, aliases included), else None."""
    tables = registries()
    for kind in KINDS:
        entry = tables[kind].find(name)
        if entry is not None:
            return kind, entry
    from ..layers.registry import find_layer
    layer = find_layer(name) if name.startswith(("torch.", "torchvision.", "nn.")) else None
    return ("layers", layer) if layer is not None else None


def describe_entry(kind: str, entry) -> str:
    """Markdown: the signature, the kind and where it comes from, and the doc."""
    doc = (entry.doc or "").strip()
    source = "" if entry.source == "built-in" else f" · {entry.source}"
    return f"```dlspec\n{signature(entry.name, entry.args)}\n```\n{SINGULAR[kind]}{source}" + (f"\n\n{doc}" if doc else "")


def registry_names() -> dict:
    """Every registered name (aliases included) by kind."""
    return {kind: table.names(True) for kind, table in registries().items()}


def block_signature(decl) -> str:
    """How a block is called: Basic(ch, drop=0.1)."""
    params = [p.name if p.default is None else f"{p.name}={_source(p.default)}" for p in decl.params]
    return f"{decl.name}({', '.join(params)})" if params else decl.name


def _source(expr) -> str:
    """An expression's text, read back from the spec it was parsed from."""
    loc = expr.loc
    if loc.text is None:
        return "…"
    line = loc.text.split("\n")[loc.line - 1]
    piece = line[loc.column - 1:]
    depth, end = 0, len(piece)
    for i, ch in enumerate(piece):
        depth += ch in "([{"
        depth -= ch in ")]}"
        if depth < 0 or (depth == 0 and ch == ","):
            end = i
            break
    return piece[:end].strip()
