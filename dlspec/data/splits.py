"""Reproducible train/val/test splits: sample count, labels and fractions in, index arrays out.

Split sizes are allocated over the whole set (largest remainder), so each
split holds the floor or the ceiling of its share of the rows, and a requested
split is never empty while there are at least as many rows as splits (an
otherwise empty split then takes a row from the largest one). With labels the
split is stratified as far as the counts allow: each class puts the floor or
the ceiling of its share into each split, chosen so the split sizes above
still hold exactly (always possible unless a split had to be topped up).
Chronological splits (time series) cut the rows in order. Every sample lands
in exactly one split. `thin_split_note` says when stratification cannot keep
every class in every split. Indices are int64 numpy arrays: a million rows
as Python ints would take some 35 MB per copy.
"""
from __future__ import annotations

import math
from typing import Optional

_EPS = 1e-9  # fractions like 0.7 * 10 = 7.000000000000001 must floor to 7


def split_indices(n: int, fractions: dict, seed: int, targets: Optional[list] = None,
                  chronological: bool = False) -> dict:
    """Map each requested split name (fraction > 0) to an int64 numpy array of sample indices: in row
    order when chronological or stratified, in the seeded permutation's order otherwise.

    `fractions` is ordered (e.g. train, val, test) and sums to 1.
    """
    import numpy as np
    shares = _shares(fractions)
    sizes = split_sizes(n, fractions)
    if chronological:
        return _cut(np.arange(n, dtype=np.int64), sizes)
    rng = np.random.default_rng(seed)
    if targets is None:
        return _cut(rng.permutation(n).astype(np.int64, copy=False), sizes)
    by_class = _rows_by_class(targets)
    classes = sorted(by_class, key=str)
    counts = [len(by_class[c]) for c in classes]
    table = _stratify(counts, shares, sizes, rng)
    out: dict = {name: [] for name in sizes}
    for cls, row in zip(classes, table):
        members = by_class[cls][rng.permutation(len(by_class[cls]))]
        for name, idx in _cut(members, row).items():
            out[name].append(idx)
    return {name: np.sort(np.concatenate(parts)) if parts else np.empty(0, np.int64) for name, parts in out.items()}


def _rows_by_class(targets) -> dict:
    """Class -> the int64 array of its rows, in row order; integer labels grouped without a Python loop."""
    import numpy as np
    labels = np.asarray(targets) if len(targets) else np.empty(0, np.int64)
    if labels.ndim == 1 and labels.dtype.kind in "iub":
        return {c: np.flatnonzero(labels == c).astype(np.int64) for c in np.unique(labels).tolist()}
    rows: dict = {}
    for i, t in enumerate(targets):
        rows.setdefault(t, []).append(i)
    return {c: np.asarray(r, dtype=np.int64) for c, r in rows.items()}


def split_sizes(n: int, fractions: dict) -> dict:
    """How many of `n` rows each requested split gets: floor or ceiling of its share, summing to n.

    Rows rounded up go first to splits that would otherwise be empty, then by
    largest remainder (ties in split order). Where more splits would be empty
    than rows are left to round up (e.g. 3 rows at 0.98/0.01/0.01), each empty
    split takes one row from the largest split.
    """
    shares = _shares(fractions)
    names = list(shares)
    exact = {k: shares[k] * n for k in names}
    sizes = {k: int(math.floor(exact[k] + _EPS)) for k in names}
    enough = n >= len(names)
    order = sorted(names, key=lambda k: (not (enough and sizes[k] == 0), -(exact[k] - sizes[k]), names.index(k)))
    for k in order[:max(0, n - sum(sizes.values()))]:
        sizes[k] += 1
    while enough and min(sizes.values()) == 0:
        empty = next(k for k in names if sizes[k] == 0)
        donor = max(names, key=lambda k: (sizes[k], -names.index(k)))
        sizes[donor] -= 1
        sizes[empty] += 1
    return sizes


def thin_split_note(sizes: dict, class_counts: dict) -> Optional[str]:
    """Why a stratified split cannot hold every class in every split, or None when it can.

    That is when a split has fewer rows than there are classes, or a class has
    fewer rows than there are splits. `sizes` maps split names to row counts,
    `class_counts` classes to row counts.
    """
    n_classes, n_splits = len(class_counts), len(sizes)
    empty = [k for k, v in sizes.items() if v == 0]
    small = [k for k, v in sizes.items() if 0 < v < n_classes]
    rare = sorted((c for c, v in class_counts.items() if v < n_splits), key=str)
    if not empty and not small and not rare:
        return None
    shown = " / ".join(f"{k} {v}" for k, v in sizes.items())
    parts = []
    if empty:
        parts.append(f"{_join(empty)} {'is' if len(empty) == 1 else 'are'} empty ({sum(sizes.values())} rows "
                     f"for {n_splits} splits)")
    if small:
        parts.append(f"{_join(small)} {'has' if len(small) == 1 else 'have'} fewer rows than the "
                     f"{n_classes} classes")
    if rare:
        listed = ", ".join(f"{c} ({class_counts[c]})" for c in rare[:5]) + (", ..." if len(rare) > 5 else "")
        parts.append(f"{len(rare)} class{'es have' if len(rare) > 1 else ' has'} fewer rows than the "
                     f"{n_splits} splits: {listed}")
    return f"split sizes {shown} rows; " + "; ".join(parts) + ", so some classes are missing from some splits"


