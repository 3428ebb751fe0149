"""Dense targets: a split of (image, mask) samples and a data block's steps in, per-sample loaders of
(image [C, H, W], class map [H, W] int64) batches out.

A mask must follow every geometric step of its image, and no photometric one. torchvision's v2
transforms already know both kinds: given an image and a `tv_tensors.Mask` together they draw one
random transformation and apply it to both (resize, rotation and affine maps sample the mask with
nearest-neighbour, padding and rotated-in corners fill it with class 0), while colour, noise,
erasing and normalisation leave the mask untouched. So every built-in step here is a v2 transform
called on the pair; `cutout` (a dlspec step) and the final `normalize` touch the image only.
Plugin steps are refused in such a block (data/route.py): nothing says whether they move pixels.

These blocks take the per-sample route: the cached route's batched augmentation (data/batch_augment.py)
moves images only.
"""
from __future__ import annotations

import warnings

import torch

from .loaders import EpochDataLoader
from .transforms import build_transform



class PairSteps:
    """Applies steps to an (image, mask) pair: v2 transforms to both at once, anything else to the image."""

    def __init__(self, parts: list):
        self.parts = [p for p in parts if p is not None]

    def __call__(self, x, mask):
        from torchvision.transforms import v2
        for part in self.parts:
            if isinstance(part, v2.RandomErasing):
                with warnings.catch_warnings():  # it warns that it passes masks through: what erasing means
                    warnings.simplefilter("ignore", UserWarning)
                    x, mask = part(x, mask)
            elif isinstance(part, v2.Transform):
                x, mask = part(x, mask)
            else:
                x = part(x)
        return x, mask.as_subclass(torch.Tensor).long()


def pair_steps(steps: list) -> list:
    """The built steps of a `transform` or `augment` list, normalize left out (it runs last, on images)."""
    return [build_transform(t, a, st.loc) for t, a, st in steps if t.name != "normalize"]


class PairView:
    """The (image, mask) samples of `base` at `indices`, through `steps` (a PairSteps)."""

    def __init__(self, base, indices, steps: PairSteps):
        self.base, self.indices, self.steps = base, list(indices), steps

    def __len__(self):
        return len(self.indices)

    def __getitem__(self, i):
        x, mask = self.base[self.indices[i]]
        return self.steps(x, mask)


def dense_loaders(cfg, parts: dict, to_tensor, normalize, pin_memory: bool) -> dict:
    """One loader per non-empty split; augmentation on the training split only."""
    deterministic, augment = pair_steps(cfg.transform), pair_steps(cfg.augment)
    loaders = {}
    for name, (dataset, indices) in parts.items():
        if not len(indices):
            continue
        train = name == "train"
        steps = PairSteps([to_tensor, *deterministic, *(augment if train else []), normalize])
        workers = cfg.workers
        loaders[name] = EpochDataLoader(PairView(dataset, indices, steps), batch_size=cfg.batch,
                                        shuffle=train and cfg.shuffle, seed=cfg.seed, num_workers=workers,
                                        persistent_workers=workers > 0, pin_memory=pin_memory,
                                        prefetch_factor=4 if workers > 0 else None)
    return loaders
