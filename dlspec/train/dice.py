"""The soft dice loss: logits [B, C, ...] and class indices [B, ...] in, one loss value out.

    p = softmax(logits) over the class axis, t = one-hot(targets)
    dice_c = (2 * sum(p_c * t_c) + smooth) / (sum(p_c) + sum(t_c) + smooth)    (sums over the batch's pixels)
    loss = 1 - mean over classes c of dice_c

Sums run over the whole batch (batch dice, as in V-Net and most segmentation code), so a class absent
from one image still counts where another image has it; `smooth` keeps a class absent from the whole
batch at dice 1 (nothing predicted) instead of 0 / 0.
"""
from __future__ import annotations

import torch


class DiceLoss(torch.nn.Module):
    def __init__(self, smooth: float = 1.0):
        super().__init__()
        self.smooth = smooth

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        classes = logits.shape[1]
        probs = logits.float().softmax(1)
        onehot = torch.nn.functional.one_hot(target.long(), classes).movedim(-1, 1).to(probs.dtype)
        dims = (0,) + tuple(range(2, probs.dim()))  # every axis but the class axis
        inter = (probs * onehot).sum(dims)
        card = probs.sum(dims) + onehot.sum(dims)
        dice = (2 * inter + self.smooth) / (card + self.smooth)
        return 1 - dice.mean()
