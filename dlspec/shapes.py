"""Shapes of one sample (batch dimension left out) and the arithmetic on them.

Pure Python, no torch: shape inference runs before any weight exists. A
`Shape` is a tuple of sizes plus what the tensor holds (floats or integer
token ids) and, for token inputs, the vocabulary size when it is known.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence


@dataclass(frozen=True)
class Shape:
    """The shape of one sample, e.g. `Shape((3, 32, 32))` for an RGB image."""

    dims: tuple
    integer: bool = False  # token ids rather than features
    vocab: Optional[int] = None  # known vocabulary size of token ids
    sequence: bool = False  # [T, F]: time first, features last (not channels first)
    hidden: Optional[int] = None  # size of the final hidden state, right after rnn/lstm/gru

    @property
    def rank(self) -> int:
        return len(self.dims)

    @property
    def numel(self) -> int:
        n = 1
        for d in self.dims:
            n *= d
        return n

    def with_dims(self, dims: Sequence[int]) -> "Shape":
        """Float features of other sizes; a [T, F] sequence stays one while it keeps two dims."""
        dims = tuple(dims)
        return Shape(dims, sequence=self.sequence and len(dims) == 2)

    def __str__(self) -> str:
        return "[" + ", ".join(str(d) for d in self.dims) + "]"


def as_tuple(value, n: int) -> tuple:
    """Expand an int to an n-tuple; check a sequence has n entries."""
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise ShapeProblem(f"expected {n} values (one per spatial dim of the input), received {len(value)}")
        return tuple(value)
    return (value,) * n


def conv_out(size: int, kernel: int, stride: int, padding: int, dilation: int = 1) -> int:
    """Output length of a convolution or pooling window along one axis."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def conv_transpose_out(size, kernel, stride, padding, output_padding=0, dilation=1) -> int:
    return (size - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1


def broadcast(a: tuple, b: tuple) -> Optional[tuple]:
    """Broadcast two shapes right-aligned as torch does; None if impossible."""
    out = []
    for i in range(1, max(len(a), len(b)) + 1):
        x = a[-i] if i <= len(a) else 1
        y = b[-i] if i <= len(b) else 1
        if x != y and 1 not in (x, y):
            return None
        out.append(max(x, y))
    return tuple(reversed(out))


class ShapeProblem(Exception):
    """Raised by a layer's shape rule; the planner adds the spec line and the incoming shape."""
