"""Runtime torch modules the compiler emits where torch has no single class.

`Reshape` and `Permute` keep the batch dim; `GraphModule` runs a body with
bindings (skip connections, branches) by following its list of operations
(a VAE's chunk, sample_normal, kl_normal and add_loss among them: the terms a
forward adds to the loss are left in `added_losses`, name -> weighted batch mean);
`NamedGraphModule` is one with named inputs (taken in order or by name) and
named outputs (several: returned as a dict by name).
"""
from __future__ import annotations

import torch
from torch import nn


class Reshape(nn.Module):
    """Reshape each sample to `shape` (the batch dim is kept)."""

    def __init__(self, shape):
        super().__init__()
        self.shape = tuple(shape)

    def forward(self, x):
        return x.reshape((x.shape[0],) + self.shape)

    def extra_repr(self) -> str:
        return f"shape={self.shape}"


class Permute(nn.Module):
    """Reorder dims; `dims` includes the batch dim (0 first)."""

    def __init__(self, dims):
        super().__init__()
        self.dims = tuple(dims)

    def forward(self, x):
        return x.permute(self.dims)

    def extra_repr(self) -> str:
        return f"dims={self.dims}"


def _lined_up(value, axes: tuple):
    """`value` with size-1 axes inserted at `axes` (batched positions, increasing)."""
    for axis in axes:
        value = value.unsqueeze(axis)
    return value


def _merge(kind: str, values: list, dim: int, expand: tuple = ()):
    if expand:
        values = [_lined_up(v, axes) for v, axes in zip(values, expand)]
    if kind == "add":
        out = values[0]
        for v in values[1:]:
            out = out + v
        return out
    if kind == "mul":
        out = values[0]
        for v in values[1:]:
            out = out * v
        return out
    if kind == "matmul":
        return torch.matmul(values[0], values[1])
    if kind == "kl_normal":
        return kl_normal(values[0], values[1])
    return torch.cat(values, dim=dim)


def sample_normal(mu, logvar, training: bool):
    """The reparameterisation trick: mu + exp(0.5 * logvar) * eps with eps ~ N(0, 1) in training; mu in eval."""
    if not training:
        return mu
    return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)


def kl_normal(mu, logvar):
    """KL(N(mu, exp(logvar)) || N(0, 1)) of each sample, summed over its axes: [B, 1]."""
    per_value = 1 + logvar - mu.pow(2) - logvar.exp()
    return -0.5 * per_value.flatten(1).sum(1, keepdim=True)


class GraphModule(nn.Module):
    """A model or block with named intermediate results.

    `ops` is a list of (target, kind, name, inputs, dim, expand): kind "module"
    calls submodule `name` on `inputs[0]`; "add"/"mul"/"concat" merge `inputs`
    (names of results, parameters, or float constants; `expand` gives per input
    the axes to insert after the batch dim, so samples broadcast against samples);
    "ref" copies a result.
    """

    def __init__(self, ops, output: str):
        super().__init__()
        self._ops = [tuple(op) for op in ops]
        self._output = output
        self.added_losses = {}  # add_loss terms of the last forward: name -> weight * batch mean

    def forward(self, input):  # noqa: A002 - `input` is the spec's own name
        return self._run({"input": input}, input)[self._output]

    def _run(self, env: dict, first):
        """Execute the ops over `env` (the inputs by name); `first` sizes a param given to every sample."""
        for target, kind, name, inputs, dim, expand in self._ops:
            if kind == "module":
                env[target] = self._modules[name](self._sample_value(env, inputs[0], first))
            elif kind == "ref":
                env[target] = env[inputs[0]]
            elif kind == "chunk":  # expand holds the number of parts
                env[target] = torch.chunk(env[inputs[0]], expand[0], dim=dim)
            elif kind == "part":
                env[target] = env[inputs[0]][dim]
            elif kind == "sample_normal":
                env[target] = sample_normal(env[inputs[0]], env[inputs[1]], self.training)
            elif kind == "add_loss":  # expand holds the weight; the term is averaged over the batch
                self.added_losses[name] = env[inputs[0]].float().mean() * expand[0]
            else:
                env[target] = _merge(kind, [self._value(env, i) for i in inputs], dim, expand)
        return env

    def _sample_value(self, env, name, input):
        """A chain's start: a result, or a param given to every sample (a batch of copies, as planned)."""
        if name in env:
            return env[name]
        param = self._parameters[name]
        return param.unsqueeze(0).expand(input.shape[0], *param.shape)

    def _value(self, env, name):
        if isinstance(name, float):
            return name
        if name in env:
            return env[name]
        return self._parameters[name]


class NamedGraphModule(GraphModule):
    """A model with named inputs and outputs: `forward(*inputs, **by_name)` takes the inputs in their
    declaration order, or by name, and returns one tensor, or a dict name -> tensor for several outputs
    (in declaration order). `measure` (set by the compiler for a tokens input) sees that input first."""

    def __init__(self, ops, output: str, inputs, outputs=()):
        super().__init__(ops, output)
        self._inputs = tuple(inputs)
        self._outputs = tuple(outputs)
        self.measure = None  # (module, (token ids,)) -> None: a tokens input's padding lengths
        self.tokens_input = None

    def forward(self, *args, **by_name):
        env = self._bind_inputs(args, by_name)
        if self.measure is not None:
            self.measure(self, (env[self.tokens_input],))
        env = self._run(env, env[self._inputs[0]])
        if len(self._outputs) > 1:
            return {name: env[name] for name in self._outputs}
        return env[self._output]

    def _bind_inputs(self, args: tuple, by_name: dict) -> dict:
        """name -> tensor; a missing, doubled or unknown input is a TypeError naming the inputs."""
        names = self._inputs
        if len(args) > len(names):
            raise TypeError(f"this model takes {len(names)} inputs ({', '.join(names)}), received {len(args)}")
        env = dict(zip(names, args))
        for name, value in by_name.items():
            if name not in names:
                raise TypeError(f"this model has no input '{name}'; its inputs: {', '.join(names)}")
            if name in env:
                raise TypeError(f"input '{name}' given twice (by position and by name)")
            env[name] = value
        missing = [n for n in names if n not in env]
        if missing:
            raise TypeError(f"missing input(s) {', '.join(missing)}; this model takes {', '.join(names)}")
        return env
