"""Limits that keep hostile or careless specs from crashing or hanging dlspec.

Numbers in, the same numbers out or a located `ArgumentError`: every number a
spec writes or computes must fit the 64-bit integers and floats torch uses, so
no later stage meets Python's unbounded ints (OverflowError, int-to-str limits)
or an infinity. Nesting depth and file size are capped so recursive stages
(Python's stack) and the parser stay within bounds; docs/language.md states the
same numbers. `gc_paused` keeps long specs' passes within about a second.
"""
from __future__ import annotations

import contextlib
import gc
import math
from typing import Optional

from ..errors import ArgumentError, DlspecError, Loc

MAX_INT = 2 ** 63 - 1          # torch's int64
MAX_INT_DIGITS = len(str(MAX_INT))
MAX_DEPTH = 100                # brackets, signs, nested calls and repeat blocks inside each other
MAX_LET_CHAIN = 100            # lets whose values use lets whose values use lets ...
MAX_SPEC_BYTES = 16 * 2 ** 20  # one spec file (includes are read one by one)


class LimitError(DlspecError):
    """A model past a size limit (layers, nesting): the whole expansion, not one step, is at fault, so
    error recovery (diagnostics) does not plan it again with a step replaced."""


_INT_HINT = "integers must lie between -9223372036854775807 and 9223372036854775807"
_FLOAT_HINT = "floats must lie within about ±1.8e308"


def checked_number(value, loc: Optional[Loc], what: str = ""):
    """`value` unchanged when it fits 64 bits (and is finite), else a located "number too large"."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and -MAX_INT <= value <= MAX_INT:
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    if isinstance(value, float) and math.isnan(value):
        raise ArgumentError(f"{what or 'this arithmetic'} is not a number (NaN)", loc)
    if isinstance(value, int):
        raise ArgumentError(f"number too large: {what or 'an integer'} does not fit 64 bits", loc, hint=_INT_HINT)
    raise ArgumentError(f"number too large: {what or 'a float'} overflows a 64-bit float", loc, hint=_FLOAT_HINT)


def int_literal(text: str, loc: Loc) -> int:
    """An integer literal's value; refuses long digit strings before converting them."""
    digits = text.lstrip("0") or "0"
    if len(digits) > MAX_INT_DIGITS:
        raise ArgumentError(f"number too large: an integer of {len(digits)} digits does not fit 64 bits", loc,
                            hint=_INT_HINT)
    return checked_number(int(digits), loc, digits)


def float_literal(text: str, loc: Loc) -> float:
    """A float literal's value; `1e999` (infinity in Python) is refused."""
    return checked_number(float(text), loc, _short_text(text))


def _short_text(text: str) -> str:
    return text if len(text) <= 40 else text[:37] + "..."


@contextlib.contextmanager
def gc_paused():
    """Python's cyclic garbage collector paused for a pass over a whole spec, then put back as it was.

    Parsing and checking a long spec allocate hundreds of thousands of tokens, trees,
    IR nodes and plans that stay alive until the pass ends, so every collection those
    allocations trigger walks the growing heap and frees nothing: on a 20,000-line
    spec that was over a third of `dlspec compile`. Reference counting still frees
    everything that is not in a cycle; cycles wait for the collector's next run.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
