"""Submodule names within one body: labels checked, unlabelled steps named conv, conv_1, ...

A label or param that would shadow an attribute of nn.Module (cuda, training,
forward) or starts with '_' is refused at its line. An automatic name never
does: one that would (a block named Double or Train) takes the next suffix
(double_1, train_1), and leading underscores are dropped (_Stem: stem).
"""
from __future__ import annotations

from typing import Optional

from ..errors import DlspecError, Loc
from .nodes import RESERVED_NAMES


class Namer:
    """Unique, readable submodule names within one body: conv, conv_1, ..."""

    def __init__(self):
        self.used: set = set()
        self._next: dict = {}  # base -> the suffix to try next, so naming n layers is linear, not quadratic

    def reserve(self, name: str, loc: Loc, what: str = "label") -> None:
        """Claim `name` for a label or param; it must be unique and not shadow an nn.Module attribute."""
        if name in RESERVED_NAMES or name.startswith("_"):
            raise DlspecError(f"{what} '{name}' cannot be used: it is the name of an attribute of torch's nn.Module "
                              "(or nn.Sequential) or starts with '_'", loc, hint=f"rename it, e.g. '{name.strip('_')}_part'")
        if name in self.used:
            raise DlspecError(f"{what} '{name}' is used twice in this body", loc,
                              hint="labels and params name submodules and must be unique within a model or block")
        self.used.add(name)

    def take(self, base: str, label: Optional[str], loc: Loc) -> str:
        """`label`, checked; without one, the first free name from `base`: base, base_1, base_2, ..."""
        if label is not None:
            self.reserve(label, loc)
            return label
        base = base.lstrip("_") or "step"
        i = self._next.get(base, 0)
        name = base if i == 0 else f"{base}_{i}"
        while name in self.used or name in RESERVED_NAMES:  # a label took it ahead of its turn, or torch has it
            i += 1
            name = f"{base}_{i}"
        self._next[base] = i + 1
        self.used.add(name)
        return name
