"""Model inputs: an `input KIND(...)` declaration in, one sample's `Shape` out.

image(C, H, W), vector(N), sequence(T, F), tokens(T, vocab=N) and tensor(d1, ...);
the batch dimension is never written.
"""
from __future__ import annotations

from typing import Optional

from ..errors import ArgumentError, UnknownNameError, did_you_mean
from ..language import ir
from ..language.resolve import Env
from ..schema.args import Arg, bind_args, positive
from ..shapes import Shape
from .nodes import evaluate_args, int_dim

_INPUTS = {
    "image": ((Arg("channels", "int", check=positive), Arg("height", "int", check=positive),
               Arg("width", "int", check=positive)), lambda a: Shape((a["channels"], a["height"], a["width"]))),
    "vector": ((Arg("features", "int", check=positive),), lambda a: Shape((a["features"],))),
    "sequence": ((Arg("steps", "int", check=positive), Arg("features", "int", check=positive)),
                 lambda a: Shape((a["steps"], a["features"]), sequence=True)),
    "tokens": ((Arg("steps", "int", check=positive), Arg("vocab", "int", None, positive)),
               lambda a: Shape((a["steps"],), integer=True, vocab=a["vocab"])),
}


def input_shape(decl: ir.InputDecl, env: Env, vocab: Optional[int]) -> Shape:
    """One sample's shape from `input KIND(...)`; `vocab` is the linked data's vocabulary, for tokens(T)."""
    args, kwargs, locs = evaluate_args(decl, env)
    if decl.kind == "tensor":
        dims = [int_dim(v, locs.get(i, decl.loc)) for i, v in enumerate(args)]
        if not dims or kwargs:
            raise ArgumentError("tensor(...) takes the sizes of one sample, e.g. tensor(4, 10)", decl.loc)
        return Shape(tuple(dims))
    if decl.kind not in _INPUTS:
        raise UnknownNameError(f"unknown input kind '{decl.kind}'." + did_you_mean(decl.kind, list(_INPUTS) + ["tensor"]),
                               decl.loc, hint="input kinds: image, vector, sequence, tokens, tensor")
    specs, make = _INPUTS[decl.kind]
    shape = make(bind_args(decl.kind, specs, args, kwargs, decl.loc, locs))
    if shape.integer and shape.vocab is None and vocab is not None:
        shape = Shape(shape.dims, integer=True, vocab=vocab)
    return shape
