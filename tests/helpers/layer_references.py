"""What every shipped layer means, written in plain torch: the references test_axes_conformance.py compares
each built layer with, on every input kind the layer accepts.

`REFERENCES` has one entry per layer name (aliases are not listed). A `Ref` gives the arguments the
test calls the layer with and `ref(model, x, shape, args)`: the documented meaning computed from the
batch `x` with plain torch, reusing the weights of the built `model` (an nn.Sequential whose last child
is the layer; `layer(model)` reads it). `shape` is the planned input Shape, so a reference can say what
the layer means on each kind: `on_channels` is the meaning of a channels-first layer (on a sequence:
the 1-d torch module applied to x.transpose(1, 2) and transposed back).

To add a layer `name`:

    REFERENCES["name"] = Ref({"arg": value}, lambda model, x, shape, a: <plain torch on x>)

with `train=True` when its meaning is checked in training mode (the test seeds torch the same way
before the layer and before the reference, so a dropout mask is the same), and `before="lstm(5)"`
when it must follow another step. `args` may be a function of the input Shape. A registered layer
without an entry fails the suite.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class Ref:
    args: object  # dict, or Shape -> dict
    ref: Callable
    train: bool = False
    before: Optional[str] = None


def layer(model: nn.Module) -> nn.Module:
    return list(model.children())[-1]


def spatial(shape) -> int:
    return len(shape.spatial_axes)


def channels(shape) -> int:
    return shape.dims[shape.channel_axis]


def on_channels(x, shape, fn):
    """A channels-first meaning: `fn` sees [B, C, ...]; a sequence [B, T, F] is transposed to [B, F, T]."""
    if shape.layout == "TF":
        return fn(x.transpose(1, 2)).transpose(1, 2)
    axis = shape.channel_axis + 1
    return fn(x.movedim(axis, 1)).movedim(1, axis)


def with_weights(module: nn.Module, source: nn.Module) -> nn.Module:
    """`module` (plain torch) holding the parameters and buffers of `source`, matched by name."""
    module.load_state_dict(source.state_dict())
    return module.eval() if not source.training else module


def _torch_module(make):
    """The reference of a channels-first layer with weights: make(shape, args) is the plain torch module."""
    def ref(model, x, shape, a):
        return on_channels(x, shape, with_weights(make(shape, a), layer(model)))
    return ref


def _functional(fn):
    """The reference of a channels-first layer without weights: fn(x, n spatial dims, args)."""
    return lambda model, x, shape, a: on_channels(x, shape, lambda y: fn(y, spatial(shape), a))


def _conv(shape, a):
    cls = getattr(nn, f"Conv{spatial(shape)}d")
    return cls(channels(shape), a["out"], a["kernel"], padding=a.get("padding", 0), stride=a.get("stride", 1))


def _norm(prefix, **kw):
    def make(shape, a):
        n = max(spatial(shape), 1)
        cls = getattr(nn, f"{prefix}{n}d")
        return cls(channels(shape), **kw)
    return make


def _recurrent(cls):
    def ref(model, x, shape, a):
        rnn = cls(shape.dims[-1], a["hidden"], batch_first=True)
        return with_weights(rnn, layer(model).rnn)(x)[0]
    return ref


def _cell(cls):
    def ref(model, x, shape, a):
        cell = with_weights(cls(shape.dims[-1], a["hidden"]), layer(model).cell)
        state, outputs = None, []
        for t in range(x.shape[1]):
            state = cell(x[:, t], state)
            outputs.append(state[0] if isinstance(state, tuple) else state)
        return torch.stack(outputs, 1)
    return ref


def _linear(model, x, shape, a):
    m = layer(model)
    return x @ m.weight.T + m.bias


def _permute_args(shape):
    return {"dims": tuple(range(shape.rank, 0, -1))}  # reverse the sample axes, counted from 1


def _self_attention(mha: nn.MultiheadAttention, x):
    """Scaled dot-product self-attention written out: [B, T, F] in, [B, T, F] out (no padding here)."""
    b, t, f = x.shape
    h = mha.num_heads
    d = f // h
    q, k, v = (x @ mha.in_proj_weight.T + mha.in_proj_bias).chunk(3, dim=-1)
    q, k, v = (z.reshape(b, t, h, d).transpose(1, 2) for z in (q, k, v))
    weights = (q @ k.transpose(-1, -2) / math.sqrt(d)).softmax(-1)
    return (weights @ v).transpose(1, 2).reshape(b, t, f) @ mha.out_proj.weight.T + mha.out_proj.bias


def _transformer_encoder(model, x, shape, a):
    """Post-norm encoder layers with ReLU feed-forward, as in Vaswani et al. and torch's default."""
    f = x.shape[-1]
    for block in layer(model).encoder.layers:
        x = F.layer_norm(x + _self_attention(block.self_attn, x), (f,), block.norm1.weight, block.norm1.bias,
                         block.norm1.eps)
        ff = F.relu(x @ block.linear1.weight.T + block.linear1.bias) @ block.linear2.weight.T + block.linear2.bias
        x = F.layer_norm(x + ff, (f,), block.norm2.weight, block.norm2.bias, block.norm2.eps)
    return x


