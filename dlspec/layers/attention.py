"""Attention layers on [T, F] sequences: attention, transformer_encoder and positional.

Shape rules in pure Python (the feature size F is inferred from the input and
kept); the modules (runtime/attention.py) are built lazily. On a model whose
input is token ids, padded steps are masked out of every attention.
"""
from __future__ import annotations

from ..schema.args import Arg, positive, probability
from ..shapes import Shape, ShapeProblem
from ._base import layer
from .recurrent import _sequence


def _self_attention_infer(what):
    """The shape rule of a layer that attends over a [T, F] sequence with `heads` heads: [T, F] out."""
    def infer(shape: Shape, a: dict) -> Shape:
        _sequence(shape, what)
        features, heads = shape.dims[1], a["heads"]
        if features % heads:
            divisors = [h for h in range(1, features + 1) if features % h == 0]
            raise ShapeProblem(f"{what}: heads={heads} does not divide the feature size {features} (each head "
                               f"takes {features} / heads features); heads that do: {', '.join(map(str, divisors))}")
        return Shape(shape.dims, sequence=True)
    return infer


def _attention_build(shape: Shape, a: dict):
    from ..runtime.attention import SelfAttention
    return SelfAttention(shape.dims[1], a["heads"], a["dropout"])


def _attention_macs(i: Shape, o: Shape, a: dict) -> int:
    steps, features = i.dims
    return 4 * steps * features * features + 2 * steps * steps * features  # projections, scores and mixing


layer("attention", (Arg("heads", "int", check=positive, doc="attention heads; must divide the feature size"),
                    Arg("dropout", "float", 0.0, probability, doc="dropout on the attention weights")),
      infer=_self_attention_infer("attention"), build=_attention_build, macs=_attention_macs, weights="matrix",
      aliases=("self_attention",),  # not torch's class names: they take other arguments and return tuples
      doc="Multi-head self-attention over a [T, F] sequence (batch first): attention(heads, dropout=0).\n\n"
          "torch.nn.MultiheadAttention with query = key = value = the input; the embedding size is F, which "
          "heads must divide. Returns [T, F]. On token input the padded steps are masked: no step attends to a "
          "pad, the outputs at pads are zero, and last / mean_time / max_time read only the real steps.",
      examples=[((7, 8), {"heads": 2}), ((5, 6), {"heads": 3, "dropout": 0.1})])


def _layer_count(v) -> str | None:
    # the planner's limit of layers in a model (planning.planner.MAX_LAYERS): torch builds a stack one by one
    return positive(v) or (None if v <= 10_000 else "must be at most 10,000 (a model's limit of layers)")


def _ff(shape: Shape, a: dict) -> int:
    return a["ff"] if a["ff"] is not None else 4 * shape.dims[1]


def _encoder_build(shape: Shape, a: dict):
    from ..runtime.attention import TransformerEncoder
    return TransformerEncoder(shape.dims[1], a["layers"], a["heads"], _ff(shape, a), a["dropout"])


def _encoder_macs(i: Shape, o: Shape, a: dict) -> int:
    steps, features = i.dims
    return a["layers"] * (_attention_macs(i, o, a) + 2 * steps * features * _ff(i, a))


layer("transformer_encoder",
      (Arg("layers", "int", check=_layer_count, doc="encoder layers stacked"),
       Arg("heads", "int", check=positive, doc="attention heads; must divide the feature size"),
       Arg("ff", "int", None, positive, doc="feed-forward width (default 4 x the feature size)"),
       Arg("dropout", "float", 0.1, probability)),
      infer=_self_attention_infer("transformer_encoder"), build=_encoder_build, macs=_encoder_macs,
      weights="matrix",
      doc="A stack of transformer encoder layers over a [T, F] sequence (batch first): "
          "transformer_encoder(layers, heads, ff=4*F, dropout=0.1).\n\n"
          "torch.nn.TransformerEncoder of torch.nn.TransformerEncoderLayer(F, heads, dim_feedforward=ff, "
          "dropout, batch_first=True): post-norm, ReLU. Returns [T, F]. On token input the padded steps are "
          "masked (src_key_padding_mask), so padding never changes a real step; outputs at pads are zero. Add "
          "positional encodings first (positional): attention alone does not know the order of the steps.",
      examples=[((6, 8), {"layers": 2, "heads": 2}), ((4, 6), {"layers": 1, "heads": 3, "ff": 10, "dropout": 0.0})])


def _positional_infer(shape: Shape, a: dict) -> Shape:
    _sequence(shape, "positional")
    steps = shape.dims[0]
    if steps > a["max_len"]:
        raise ShapeProblem(f"positional: the sequence has {steps} steps, more than max_len={a['max_len']}; "
                           f"raise max_len to at least {steps}")
    return Shape(shape.dims, sequence=True)


def _positional_build(shape: Shape, a: dict):
    from ..runtime.attention import Positional
    return Positional(a["max_len"], shape.dims[1], a["kind"], steps=shape.dims[0])


layer("positional", (Arg("max_len", "int", check=positive, doc="the longest sequence it can encode"),
                     Arg("kind", "str", "learned", choices=("learned", "sinusoidal"))),
      infer=_positional_infer, build=_positional_build, macs=lambda i, o, a: 0,  # one addition per value
      weights="matrix", biases=False,
      aliases=("positional_encoding",),
      doc="Adds a position encoding to each step of a [T, F] sequence: positional(max_len, kind=learned).\n\n"
          "kind=learned: a trained [max_len, F] weight (initialised N(0, 0.02)); kind=sinusoidal: Vaswani et "
          "al.'s fixed table, sin(p / 10000^(2i/F)) at feature 2i and cos at 2i+1 (a buffer, not saved). "
          "Step t gets row t. T must be at most max_len.",
      examples=[((7, 8), {"max_len": 10}), ((5, 6), {"max_len": 5, "kind": "sinusoidal"})])
