"""Reproducible train/val/test splits: sample count, labels and fractions in, index lists out.

Splits are stratified when labels are given (each class keeps its share in
every split) and chronological when asked (time series). Every sample lands
in exactly one split.
"""
from __future__ import annotations

from typing import Optional


def split_indices(n: int, fractions: dict, seed: int, targets: Optional[list] = None,
                  chronological: bool = False) -> dict:
    """Map each split name to a sorted list of sample indices.

    `fractions` is ordered (e.g. train, val, test) and sums to 1.
    """
    import numpy as np
    names = [k for k, v in fractions.items() if v > 0]
    if chronological:
        return _allocate(list(range(n)), names, fractions, shuffle=None)
    rng = np.random.default_rng(seed)
    if targets is None:
        return _allocate(list(rng.permutation(n)), names, fractions, shuffle=None)
    by_class: dict = {}
    for i, t in enumerate(targets):
        by_class.setdefault(t, []).append(i)
    out = {name: [] for name in names}
    for cls in sorted(by_class, key=str):
        members = [by_class[cls][j] for j in rng.permutation(len(by_class[cls]))]
        for name, idx in _allocate(members, names, fractions, shuffle=None).items():
            out[name].extend(idx)
    return {name: sorted(int(i) for i in idx) for name, idx in out.items()}


def _allocate(items: list, names: list, fractions: dict, shuffle) -> dict:
    """Cut `items` into consecutive parts with cumulative rounding of the fractions."""
    out, start, cumulative = {}, 0, 0.0
    for k, name in enumerate(names):
        cumulative += fractions[name]
        end = len(items) if k == len(names) - 1 else int(round(cumulative * len(items)))
        out[name] = [int(i) for i in items[start:end]]
        start = end
    return out
