"""What can be used in a spec: registries in, listings and full docs out.

Backs `dlspec layers`, `dlspec transforms`, `dlspec losses`, `dlspec metrics`, `dlspec initialisers`
(and the matching Python calls), built-ins and plugins alike.
"""
from __future__ import annotations

from ..errors import UnknownNameError, did_you_mean
from ..language.values import to_source
from ..schema.args import signature


def registries() -> dict:
    """Every registry a spec draws names from, by the CLI verb that lists it."""
    import dlspec.data.sources  # noqa: F401 - importing the packages registers their built-ins
    import dlspec.layers  # noqa: F401
    from ..data.sources.base import SOURCES
    from ..data.transforms import TRANSFORMS
    from ..layers.init import INITIALISERS
    from ..layers.registry import LAYERS
    from ..train.losses import LOSSES
    from ..train.metrics import METRICS
    from ..train.optimizers import OPTIMIZERS
    from ..train.schedules import SCHEDULES
    return {"layers": LAYERS, "transforms": TRANSFORMS, "sources": SOURCES, "losses": LOSSES,
            "optimizers": OPTIMIZERS, "schedules": SCHEDULES, "metrics": METRICS, "initialisers": INITIALISERS}


def _entries(kind: str):
    return registries()[kind]


KINDS = ("layers", "transforms", "sources", "losses", "optimizers", "schedules", "metrics", "initialisers")


def listing(kind: str) -> list:
    """(signature, one-line doc, source) for every entry of a kind, sorted by name."""
    entries = _entries(kind)
    rows = []
    for name in sorted(entries):
        entry = entries[name]
        doc = (entry.doc or "").strip().splitlines()
        rows.append((signature(entry.name, entry.args), doc[0] if doc else "", entry.source))
    return rows


def describe(kind: str, name: str) -> str:
    """The full documentation of one entry."""
    entries = _entries(kind)
    entry = entries.find(name)
    if entry is None and kind == "layers":
        from ..layers.registry import find_layer
        entry = find_layer(name)
    if entry is None:
        raise UnknownNameError(f"no {kind[:-1]} named '{name}'." + did_you_mean(name, entries))
    lines = [signature(entry.name, entry.args), "", (entry.doc or "").strip(), ""]
    for a in entry.args:
        default = "required" if a.required else f"default {to_source(a.default)}"
        choices = f"; one of {', '.join(map(str, a.choices))}" if a.choices else ""
        lines.append(f"  {a.name}: {a.kind}, {default}{choices}{' - ' + a.doc if a.doc else ''}")
    aliases = getattr(entry, "aliases", ())
    if aliases:
        lines.append(f"aliases: {', '.join(aliases)}")
    lines.append(f"source: {entry.source}")
    return "\n".join(lines).rstrip()
