"""Runtime modules for sequences: recurrent layers that respect padding, explicit
cell unrolling, and the time selectors (last, hidden, mean_time, max_time).

Padding: for a model whose input is token ids, a forward pre-hook measures
each sequence's real length (id 0 is padding, sequences are padded on the
right) into a `SequenceContext` shared by the layers of that model, keyed by
the number of steps. A layer that changes the number of steps (a conv or a
pooling along time: runtime/hooks.py's ChannelsFirst) adds the lengths of its
output under its own number of steps (planning/lengths.py says how), so each
layer reads the lengths of the steps it gets. Recurrent layers then pack the
batch, so padding never changes a prediction, and the selectors look only at
real steps. (Two branches of one graph that bring the sequence to the same
number of steps by different layers share the lengths of the one run last.)

While torch.export or torch.onnx trace a model, a data-dependent Python branch
cannot be recorded, and packing cannot be exported: recurrent layers then run
each layer and direction on the padded batch, the backward direction over each
sequence reversed within its length, which gives the packed result (pads never
reach a real step) with operations every exporter knows.
"""
from __future__ import annotations

import contextlib
import contextvars
import sys
from typing import Optional

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

_BUILDING: contextvars.ContextVar = contextvars.ContextVar("dlspec_sequence_context", default=None)


class SequenceContext:
    """Per-model state shared by its sequence layers: lengths of the current batch, last hidden state."""

    def __init__(self):
        self.lengths: Optional[torch.Tensor] = None  # of the token input
        self.by_steps: dict = {}  # number of time steps -> lengths of a sequence with that many steps
        self.hidden: Optional[torch.Tensor] = None
        self.users = 0

    def measure_lengths(self, module, inputs):
        tokens = inputs[0]
        positions = torch.arange(1, tokens.shape[1] + 1, device=tokens.device)
        self.lengths = ((tokens != 0).long() * positions).amax(1).clamp_min(1)
        self.by_steps = {int(tokens.shape[1]): self.lengths}  # int: a traced size is a tensor
        return None

    def lengths_for(self, x: torch.Tensor) -> Optional[torch.Tensor]:
        """The real lengths of the [B, T, ...] batch x (by its number of steps T), or None."""
        lengths = self.by_steps.get(int(x.shape[1]))
        if lengths is None or lengths.shape[0] != x.shape[0]:
            return None
        return lengths


@contextlib.contextmanager
def building_with(context: SequenceContext):
    token = _BUILDING.set(context)
    try:
        yield
    finally:
        _BUILDING.reset(token)


def current_context() -> SequenceContext:
    context = _BUILDING.get() or SequenceContext()
    context.users += 1
    return context


def _lengths(context: SequenceContext, x: torch.Tensor) -> Optional[torch.Tensor]:
    return context.lengths_for(x)


def _final_hidden(h_n: torch.Tensor, bidirectional: bool) -> torch.Tensor:
    """The last layer's final state; both directions concatenated."""
    if bidirectional:
        return torch.cat([h_n[-2], h_n[-1]], dim=1)
    return h_n[-1]


def _exporting() -> bool:
    """True while torch.export (dynamo) or torch.onnx trace a model (torch.onnx is not imported to ask:
    until something imports it, no ONNX export is running)."""
    is_exporting = getattr(getattr(torch, "compiler", None), "is_exporting", None)
    onnx = sys.modules.get("torch.onnx")
    return bool(is_exporting is not None and is_exporting()) or bool(onnx is not None and onnx.is_in_onnx_export())


def _run_padded(rnn: nn.RNNBase, x: torch.Tensor, lengths: torch.Tensor):
    """(outputs, h_n) as the packed batch gives them (outputs zero past each sequence's end, h_n at
    its last real step), without packing or data-dependent branches: one call per layer and direction."""
    steps = torch.arange(x.shape[1], device=x.device)
    real = steps[None, :] < lengths[:, None]  # [B, T]
    flip = torch.where(real, lengths[:, None] - 1 - steps[None, :], steps[None, :])  # reverses real steps only
    rows = torch.arange(x.shape[0], device=x.device)
    directions = 2 if rnn.bidirectional else 1
    h_n = []
    for layer in range(rnn.num_layers):
        if layer:
            x = nn.functional.dropout(x, rnn.dropout, rnn.training)
        outs = []
        for direction in range(directions):
            suffix = f"_l{layer}" + ("_reverse" if direction else "")
            weights = [getattr(rnn, name + suffix) for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
                       if rnn.bias or name.startswith("weight")]
            if direction == 0:
                out = _one_pass(rnn, x, weights)
                h_n.append(out[rows, lengths - 1])
            else:  # the reversed sequence's last step is step 0 of the sequence
                out = _gather_steps(_one_pass(rnn, _gather_steps(x, flip), weights), flip)
                h_n.append(out[:, 0])
            outs.append(out)
        x = torch.where(real.unsqueeze(2), torch.cat(outs, 2), torch.zeros((), dtype=x.dtype, device=x.device))
    return x, torch.stack(h_n)


