"""Batched augmentation: checked `augment` steps in, one callable over whole batches out.

Every op draws its random numbers per sample from a generator on the batch's
device (no Python loop over samples, no host sync), with the same
distribution as the torchvision per-sample transform of the same spec step:
flip (a coin per sample), random_crop (zero padding, a uniform offset per
sample, by gather), rotate / scale / translate / affine (consecutive steps
fused into one `grid_sample` per batch, nearest like torchvision:
data/batch_affine.py), noise, colour jitter (per-sample factors and per-sample order),
random erasing / cutout, grayscale, center_crop, resize; `mixup` and `cutmix`
(data/batch_mixing.py) mix pairs within the batch and make soft targets.
Normalisation is fused at the end of `BatchPipeline`.
"""
from __future__ import annotations

import math
import random

import torch
import torch.nn.functional as F

from ..errors import DataError
from .batch_affine import AFFINE, flip_inverse, fused_affine
from .batch_mixing import cutmix, mixup

_GRAY = (0.2989, 0.587, 0.114)  # torchvision's rgb_to_grayscale weights


class Rng:
    """The random sources of a batched pipeline: a device generator and a host one, reseeded per epoch."""

    def __init__(self, device: torch.device, seed: int = 0):
        self.device = torch.device(device)
        self.gen = torch.Generator(device=self.device)
        self.host = random.Random()
        self.seed(seed)

    def seed(self, seed: int) -> None:
        self.gen.manual_seed(seed)
        self.host.seed(seed)

    def uniform(self, n: int, low: float, high: float) -> torch.Tensor:
        return torch.rand(n, generator=self.gen, device=self.device).mul_(high - low).add_(low)


class GlobalRng(Rng):
    """torch's and Python's global generators: what the per-sample path draws from (seeded by the run)."""

    def __init__(self):  # noqa: super().__init__ not called: no generator of its own
        self.device, self.gen, self.host = torch.device("cpu"), None, random

    def seed(self, seed: int) -> None:
        raise TypeError("the global generators are seeded by the run")


class PerSample:
    """A batched op applied to one sample (a batch of one), for steps torchvision lacks (cutout)."""

    def __init__(self, op):
        self.op = op

    def __call__(self, x):
        return self.op(x.unsqueeze(0), None, GlobalRng())[0][0]


def per_sample(name: str, args: dict) -> PerSample:
    return PerSample(OPS[name](args))


def per_sample_noise(args: dict, kept: tuple) -> PerSample:
    """noise(std) per sample, leaving `kept` channels as they are (torchvision's GaussianNoise cannot)."""
    return PerSample(noise(args, kept))


