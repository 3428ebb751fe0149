"""What every built-in layer family shares: the `layer()` registration helper and shape checks.

Imports no layer family (the package `__init__` imports them, in order), so a
family module can import this one without a cycle. Shape helpers raise
`ShapeProblem`; torch is imported only inside builders (`nn()`).
"""
from __future__ import annotations

from ..schema.args import Arg
from ..shapes import Shape, ShapeProblem, as_tuple, conv_out
from .registry import LayerDef, register_layer


def nn():
    """torch.nn, imported when a layer is first built (so planning never imports torch)."""
    import torch.nn
    return torch.nn


def layer(name, args=(), *, infer, build, doc, aliases=(), macs=None, examples=(), biases=True, **flags):
    """Register a built-in layer; one with `weights` also takes init= (and bias_init= when it has `biases`)."""
    if flags.get("weights"):
        args = tuple(args) + INIT_ARGS[:1 + bool(biases)]
    return register_layer(LayerDef(name=name, args=tuple(args), infer=infer, build=build, doc=doc,
                                   aliases=tuple(aliases), macs=macs, examples=tuple(examples),
                                   **flags))


# every layer with weights takes these last (planning binds their values with layers/init.py)
INIT_ARGS = (Arg("init", "any", None, doc="how the weights start: an initialiser, e.g. kaiming_normal or normal(0, 0.01)"),
             Arg("bias_init", "any", None, doc="how the biases start: an initialiser, e.g. zeros or constant(0.1)"))


def need_features(shape: Shape, what: str) -> None:
    if shape.integer:
        raise ShapeProblem(f"{what} needs float features, but its input holds integer token ids; "
                           "put an embedding first")


def spatial(shape: Shape, what: str, forced: int | None = None) -> int:
    """Number of spatial dims of a channels-first input, checked for `what`."""
    need_features(shape, what)
    n = shape.rank - 1
    if forced is not None and n != forced:
        want = {1: "[C, L]", 2: "[C, H, W]", 3: "[C, D, H, W]"}[forced]
        raise ShapeProblem(f"{what} needs an input of shape {want}")
    if n not in (1, 2, 3):
        raise ShapeProblem(f"{what} needs a channels-first input {SPATIAL_LAYOUTS}"
                           + (" (it comes after flatten?)" if shape.rank == 1 else ""))
    return n


# a sequence [T, F] is planned channels-first ([F, T]), so it counts as [C, L] along time
SPATIAL_LAYOUTS = "[C, L], [C, H, W] or [C, D, H, W], or a sequence [T, F]"


def _window_dims(shape: Shape, n: int, kernel, stride, padding, dilation=1, ceil=False, what="layer",
                 pool=False):
    """Output sizes of a sliding window (conv or pooling) along the `n` spatial axes of `shape`.

    A pooling window (`pool`) may be padded by at most half its kernel, as torch's pooling insists.
    """
    k, s = as_tuple(kernel, n), as_tuple(stride, n)
    p, d = as_tuple(padding, n), as_tuple(dilation, n)
    if min(p) < 0:
        raise ShapeProblem(f"padding must not be negative; received {_fmt(p)}", arg="padding")
    if pool and any(pi > ki // 2 for pi, ki in zip(p, k)):
        raise ShapeProblem(f"padding {_fmt(p)} is more than half the kernel {_fmt(k)}; a pooling window may be "
                           f"padded by at most kernel // 2 ({_fmt(tuple(ki // 2 for ki in k))} here)", arg="padding")
    out = []
    for size, ki, si, pi, di in zip(shape.dims[1:], k, s, p, d):
        o = conv_out(size, ki, si, pi, di) if not ceil else -(-(size + 2 * pi - di * (ki - 1) - 1) // si) + 1
        if ceil and (o - 1) * si >= size + pi:
            o -= 1
        if o <= 0:
            raise ShapeProblem(f"{what}: kernel {_fmt(k)} (padding {_fmt(p)}, dilation {_fmt(d)}) is larger "
                               f"than the {'x'.join(map(str, shape.dims[1:]))} input")
        out.append(o)
    return out


def _fmt(t):
    return str(t[0]) if len(set(t)) == 1 else "x".join(map(str, t))


def features(what):
    """A shape rule for layers that keep their input's shape but need float features."""
    def infer(shape: Shape, a: dict) -> Shape:
        need_features(shape, what)
        return shape
    return infer
