"""Runtime modules for attention over [B, T, F] sequences: self-attention, a transformer
encoder stack and positional encodings.

Padding: in a model whose input is token ids, the `SequenceContext` of
runtime/recurrent.py holds each sequence's real length (pads on the right).
Attention then masks the padded keys, so no real step ever looks at a pad, and
the outputs at padded steps are zero (as a packed recurrent layer gives): the
same sentence alone or padded in a batch gives the same output.

While torch.export or torch.onnx trace a model, the mask is always made (no
data-dependent branch on whether anything is padded): a mask with no pad in it
masks nothing, so the traced model gives the same outputs.
"""
from __future__ import annotations

import math
from typing import Optional

import torch
from torch import nn

from .recurrent import _exporting, _lengths, current_context


def padding_mask(lengths: Optional[torch.Tensor], x: torch.Tensor) -> Optional[torch.Tensor]:
    """[B, T] True at padded steps (torch's key_padding_mask convention), or None when nothing is padded
    (while exporting, a mask whenever lengths are known: the exporter cannot record the branch)."""
    if lengths is None:
        return None
    if not _exporting() and not bool((lengths < x.shape[1]).any()):
        return None
    return torch.arange(x.shape[1], device=x.device)[None, :] >= lengths[:, None]


def _zero_padded(x: torch.Tensor, mask: Optional[torch.Tensor]) -> torch.Tensor:
    return x if mask is None else x.masked_fill(mask.unsqueeze(2), 0.0)


class SelfAttention(nn.Module):
    """nn.MultiheadAttention with query = key = value = the input, batch first; pads are masked."""

    def __init__(self, features: int, heads: int, dropout: float):
        super().__init__()
        self.attention = nn.MultiheadAttention(features, heads, dropout=dropout, batch_first=True)
        self.context = current_context()

    def forward(self, x):
        mask = padding_mask(_lengths(self.context, x), x)
        out, _ = self.attention(x, x, x, key_padding_mask=mask, need_weights=False)
        return _zero_padded(out, mask)


class TransformerEncoder(nn.Module):
    """nn.TransformerEncoder of `layers` post-norm nn.TransformerEncoderLayer (ReLU), batch first; pads are masked."""

    def __init__(self, features: int, layers: int, heads: int, ff: int, dropout: float):
        super().__init__()
        layer = nn.TransformerEncoderLayer(features, heads, dim_feedforward=ff, dropout=dropout, batch_first=True)
        # no nested-tensor fast path: it runs only in eval, and one code path for training, eval and traced exports
        # is easier to trust (pads come out zero either way, below)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.context = current_context()

    def forward(self, x):
        mask = padding_mask(_lengths(self.context, x), x)
        return _zero_padded(self.encoder(x, src_key_padding_mask=mask), mask)


def sinusoidal_table(max_len: int, features: int) -> torch.Tensor:
    """Vaswani et al.'s table: [max_len, features], sin at even features, cos at odd ones."""
    position = torch.arange(max_len, dtype=torch.float32)[:, None]
    rate = torch.exp(torch.arange(0, features, 2, dtype=torch.float32) * (-math.log(10000.0) / features))
    table = torch.zeros(max_len, features)
    table[:, 0::2] = torch.sin(position * rate)
    table[:, 1::2] = torch.cos(position * rate[: features // 2])
    return table


class Positional(nn.Module):
    """Adds a position's encoding to each step of [B, T, F]: a learned [max_len, F] weight or the fixed
    sinusoidal table (a buffer, rebuilt on load rather than stored; only its first `steps` rows, the ones
    a model with `steps` input steps reads, so a large max_len costs nothing)."""

    def __init__(self, max_len: int, features: int, kind: str, steps: Optional[int] = None):
        super().__init__()
        self.kind, self.max_len = kind, max_len
        if kind == "learned":
            self.weight = nn.Parameter(torch.randn(max_len, features) * 0.02)  # BERT's and GPT-2's scale
        else:
            rows = min(max_len, steps or max_len)
            self.register_buffer("table", sinusoidal_table(rows, features), persistent=False)

    def forward(self, x):
        table = self.weight if self.kind == "learned" else self.table
        if x.shape[1] > table.shape[0]:
            raise ValueError(f"positional: a sequence of {x.shape[1]} steps is longer than the "
                             f"{table.shape[0]} it was built for (max_len={self.max_len})")
        return x + table[: x.shape[1]]

    def extra_repr(self) -> str:
        return f"max_len={self.max_len}, kind={self.kind}"