def _per_sample(mask: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return mask.view(-1, *([1] * (x.dim() - 1)))


# ---- geometric ----------------------------------------------------------


def flip(args):
    dim, p = (-1 if args["direction"] == "horizontal" else -2), args["p"]

    def op(x, y, rng):
        coin = torch.rand(x.shape[0], generator=rng.gen, device=x.device) < p
        return torch.where(_per_sample(coin, x), x.flip(dim), x), y
    return op


def _pad4(padding) -> tuple:
    """torchvision's padding forms as (left, top, right, bottom)."""
    if padding is None:
        return 0, 0, 0, 0
    p = [padding] if isinstance(padding, int) else list(padding)
    if len(p) == 1:
        return p[0], p[0], p[0], p[0]
    if len(p) == 2:
        return p[0], p[1], p[0], p[1]
    return tuple(p[:4])


def _hw(size) -> tuple:
    s = [size] if isinstance(size, int) else list(size)
    return (s[0], s[0]) if len(s) == 1 else (s[0], s[1])


_CROP_OFFSETS: dict = {}  # (h, w, W, device) -> [1, h * w]: each crop pixel's offset from the crop's corner


def _crop_offsets(h: int, w: int, W: int, device) -> torch.Tensor:
    key = (h, w, W, device)
    if key not in _CROP_OFFSETS:
        if len(_CROP_OFFSETS) > 16:
            _CROP_OFFSETS.clear()
        rows = torch.arange(h, device=device).view(h, 1) * W
        _CROP_OFFSETS[key] = (rows + torch.arange(w, device=device).view(1, w)).view(1, h * w)
    return _CROP_OFFSETS[key]


def crop_at(x: torch.Tensor, top: torch.Tensor, left: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """x[b, :, top[b]:top[b]+h, left[b]:left[b]+w] for every b, by one gather over the flattened pixels
    (one index per output pixel, shared by the channels: no permuted copies)."""
    n, c, _, W = x.shape
    corner = top.view(-1, 1) * W + left.view(-1, 1)  # [n, 1]: where each crop starts in the flattened image
    flat = (corner + _crop_offsets(h, w, W, x.device)).view(n, 1, h * w)
    return x.reshape(n, c, -1).gather(2, flat.expand(n, c, h * w)).view(n, c, h, w)


def random_crop(args, loc=None):
    h, w = _hw(args["size"])
    left, top, right, bottom = _pad4(args["padding"])

    def op(x, y, rng):
        if any((left, top, right, bottom)):
            x = F.pad(x, (left, right, top, bottom))
        H, W = x.shape[-2:]
        if h > H or w > W:
            raise DataError(f"random_crop: the crop {h}x{w} is larger than the (padded) image {H}x{W}", loc)
        n = x.shape[0]
        dy = torch.randint(0, H - h + 1, (n,), generator=rng.gen, device=x.device)
        dx = torch.randint(0, W - w + 1, (n,), generator=rng.gen, device=x.device)
        return crop_at(x, dy, dx, h, w), y
    return op


def center_crop(args):
    h, w = _hw(args["size"])

    def op(x, y, rng):
        from torchvision.transforms.v2.functional import center_crop as cc
        return cc(x, [h, w]), y
    return op


def resize(args):
    size = args["size"]

    def op(x, y, rng):
        from torchvision.transforms.v2.functional import resize as rs
        return rs(x, list(size) if isinstance(size, tuple) else size, antialias=True), y
    return op


# ---- photometric ----------------------------------------------------------


def noise(args, kept: tuple = ()):
    """Gaussian noise; `kept` channels (a table's category features: level indices, one-hot) get none."""
    std, mean = args["std"], args["mean"]

    def op(x, y, rng):
        added = torch.randn(x.shape, generator=rng.gen, device=x.device, dtype=x.dtype).mul_(std)
        if mean:
            added.add_(mean)
        if kept:
            mask = torch.ones(x.shape[1], device=x.device, dtype=x.dtype)
            mask[list(kept)] = 0.0
            added.mul_(mask.view((1, -1) + (1,) * (x.dim() - 2)))
        return added.add_(x), y  # in the noise's own buffer: x may be a view of the cached split
    return op


def gray(x: torch.Tensor) -> torch.Tensor:
    if x.shape[1] == 1:
        return x
    r, g, b = x.unbind(1)
    return (r * _GRAY[0] + g * _GRAY[1] + b * _GRAY[2]).unsqueeze(1)


def grayscale(args):
    channels = args["channels"]

    def op(x, y, rng):
        g = gray(x)
        return (g.expand(-1, 3, -1, -1).contiguous() if channels == 3 else g), y
    return op


def _blend(x, other, f):
    return (x * f + other * (1 - f)).clamp(0, 1)


def _hue(x, f):
    from torchvision.transforms.v2.functional._color import _hsv_to_rgb, _rgb_to_hsv
    h, s, v = _rgb_to_hsv(x).unbind(1)
    return _hsv_to_rgb(torch.stack(((h + f[:, 0]).remainder(1.0), s, v), 1))


_JITTER = {  # name -> (apply(x, factor [n,1,1,1]), identity factor)
    "brightness": (lambda x, f: (x * f).clamp(0, 1), 1.0),
    "contrast": (lambda x, f: _blend(x, gray(x).mean(dim=(1, 2, 3), keepdim=True), f), 1.0),
    "saturation": (lambda x, f: x if x.shape[1] == 1 else _blend(x, gray(x), f), 1.0),
    "hue": (lambda x, f: x if x.shape[1] == 1 else _hue(x, f), 0.0),
}


def color_jitter(args):
    """torchvision's ColorJitter: per-sample factors, the four steps in a per-sample random order."""
    ranges = {k: ((-v, v) if k == "hue" else (max(0.0, 1 - v), 1 + v)) for k, v in args.items() if v}

    def op(x, y, rng):
        n = x.shape[0]
        names = list(_JITTER)
        order = torch.rand(n, 4, generator=rng.gen, device=x.device).argsort(1)  # a random permutation per sample
        factors = {k: rng.uniform(n, lo, hi).view(-1, 1, 1, 1) for k, (lo, hi) in ranges.items()}
        for position in range(4):  # at each position, each sample applies the step its order puts there
            for k in ranges:
                apply, identity = _JITTER[k]
                chosen = (order[:, position] == names.index(k)).view(-1, 1, 1, 1)
                x = apply(x, torch.where(chosen, factors[k], torch.full_like(factors[k], identity)))
        return x, y
    return op


def brightness(args):
    return color_jitter({"brightness": args["factor"]})


def contrast(args):
    return color_jitter({"contrast": args["factor"]})


def _erase(x, top, left, h, w, erase, value):
    H, W = x.shape[-2:]
    rows = torch.arange(H, device=x.device).view(1, H, 1)
    cols = torch.arange(W, device=x.device).view(1, 1, W)
    inside = (rows >= top.view(-1, 1, 1)) & (rows < (top + h).view(-1, 1, 1)) & \
             (cols >= left.view(-1, 1, 1)) & (cols < (left + w).view(-1, 1, 1)) & erase.view(-1, 1, 1)
    return x.masked_fill(inside.unsqueeze(1), value)


def random_erasing(args):
    """torchvision's RandomErasing: up to 10 tries per sample for a box inside the image."""
    p, (s0, s1), (r0, r1), value = args["p"], args["scale"], args["ratio"], args["value"]

    def op(x, y, rng):
        n, (H, W), tries = x.shape[0], x.shape[-2:], 10
        area = H * W * rng.uniform(n * tries, s0, s1)
        aspect = torch.exp(rng.uniform(n * tries, math.log(r0), math.log(r1)))
        h = torch.sqrt(area * aspect).round().long().view(n, tries)
        w = torch.sqrt(area / aspect).round().long().view(n, tries)
        ok = (h < H) & (w < W)
        first = ok.long().argmax(1, keepdim=True)  # the first try that fits
        h, w = h.gather(1, first)[:, 0], w.gather(1, first)[:, 0]
        erase = ok.any(1) & (torch.rand(n, generator=rng.gen, device=x.device) < p)
        top = (torch.rand(n, generator=rng.gen, device=x.device) * (H - h + 1)).long()
        left = (torch.rand(n, generator=rng.gen, device=x.device) * (W - w + 1)).long()
        return _erase(x, top, left, h, w, erase, value), y
    return op


def cutout(args):
    """A size x size square of zeros around a uniform centre, clipped at the edges (DeVries & Taylor)."""
    size, p = args["size"], args["p"]

    def op(x, y, rng):
        n, (H, W) = x.shape[0], x.shape[-2:]
        cy = torch.randint(0, H, (n,), generator=rng.gen, device=x.device)
        cx = torch.randint(0, W, (n,), generator=rng.gen, device=x.device)
        top, left = (cy - size // 2).clamp(min=0), (cx - size // 2).clamp(min=0)
        h = (cy - size // 2 + size).clamp(max=H) - top
        w = (cx - size // 2 + size).clamp(max=W) - left
        erase = torch.rand(n, generator=rng.gen, device=x.device) < p
        return _erase(x, top, left, h, w, erase, 0.0), y
    return op


OPS = {"flip": flip, "random_crop": random_crop, "center_crop": center_crop, "resize": resize,
       "noise": noise, "grayscale": grayscale, "color_jitter": color_jitter, "brightness": brightness,
       "contrast": contrast, "random_erasing": random_erasing, "cutout": cutout}
MIXING = {"mixup": mixup, "cutmix": cutmix}  # from data/batch_mixing.py


class BatchPipeline:
    """The batched steps of one data block, in spec order, then normalisation: (x, y, rng) -> (x, y)."""

    def __init__(self, steps: list, classes: int = 0, normalize=None, kept: tuple = ()):
        """`kept`: channels noise leaves alone (a table's category features)."""
        self.ops, run = [], []
        names = [t.name for t, _, _ in steps]
        for i, (t, args, st) in enumerate(steps):
            if t.name in AFFINE:
                run.append(AFFINE[t.name](args))
                continue
            if t.name == "flip" and (run or (i + 1 < len(names) and names[i + 1] in AFFINE)):
                run.append(flip_inverse(args))  # beside affine steps: fused into their resampling
                continue
            if run:
                self.ops.append(fused_affine(run))
                run = []
            if t.name in MIXING:
                self.ops.append(MIXING[t.name](args, classes))
            elif t.name == "random_crop":
                self.ops.append(random_crop(args, st.loc))
            elif t.name == "noise":
                self.ops.append(noise(args, kept))
            else:
                self.ops.append(OPS[t.name](args))
        if run:
            self.ops.append(fused_affine(run))
        self.normalize = normalize  # (mean, std) tensors, or None

    def __call__(self, x: torch.Tensor, y: torch.Tensor, rng: Rng):
        for op in self.ops:
            x, y = op(x, y, rng)
        if self.normalize is not None:
            mean, std = self.normalize
            shape = (1, -1) + (1,) * (x.dim() - 2)
            x = (x - mean.view(shape)) / std.view(shape)
        return x, y