def _join(names: list) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _shares(fractions: dict) -> dict:
    """The requested splits (fraction > 0) in order, normalised to sum to exactly 1."""
    given = {k: float(v) for k, v in fractions.items() if v > 0}
    total = sum(given.values())
    return {k: v / total for k, v in given.items()}


def _cut(items, sizes: dict) -> dict:
    """Cut the int64 array `items` into consecutive parts of the given sizes, in split order (views, not copies)."""
    out, start = {}, 0
    for name, size in sizes.items():
        out[name] = items[start:start + size]
        start += size
    return out


def _stratify(counts: list, shares: dict, sizes: dict, rng) -> list:
    """Rows of class k in split s, as one dict per class: floor or ceiling of counts[k] * share[s].

    Each class starts at the floors; the rows left over go to splits by
    largest fraction (ties at random), then by augmenting paths until every
    split has exactly `sizes[s]`. A split topped up past its share (see
    `split_sizes`) may need a class to go past its ceiling: the last pass
    places those rows without the limit.
    """
    names = list(sizes)
    exact = [[c * shares[s] for s in names] for c in counts]
    table = [[int(math.floor(x + _EPS)) for x in row] for row in exact]
    left = [c - sum(row) for c, row in zip(counts, table)]
    need = [sizes[s] - sum(row[j] for row in table) for j, s in enumerate(names)]
    _give_back_excess(table, left, need)
    cap = [[1 if x - math.floor(x + _EPS) > _EPS else 0 for x in row] for row in exact]
    extra = [[0] * len(names) for _ in counts]
    noise = rng.random((len(counts), len(names)))
    cells = sorted(((k, j) for k in range(len(counts)) for j in range(len(names)) if cap[k][j]),
                   key=lambda kj: (-(exact[kj[0]][kj[1]] % 1), noise[kj[0]][kj[1]]))
    for k, j in cells:  # largest fractions first: the stratified rounding in most cases
        if left[k] and need[j]:
            extra[k][j], left[k], need[j] = 1, left[k] - 1, need[j] - 1
    for k in range(len(counts)):  # what greedy left over: reroute along augmenting paths
        while left[k] and _augment(k, extra, cap, need):
            left[k] -= 1
    for k in range(len(counts)):  # only after a top-up: place the rest without the ceiling
        for j in range(len(names)):
            moved = min(left[k], need[j])
            extra[k][j], left[k], need[j] = extra[k][j] + moved, left[k] - moved, need[j] - moved
    return [{s: table[k][j] + extra[k][j] for j, s in enumerate(names)} for k in range(len(counts))]


def _give_back_excess(table: list, left: list, need: list) -> None:
    """A split that gave a row away (need < 0) returns it from the class holding most of it."""
    for j in range(len(need)):
        while need[j] < 0:
            k = max(range(len(table)), key=lambda i: table[i][j])
            table[k][j] -= 1
            left[k] += 1
            need[j] += 1


def _augment(source: int, extra: list, cap: list, need: list) -> bool:
    """Move one more row of class `source` into a split that still needs rows, shifting others.

    Breadth-first search over class -> split (a cell below its cap) and
    split -> class (a cell holding an extra row, which can move elsewhere).
    """
    n_splits = len(need)
    prev: dict = {("c", source): None}
    queue = [("c", source)]
    while queue:
        kind, i = node = queue.pop(0)
        if kind == "c":
            for j in range(n_splits):
                if extra[i][j] < cap[i][j] and ("s", j) not in prev:
                    prev[("s", j)] = node
                    if need[j] > 0:
                        _apply_path(("s", j), prev, extra)
                        need[j] -= 1
                        return True
                    queue.append(("s", j))
        else:
            for k in range(len(extra)):
                if extra[k][i] > 0 and ("c", k) not in prev:
                    prev[("c", k)] = node
                    queue.append(("c", k))
    return False


def _apply_path(end: tuple, prev: dict, extra: list) -> None:
    node = end
    while prev[node] is not None:
        before = prev[node]
        if node[0] == "s":  # class before -> split node: one more row there
            extra[before[1]][node[1]] += 1
        else:  # split before -> class node: that class gives its row in that split up
            extra[node[1]][before[1]] -= 1
        node = before
