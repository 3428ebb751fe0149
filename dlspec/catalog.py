"""What can be used in a spec: registries in, listings and full docs out.

Backs `dlspec layers`, `dlspec transforms`, `dlspec losses`, `dlspec metrics`
(and the matching Python calls), built-ins and plugins alike.
"""
from __future__ import annotations

from .errors import UnknownNameError, did_you_mean
from .layers.registry import _show


def _entries(kind: str) -> dict:
    if kind == "layers":
        from .layers.registry import list_layers
        return {layer.name: layer for layer in list_layers()}
    if kind == "transforms":
        from .data.transforms import TRANSFORMS
        return TRANSFORMS
    if kind == "sources":
        from .data.sources import SOURCES
        return SOURCES
    from .train import components, metrics
    return {"losses": components.LOSSES, "optimizers": components.OPTIMIZERS,
            "schedules": components.SCHEDULES, "metrics": metrics.METRICS}[kind]


KINDS = ("layers", "transforms", "sources", "losses", "optimizers", "schedules", "metrics")


def signature(entry) -> str:
    parts = [a.name if a.required else f"{a.name}={_show(a.default)}" for a in entry.args]
    return f"{entry.name}({', '.join(parts)})" if parts else entry.name


def listing(kind: str) -> list:
    """(signature, one-line doc, source) for every entry of a kind, sorted by name."""
    rows = []
    for name in sorted(_entries(kind)):
        entry = _entries(kind)[name]
        doc = (entry.doc or "").strip().splitlines()
        rows.append((signature(entry), doc[0] if doc else "", getattr(entry, "source", "built-in")))
    return rows


def describe(kind: str, name: str) -> str:
    """The full documentation of one entry."""
    entries = _entries(kind)
    entry = entries.get(name)
    if entry is None and kind == "layers":
        from .layers.registry import find_layer
        entry = find_layer(name)
    if entry is None:
        raise UnknownNameError(f"no {kind[:-1]} named '{name}'." + did_you_mean(name, entries))
    lines = [signature(entry), "", (entry.doc or "").strip(), ""]
    for a in entry.args:
        default = "required" if a.required else f"default {_show(a.default)}"
        choices = f"; one of {', '.join(map(str, a.choices))}" if a.choices else ""
        lines.append(f"  {a.name}: {a.kind}, {default}{choices}{' - ' + a.doc if a.doc else ''}")
    aliases = getattr(entry, "aliases", ())
    if aliases:
        lines.append(f"aliases: {', '.join(aliases)}")
    lines.append(f"source: {getattr(entry, 'source', 'built-in')}")
    return "\n".join(lines).rstrip()
