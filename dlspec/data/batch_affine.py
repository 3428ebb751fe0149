"""Batched geometric augmentation: affine steps (rotate, scale, translate, affine, and a flip beside them)
in; per step a function giving, per sample, the inverse of its random forward map as an [n, 3, 3] batch in
centred pixel coordinates out; and `fused_affine`, which applies a run of them as one resampling.

Split from data/batch_augment.py (whose BatchPipeline groups consecutive affine steps and calls
`fused_affine`); random numbers come from its `Rng` (`rng.uniform`, `rng.gen`), drawn as torchvision
draws them per sample. `warp` resamples with nearest neighbours and zeros outside, like torchvision.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def _matrices(*entries) -> torch.Tensor:
    """[n, 3, 3] from nine [n] tensors or numbers, row by row: one stack, not nine writes per step."""
    like = next(e for e in entries if isinstance(e, torch.Tensor))
    constants = {v: torch.full_like(like, float(v)) for v in set(e for e in entries if not isinstance(e, torch.Tensor))}
    return torch.stack([e if isinstance(e, torch.Tensor) else constants[e] for e in entries], 1).view(-1, 3, 3)


def _rotation(angle_deg: torch.Tensor) -> torch.Tensor:
    """Inverse of a counter-clockwise rotation on screen (y points down), like torchvision's."""
    a = torch.deg2rad(angle_deg)
    c, s = torch.cos(a), torch.sin(a)
    return _matrices(c, -s, 0, s, c, 0, 0, 0, 1)


def _scaling(s: torch.Tensor) -> torch.Tensor:
    inv = s.reciprocal()
    return _matrices(inv, 0, 0, 0, inv, 0, 0, 0, 1)


def _shift(tx: torch.Tensor, ty: torch.Tensor) -> torch.Tensor:
    return _matrices(1, 0, -tx, 0, 1, -ty, 0, 0, 1)


def _affine_inverse(degrees=0.0, translate=0.0, scale=(1.0, 1.0)):
    """Inverse map of torchvision's RandomAffine: translate, then rotate and scale about the centre."""
    def inverse(n, H, W, rng):
        parts = []
        if degrees:
            parts.append(_rotation(rng.uniform(n, -degrees, degrees)))
        if tuple(scale) != (1.0, 1.0):
            parts.append(_scaling(rng.uniform(n, scale[0], scale[1])))
        if translate:  # torchvision: a whole number of pixels in [-t*W, t*W]
            tx = rng.uniform(n, -translate * W, translate * W).round()
            ty = rng.uniform(n, -translate * H, translate * H).round()
            parts.append(_shift(tx, ty))
        m = parts[0] if parts else torch.eye(3, device=rng.device).expand(n, 3, 3)
        for p in parts[1:]:  # forward = T R S (translate last); its inverse = S^-1 R^-1 T^-1 (R, S commute)
            m = m @ p
        return m
    return inverse


def flip_inverse(args):
    """flip as an affine map (its own inverse: x -> -x, or y -> -y, per sample with probability p), for a
    flip next to affine steps: one resampling instead of a warp and a flip. Exact: a mirrored pixel centre
    is a pixel centre."""
    axis, p = (0 if args["direction"] == "horizontal" else 1), args["p"]

    def inverse(n, H, W, rng):
        coin = torch.rand(n, generator=rng.gen, device=rng.device) < p  # drawn as flip draws it
        sign = 1.0 - 2.0 * coin.float()
        one = torch.ones_like(sign)
        return _matrices(sign, 0, 0, 0, one, 0, 0, 0, 1) if axis == 0 else _matrices(one, 0, 0, 0, sign, 0, 0, 0, 1)
    return inverse


def rotate(args):
    return _affine_inverse(degrees=args["degrees"])


def scale(args):
    return _affine_inverse(scale=(args["min"], args["max"]))


def translate(args):
    return _affine_inverse(translate=args["fraction"])


def affine(args):
    return _affine_inverse(args["degrees"], args["translate"], tuple(args["scale"]))


_PIXEL_CENTRES: dict = {}  # (H, W, device, dtype) -> ([3, H * W] columns (x, y, 1) of centred pixels, [2, 1] to [-1, 1])


def _pixel_centres(H: int, W: int, like: torch.Tensor) -> tuple:
    key = (H, W, like.device, like.dtype)
    if key not in _PIXEL_CENTRES:
        if len(_PIXEL_CENTRES) > 16:
            _PIXEL_CENTRES.clear()
        ys, xs = torch.meshgrid(torch.arange(H, device=like.device, dtype=like.dtype) - (H - 1) / 2,
                                torch.arange(W, device=like.device, dtype=like.dtype) - (W - 1) / 2, indexing="ij")
        columns = torch.stack((xs.reshape(-1), ys.reshape(-1), torch.ones_like(xs).reshape(-1)))
        _PIXEL_CENTRES[key] = columns, torch.tensor([[2.0 / W], [2.0 / H]], device=like.device, dtype=like.dtype)
    return _PIXEL_CENTRES[key]


def warp(x: torch.Tensor, inverse: torch.Tensor, mode: str = "nearest") -> torch.Tensor:
    """Resample each image by its inverse map (centred pixels -> centred pixels), zeros outside: the grid
    F.affine_grid would give for the same map (pixel centres mapped, then scaled to [-1, 1]), computed as one
    plain matrix product of every sample's two rows with the cached pixel centres (affine_grid rebuilds
    its base grid every call, and a broadcast batched matmul costs ten times as much on a CPU)."""
    n, _, H, W = x.shape
    centres, to_norm = _pixel_centres(H, W, x)
    rows = inverse.to(device=x.device, dtype=x.dtype)[:, :2, :] * to_norm  # [n, 2, 3]: source in [-1, 1]
    grid = torch.mm(rows.reshape(n * 2, 3), centres).view(n, 2, H, W).permute(0, 2, 3, 1)
    return F.grid_sample(x, grid, mode=mode, padding_mode="zeros", align_corners=False)


def fused_affine(inverses: list):
    def op(x, y, rng):
        n, H, W = x.shape[0], x.shape[-2], x.shape[-1]
        m = inverses[0](n, H, W, rng)
        for inv in inverses[1:]:  # forward = A_k ... A_1, so the inverse is A_1^-1 ... A_k^-1
            m = m @ inv(n, H, W, rng)
        return warp(x, m), y
    return op


AFFINE = {"rotate": rotate, "scale": scale, "translate": translate, "affine": affine}
