"""Activation memory of one sample: a plan tree in, its estimate out (or a located error when it cannot fit).

Training keeps every layer's output for the backward pass, so one sample needs
at least the sum of the outputs' sizes, and every attention layer its weights
too (heads x T x T per sample, which grows with the square of the sequence:
tokens(100000) -> attention holds 10^10 floats per head). A shape that no machine can hold (a
padding of 2**32 makes a conv's output [4, 8589934600, 8589934600]) plans
without complaint, since shapes are only numbers; this estimate refuses it at
the line of its largest output before anything is built or run. Pure Python:
the memory limit is given by the caller (compiler.memory_limit).
"""
from __future__ import annotations

import math
from typing import Iterator

from ..errors import DlspecError
from .nodes import MERGES, BodyNode, LayerNode, iter_nodes

FLOAT_BYTES = 4  # float32, the training dtype
INTEGER_BYTES = 8  # int64 token ids


def _bytes(shape) -> int:
    if not all(isinstance(d, int) for d in shape.dims):  # a size known only at run time: not counted
        return 0
    return math.prod(shape.dims) * (INTEGER_BYTES if shape.integer else FLOAT_BYTES)


def outputs(plan: BodyNode) -> Iterator[tuple]:
    """(bytes of one sample, shape, what, loc) of every layer's output and every merge's result."""
    for name, shape in (plan.inputs or {"": plan.in_shape}).items():
        yield _bytes(shape), shape, f"input {name}" if name else "the input", plan.loc
    bodies = [plan] + [node for _, node, _ in iter_nodes(plan) if isinstance(node, BodyNode)]
    for _, node, _ in iter_nodes(plan):
        if isinstance(node, LayerNode):
            yield _bytes(node.out_shape), node.out_shape, node.name, node.loc
            weights = attention_weight_bytes(node)
            if weights:
                yield weights, None, f"the attention weights of {node.name} (heads x T x T per layer)", node.loc
    for body in bodies:
        for op in body.ops:
            if op.kind in MERGES:
                shape = body.shapes[op.target]
                yield _bytes(shape), shape, op.kind, op.loc


def attention_weight_bytes(node: LayerNode) -> int:
    """Bytes of the attention weights a self-attention layer keeps for backward: heads x T x T floats per
    sample for each of its layers (attention: one; transformer_encoder: `layers`)."""
    if node.layer.name not in ("attention", "transformer_encoder") or node.in_shape.rank != 2:
        return 0
    steps = node.in_shape.dims[0]
    if not isinstance(steps, int):
        return 0
    return node.args.get("layers", 1) * node.args["heads"] * steps * steps * FLOAT_BYTES


def activation_bytes(plan: BodyNode) -> int:
    """Bytes one sample's activations take in training: the input and every output, kept for backward."""
    return sum(part[0] for part in outputs(plan))


def check_activations(plan: BodyNode, limit: int) -> None:
    """Refuse a model one sample of which cannot fit `limit` bytes, at the line of its largest output."""
    parts = list(outputs(plan))
    total = sum(part[0] for part in parts)
    if total <= limit:
        return
    size, shape, what, loc = max(parts, key=lambda part: part[0])
    largest = f"the output of {what}, {shape}, alone takes" if shape is not None else f"{what} alone take"
    raise DlspecError(f"one sample's activations need {_gib(total)} GiB, more than the {_gib(limit)} GiB this "
                      f"machine has; {largest} {_gib(size)} GiB", loc,
                      hint="check the sizes on this line (a huge padding, stride or upsampling factor)")


def _gib(size: int) -> str:
    value = size / 2 ** 30
    return f"{value:,.1f}" if value < 1e15 else f"{value:.3g}"