def _gather_steps(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """x[b, index[b, t]] for every b, t."""
    return x.gather(1, index.unsqueeze(2).expand(-1, -1, x.shape[2]))


def _one_pass(rnn: nn.RNNBase, x: torch.Tensor, weights: list) -> torch.Tensor:
    """The outputs of one layer and direction of `rnn` (given as its weights) over a batch-first x."""
    h0 = x.new_zeros(1, x.shape[0], rnn.hidden_size)
    if isinstance(rnn, nn.LSTM):
        return torch.lstm(x, (h0, h0), weights, rnn.bias, 1, 0.0, False, False, True)[0]
    run = torch.gru if isinstance(rnn, nn.GRU) else (torch.rnn_tanh if rnn.nonlinearity == "tanh" else torch.rnn_relu)
    return run(x, h0, weights, rnn.bias, 1, 0.0, False, False, True)[0]


class Recurrent(nn.Module):
    """nn.RNN / nn.LSTM / nn.GRU, batch first, packing padded batches; returns all steps."""

    def __init__(self, kind: str, input_size: int, hidden: int, layers: int, bidirectional: bool, dropout: float):
        super().__init__()
        self.kind = kind
        cls = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[kind]
        self.rnn = cls(input_size, hidden, num_layers=layers, bidirectional=bidirectional,
                       dropout=dropout if layers > 1 else 0.0, batch_first=True)
        self.context = current_context()

    def forward(self, x):
        lengths = _lengths(self.context, x)
        if lengths is not None and _exporting():
            out, state = _run_padded(self.rnn, x, lengths)
        elif lengths is not None and bool((lengths < x.shape[1]).any()):
            packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
            out, state = self.rnn(packed)
            out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
        else:
            out, state = self.rnn(x)
        h_n = state[0] if isinstance(state, tuple) else state
        self.context.hidden = _final_hidden(h_n, self.rnn.bidirectional)
        return out


class UnrolledCell(nn.Module):
    """nn.LSTMCell / nn.GRUCell stepped over time explicitly; steps past a sequence's end keep its state."""

    def __init__(self, kind: str, input_size: int, hidden: int):
        super().__init__()
        self.kind = kind
        self.cell = (nn.LSTMCell if kind == "lstm" else nn.GRUCell)(input_size, hidden)
        self.context = current_context()

    def forward(self, x):
        batch, steps, _ = x.shape
        h = x.new_zeros(batch, self.cell.hidden_size)
        c = x.new_zeros(batch, self.cell.hidden_size)
        lengths = _lengths(self.context, x)
        outputs = []
        for t in range(steps):
            if self.kind == "lstm":
                h_new, c_new = self.cell(x[:, t], (h, c))
            else:
                h_new, c_new = self.cell(x[:, t], h), c
            if lengths is not None:
                live = (t < lengths).unsqueeze(1)
                h_new, c_new = torch.where(live, h_new, h), torch.where(live, c_new, c)
                outputs.append(torch.where(live, h_new, torch.zeros_like(h_new)))
            else:
                outputs.append(h_new)
            h, c = h_new, c_new
        self.context.hidden = h
        return torch.stack(outputs, dim=1)


class TimeSelect(nn.Module):
    """Reduce [B, T, F] to [B, F]: last real step, final hidden state, mean or max over real steps."""

    def __init__(self, how: str):
        super().__init__()
        self.how = how
        self.context = current_context()

    def forward(self, x):
        if self.how == "hidden":
            return self.context.hidden
        lengths = _lengths(self.context, x)
        if self.how == "last":
            if lengths is None:
                return x[:, -1]
            return x[torch.arange(x.shape[0], device=x.device), lengths - 1]
        if lengths is None:
            return x.mean(1) if self.how == "mean" else x.amax(1)
        mask = (torch.arange(x.shape[1], device=x.device)[None, :] < lengths[:, None]).unsqueeze(2)
        if self.how == "mean":
            return (x * mask).sum(1) / lengths.unsqueeze(1).to(x.dtype)
        return x.masked_fill(~mask, float("-inf")).amax(1)

    def extra_repr(self) -> str:
        return self.how
