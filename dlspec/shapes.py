"""Shapes of one sample (batch dimension left out), their axis roles, and the arithmetic on them.

Pure Python, no torch: shape inference runs before any weight exists. A
`Shape` is a tuple of sizes plus what the tensor holds (floats or integer
token ids), for token inputs the vocabulary size when it is known, and the
role of each axis (`roles`): which axis holds the channels (or features),
which the time steps, which the spatial positions. Layers that work along
channels and space read the roles, never the positions (docs/language.md, "Axes").

Roles are one letter per axis: C channels, F features (the channel axis of a
vector or a sequence), T time, L length, D depth, H height, W width.
`image(C, H, W)` is "CHW", `sequence(T, F)` "TF", `vector(F)` "F",
`tokens(T)` "T". A shape whose roles are unknown (a torch.nn module changed
its shape) has `roles=None`.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Optional, Sequence


CHANNEL_ROLES = ("C", "F")
SPATIAL_ROLES = ("T", "L", "D", "H", "W")
ROLE_NAMES = {"C": "channels", "F": "features", "T": "time", "L": "length", "D": "depth", "H": "height",
              "W": "width"}
KIND_LAYOUTS = {"image": "CHW", "sequence": "TF", "vector": "F", "tokens": "T"}


def default_roles(rank: int) -> Optional[tuple]:
    """The roles of a channels-first `tensor(...)` of `rank` dims: [F], [C, L], [C, H, W], [C, D, H, W]."""
    return {1: ("F",), 2: ("C", "L"), 3: ("C", "H", "W"), 4: ("C", "D", "H", "W")}.get(rank)


def parse_layout(layout, rank: int) -> tuple:
    """Roles from a written layout such as "CL" or "HWC"; a ShapeProblem says what is wrong."""
    text = str(layout)
    if len(text) != rank:
        raise ShapeProblem(f'layout="{text}" names {len(text)} axes, but the shape has {rank}')
    unknown = [r for r in text if r not in ROLE_NAMES]
    if unknown:
        raise ShapeProblem(f'layout="{text}": unknown axis role {unknown[0]!r}; roles are '
                           + ", ".join(f"{r} ({n})" for r, n in ROLE_NAMES.items()))
    if len(set(text)) != len(text):
        raise ShapeProblem(f'layout="{text}" names an axis role twice')
    if sum(r in CHANNEL_ROLES for r in text) > 1:
        raise ShapeProblem(f'layout="{text}" has more than one channel axis (C or F)')
    if sum(r in SPATIAL_ROLES for r in text) > 3:
        raise ShapeProblem(f'layout="{text}" has more than three time or spatial axes')
    return tuple(text)


@dataclass(frozen=True, init=False)
class Shape:
    """The shape of one sample, e.g. `Shape((3, 32, 32), roles=("C", "H", "W"))` for an RGB image."""

    dims: tuple
    integer: bool = False  # token ids rather than features
    vocab: Optional[int] = None  # known vocabulary size of token ids
    roles: Optional[tuple] = None  # one role letter per axis, e.g. ("T", "F"); None: unknown
    hidden: Optional[int] = None  # size of the final hidden state, right after rnn/lstm/gru

    def __init__(self, dims, integer: bool = False, vocab: Optional[int] = None, roles: Optional[tuple] = None,
                 hidden: Optional[int] = None, *, sequence: bool = False):
        # `sequence=True` (the flag shapes had before roles) still makes a [T, F] sequence
        if sequence and roles is None:
            roles = ("T", "F")
        for name, value in (("dims", tuple(dims)), ("integer", integer), ("vocab", vocab),
                            ("roles", tuple(roles) if roles is not None else None), ("hidden", hidden)):
            object.__setattr__(self, name, value)

    @property
    def layout(self) -> Optional[str]:
        """The roles as one string ("CHW", "TF", ...), or None when they are unknown."""
        return "".join(self.roles) if self.roles is not None else None

    @property
    def sequence(self) -> bool:
        """A [T, F] sequence: time first, features last."""
        return self.layout == "TF"

    @property
    def channel_axis(self) -> Optional[int]:
        """Index of the channel (feature) axis, or None (no roles, or none of them is channels)."""
        if self.roles is None:
            return None
        return next((i for i, r in enumerate(self.roles) if r in CHANNEL_ROLES), None)

    @property
    def spatial_axes(self) -> tuple:
        """Indices of the time or spatial axes, in order."""
        return tuple(i for i, r in enumerate(self.roles or ()) if r in SPATIAL_ROLES)

    def channels_first(self) -> "Shape":
        """The shape as a channels-first layer sees it: the channel axis moved to the front."""
        axis = self.channel_axis
        if not axis:
            return self
        order = [axis] + [i for i in range(self.rank) if i != axis]
        return replace(self, dims=tuple(self.dims[i] for i in order), roles=tuple(self.roles[i] for i in order))

    def channels_back(self, axis: int) -> "Shape":
        """Undo `channels_first` for a channel axis that was at `axis`."""
        if not axis:
            return self
        dims, roles = list(self.dims), list(self.roles) if self.roles is not None else None
        dims.insert(axis, dims.pop(0))
        if roles is not None:
            roles.insert(axis, roles.pop(0))
        return replace(self, dims=tuple(dims), roles=tuple(roles) if roles is not None else None)

    def labelled(self) -> str:
        """`[T=10, F=6]` when the roles are known, else `[10, 6]`."""
        if self.roles is None:
            return str(self)
        return "[" + ", ".join(f"{r}={d}" for r, d in zip(self.roles, self.dims)) + "]"

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
        """Float features of other sizes; the axes keep their roles while the rank stays."""
        dims = tuple(dims)
        return Shape(dims, roles=self.roles if len(dims) == self.rank else None)

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
    """Raised by a layer's shape rule; the planner adds the spec line and the incoming shape.

    `arg` names the argument at fault, so the error points at it rather than at the call.
    """

    def __init__(self, message: str, arg: Optional[str] = None):
        super().__init__(message)
        self.arg = arg


def same_role(a: str, b: str) -> bool:
    """Two axes of the same role; channels and features are one role (the channel axis)."""
    return a == b or (a in CHANNEL_ROLES and b in CHANNEL_ROLES)


def role_positions(small: Shape, big: Shape) -> Optional[tuple]:
    """Where each axis of `small` sits among the axes of `big` when one is broadcast against the other.

    Matched by role when both know their roles ([F] against [T, F] is per time step; [C] against
    [C, H, W] is per channel), None when the roles do not match in order ([T, F] against [C, H, W]);
    right-aligned, as torch broadcasts one sample, when either does not know its roles.
    """
    if small.roles is None or big.roles is None:
        return tuple(range(big.rank - small.rank, big.rank))
    positions, start = [], 0
    for role in small.roles:
        match = next((j for j in range(start, big.rank) if same_role(role, big.roles[j])), None)
        if match is None:
            return None
        positions.append(match)
        start = match + 1
    return tuple(positions)


def expanded_dims(small: Shape, big: Shape, positions: tuple) -> tuple:
    """`small`'s sizes at `positions` among `big.rank` axes, 1 elsewhere."""
    dims = [1] * big.rank
    for size, j in zip(small.dims, positions):
        dims[j] = size
    return tuple(dims)