def _sinusoidal(steps: int, features: int) -> torch.Tensor:
    return torch.tensor([[math.sin(p / 10000 ** (i / features)) if i % 2 == 0
                          else math.cos(p / 10000 ** ((i - 1) / features)) for i in range(features)]
                         for p in range(steps)])


def _activation(fn, args=None):
    return Ref(args or {}, lambda model, x, shape, a: fn(x, a))


REFERENCES = {
    "conv": Ref({"out": 5, "kernel": 3, "padding": 1}, _torch_module(_conv)),
    "conv1d": Ref({"out": 5, "kernel": 3}, _torch_module(_conv)),
    "conv2d": Ref({"out": 5, "kernel": 2}, _torch_module(_conv)),
    "conv3d": Ref({"out": 3, "kernel": 2}, _torch_module(_conv)),
    "conv_transpose": Ref({"out": 3, "kernel": 2, "stride": 2}, _torch_module(
        lambda s, a: getattr(nn, f"ConvTranspose{spatial(s)}d")(channels(s), 3, 2, stride=2))),
    "maxpool": Ref({"kernel": 2}, _functional(lambda y, n, a: getattr(F, f"max_pool{n}d")(y, 2))),
    "avgpool": Ref({"kernel": 2}, _functional(lambda y, n, a: getattr(F, f"avg_pool{n}d")(y, 2))),
    "adaptive_avgpool": Ref({"size": 2}, _functional(lambda y, n, a: getattr(F, f"adaptive_avg_pool{n}d")(y, 2))),
    "adaptive_maxpool": Ref({"size": 2}, _functional(lambda y, n, a: getattr(F, f"adaptive_max_pool{n}d")(y, 2))),
    "global_avgpool": Ref({}, _functional(lambda y, n, a: y.mean(tuple(range(2, 2 + n)), keepdim=True))),
    "global_maxpool": Ref({}, _functional(lambda y, n, a: y.amax(tuple(range(2, 2 + n)), keepdim=True))),
    "upsample": Ref({"scale": 2.0}, _functional(lambda y, n, a: F.interpolate(y, scale_factor=2.0))),
    "batchnorm": Ref({}, _torch_module(_norm("BatchNorm"))),
    "groupnorm": Ref({"groups": 2}, _torch_module(lambda s, a: nn.GroupNorm(2, channels(s)))),
    "instancenorm": Ref({"affine": True}, _torch_module(_norm("InstanceNorm", affine=True))),
    "layernorm": Ref({}, lambda model, x, shape, a: with_weights(nn.LayerNorm(shape.dims[-1]), layer(model))(x)),
    "dropout": Ref({"p": 0.5}, lambda model, x, shape, a: F.dropout(x, 0.5, training=True), train=True),
    "dropout2d": Ref({"p": 0.5}, _functional(lambda y, n, a: getattr(F, f"dropout{n}d")(y, 0.5, training=True)),
                     train=True),
    "linear": Ref({"out": 3}, _linear),
    "embedding": Ref({"dim": 4}, lambda model, x, shape, a: F.embedding(x, layer(model).weight)),
    "flatten": Ref({}, lambda model, x, shape, a: x.reshape(x.shape[0], -1)),
    "reshape": Ref({"shape": (-1, 2)}, lambda model, x, shape, a: x.reshape(x.shape[0], -1, 2)),
    "permute": Ref(_permute_args, lambda model, x, shape, a: x.permute(0, *range(shape.rank, 0, -1))),
    "identity": Ref({}, lambda model, x, shape, a: x),
    "relu": _activation(lambda x, a: F.relu(x)),
    "leaky_relu": _activation(lambda x, a: F.leaky_relu(x, 0.2), {"slope": 0.2}),
    "elu": _activation(lambda x, a: F.elu(x, 0.5), {"alpha": 0.5}),
    "gelu": _activation(lambda x, a: F.gelu(x)),
    "silu": _activation(lambda x, a: x * torch.sigmoid(x)),
    "sigmoid": _activation(lambda x, a: torch.sigmoid(x)),
    "tanh": _activation(lambda x, a: torch.tanh(x)),
    "softmax": _activation(lambda x, a: torch.softmax(x, -1), {"dim": -1}),
    "log_softmax": _activation(lambda x, a: torch.log_softmax(x, 1), {"dim": 1}),
    "relu6": _activation(lambda x, a: x.clamp(0, 6)),
    "hardswish": _activation(lambda x, a: x * (x + 3).clamp(0, 6) / 6),
    "mish": _activation(lambda x, a: x * torch.tanh(torch.log1p(torch.exp(x)))),
    "softplus": _activation(lambda x, a: torch.where(2 * x > 20, x, torch.log1p(torch.exp(2 * x)) / 2),
                            {"beta": 2.0}),
    "prelu": Ref({"init": 0.1}, lambda model, x, shape, a: torch.where(x >= 0, x, layer(model).weight * x)),
    "attention": Ref({"heads": 1}, lambda model, x, shape, a: _self_attention(layer(model).attention, x)),
    "transformer_encoder": Ref({"layers": 2, "heads": 1, "ff": 7}, _transformer_encoder),
    "positional": Ref({"max_len": 64}, lambda model, x, shape, a: x + layer(model).weight[:x.shape[1]]),
    "rnn": Ref({"hidden": 5}, _recurrent(nn.RNN)),
    "lstm": Ref({"hidden": 5}, _recurrent(nn.LSTM)),
    "gru": Ref({"hidden": 5}, _recurrent(nn.GRU)),
    "lstm_cell": Ref({"hidden": 5}, _cell(nn.LSTMCell)),
    "gru_cell": Ref({"hidden": 5}, _cell(nn.GRUCell)),
    "last": Ref({}, lambda model, x, shape, a: x[:, -1]),
    "mean_time": Ref({}, lambda model, x, shape, a: x.mean(1)),
    "max_time": Ref({}, lambda model, x, shape, a: x.amax(1)),
    # the final hidden state of a one-way lstm is its last step's output
    "hidden": Ref({}, lambda model, x, shape, a: with_weights(nn.LSTM(shape.dims[-1], 5, batch_first=True),
                                                              list(model.children())[0].rnn)(x)[0][:, -1],
                  before="lstm(5)"),
    # the example plugin (examples/custom_layer_plugin): a linear layer times a learnt per-feature scale
    "scaled_linear": Ref({"out": 3}, lambda model, x, shape, a: (x @ layer(model).linear.weight.T
                                                                 + layer(model).linear.bias) * layer(model).scale),
}
