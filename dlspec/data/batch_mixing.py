"""Batch mixing: a batch (x, y) and a random source in, mixed images and soft targets out.

`mixup` blends pairs within the batch, `cutmix` pastes a box from another
sample; both weigh the two labels by what each image contributes. They draw
one mixing weight per batch (and cutmix its box) from the host-side
`random.Random` of the pipeline's `Rng`, so nothing waits for the device;
the pairing is an on-device permutation.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def soft_targets(y: torch.Tensor, classes: int) -> torch.Tensor:
    return y.float() if y.is_floating_point() else F.one_hot(y.long(), classes).float()


def mixup(args, classes: int):
    alpha = args["alpha"]

    def op(x, y, rng):
        lam = rng.host.betavariate(alpha, alpha)
        perm = torch.randperm(x.shape[0], generator=rng.gen, device=x.device)
        t = soft_targets(y, classes)
        return x * lam + x[perm] * (1 - lam), t * lam + t[perm] * (1 - lam)
    return op


def cutmix(args, classes: int):
    alpha = args["alpha"]

    def op(x, y, rng):
        H, W = x.shape[-2:]
        cut = math.sqrt(1.0 - rng.host.betavariate(alpha, alpha))
        ch, cw = int(H * cut), int(W * cut)
        cy, cx = rng.host.randrange(H), rng.host.randrange(W)
        y1, y2 = max(cy - ch // 2, 0), min(cy + ch // 2, H)
        x1, x2 = max(cx - cw // 2, 0), min(cx + cw // 2, W)
        lam = 1.0 - (y2 - y1) * (x2 - x1) / (H * W)  # the share actually kept
        perm = torch.randperm(x.shape[0], generator=rng.gen, device=x.device)
        x = x.clone()
        x[:, :, y1:y2, x1:x2] = x[perm][:, :, y1:y2, x1:x2]
        t = soft_targets(y, classes)
        return x, t * lam + t[perm] * (1 - lam)
    return op
