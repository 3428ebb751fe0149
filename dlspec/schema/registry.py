"""One registry type for every kind of named entry: layers, sources, transforms, losses,
optimizers, schedules and metrics.

An entry is any object with a `name` (and optionally `aliases` and `source`,
where it came from: "built-in", "plugin MODULE.NAME", …). A `Registry` in,
lookups with did-you-mean errors out; one duplicate policy for all of them.
It behaves as a read-only mapping from name to entry for existing callers.
"""
from __future__ import annotations

from typing import Iterable, Iterator, Optional

from ..errors import Loc, UnknownNameError, did_you_mean


class Registry:
    """Named entries of one kind (`kind` is how errors name it: "layer", "data source", …)."""

    def __init__(self, kind: str, hint: str = ""):
        self.kind, self.hint = kind, hint
        self._entries: dict = {}
        self._aliases: dict = {}

    def register(self, entry, override: bool = False):
        """Add `entry` under its name and aliases; a taken name is refused unless override=True."""
        names = (entry.name,) + tuple(getattr(entry, "aliases", ()))
        for name in names:
            if not override and (name in self._entries or name in self._aliases):
                raise ValueError(f"a {self.kind} named '{name}' is already registered; "
                                 "pass override=True to replace it")
        self._entries[entry.name] = entry
        for alias in names[1:]:
            self._aliases[alias] = entry.name
        return entry

    def find(self, name: str):
        """The entry called `name` (or with that alias), or None."""
        if name in self._entries:
            return self._entries[name]
        if name in self._aliases:
            return self._entries[self._aliases[name]]
        return None

    def lookup(self, name: str, loc: Optional[Loc] = None, other_names: Iterable[str] = ()):
        """Like `find`, but an unknown name is a located error naming the closest ones."""
        entry = self.find(name)
        if entry is None:
            raise UnknownNameError(f"unknown {self.kind} '{name}'." + did_you_mean(name, self.names(True) + list(other_names)),
                                   loc, hint=self.hint or f"known: {', '.join(self.names()) or 'none'}")
        return entry

    def names(self, with_aliases: bool = False) -> list:
        """Sorted entry names (with their aliases when asked)."""
        return sorted(set(self._entries) | (set(self._aliases) if with_aliases else set()))

    def entries(self) -> list:
        """Entries sorted by name."""
        return [self._entries[n] for n in sorted(self._entries)]

    def remove(self, name: str) -> None:
        """Forget an entry and its aliases (tests use this to undo a registration)."""
        entry = self._entries.pop(name)
        for alias in getattr(entry, "aliases", ()):
            self._aliases.pop(alias, None)

    # a read-only mapping, so `name in REG`, `REG[name]`, `sorted(REG)`, `.items()` keep working
    def __contains__(self, name) -> bool:
        return name in self._entries

    def __getitem__(self, name: str):
        return self._entries[name]

    def get(self, name: str, default=None):
        """The entry registered under exactly `name`, else `default` (as dict.get)."""
        return self._entries.get(name, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def keys(self):
        return self._entries.keys()

    def values(self):
        return self._entries.values()

    def items(self):
        return self._entries.items()


def register_entry(table, item, what: str, override: bool = False):
    """Add `item` to `table` (a Registry or a plain dict) with the one duplicate policy."""
    if isinstance(table, Registry):
        return table.register(item, override)
    if item.name in table and not override:
        raise ValueError(f"a {what} named '{item.name}' is already registered; pass override=True to replace it")
    table[item.name] = item
    return item
