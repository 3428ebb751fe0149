"""Transform and augment steps: `transform { ... }` / `augment { ... }` steps in,
torchvision.transforms.v2 pipelines out.

Arguments are checked from the registry at `dlspec compile` time; torchvision
is imported only when a pipeline is built. `normalize(auto)` is resolved by
the data pipeline, which measures the training split first.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

from ..errors import ArgumentError
from ..schema.args import Arg, positive
from ..schema.registry import Registry, register_entry
from ..schema.settings import Step, bind_step


@dataclass(frozen=True)
class TransformDef:
    name: str
    args: tuple
    build: Callable[[dict], object]
    doc: str
    resizes: bool = False  # makes every sample the same size
    source: str = "built-in"
    batched: bool = False  # has a batched form in data/batch_augment.py (the cached path's augmentation)
    batch_only: bool = False  # needs the whole batch (mixup, cutmix): only the batched path offers it
    images: bool = False  # works on images only ([channels, height, width]): data/step_checks.py checks the data
    random: bool = True  # draws at random: in a `pipeline`, train-only unless marked every_split=true


TRANSFORMS = Registry("transform")


def register_transform(t: TransformDef, override: bool = False) -> TransformDef:
    return register_entry(TRANSFORMS, t, "transform", override)


def _v2():
    from torchvision.transforms import v2
    return v2


def transform(name, args=(), doc="", resizes=False, batch_only=False, batched=True, images=True, random=True):
    """Register a built-in step; `images=False` for the few that work on any values (noise, mixup, normalize),
    `random=False` for the fixed ones (resize, center_crop, grayscale, normalize)."""
    def wrap(fn):
        register_transform(TransformDef(name, tuple(args), fn, doc, resizes, batched=batched, batch_only=batch_only,
                                        images=images, random=random))
        return fn
    return wrap


def has_batched_form(t: TransformDef) -> bool:
    """Built-in steps batch; a plugin transform (even one replacing a built-in name) runs per sample."""
    return t.batched and t.source == "built-in"


def _one_sample(name: str, args: dict):
    """A step with no torchvision counterpart, per sample: its batched form on a batch of one."""
    from . import batch_augment
    return batch_augment.per_sample(name, args)


def _size(v):
    return list(v) if isinstance(v, tuple) else v


@transform("resize", (Arg("size", "ints", check=positive),), "Resize: an int sets the shorter side, [h, w] both.", True,
           random=False)
def _resize(a):
    return _v2().Resize(_size(a["size"]), antialias=True)


@transform("center_crop", (Arg("size", "ints", check=positive),), "Crop the centre: center_crop(224).", True, random=False)
def _center_crop(a):
    return _v2().CenterCrop(_size(a["size"]))


@transform("random_crop", (Arg("size", "ints", check=positive), Arg("padding", "ints", None)),
           "Random crop, optionally after zero padding: random_crop(32, padding=4).", True)
def _random_crop(a):
    return _v2().RandomCrop(_size(a["size"]), padding=_size(a["padding"]))


@transform("random_resized_crop", (Arg("size", "ints", check=positive), Arg("scale", "float_list", (0.08, 1.0))),
           "Random crop of a random area, resized: random_resized_crop(224, scale=[0.5, 1.0]).", True,
           batched=False)  # per sample only (for now): its data block takes the DataLoader path
def _random_resized_crop(a):
    return _v2().RandomResizedCrop(_size(a["size"]), scale=tuple(a["scale"]), antialias=True)


@transform("flip", (Arg("direction", "str", "horizontal", choices=("horizontal", "vertical")),
                    Arg("p", "float", 0.5, lambda p: None if 0 <= p <= 1 else "must be in [0, 1]")),
           "Random flip: flip(horizontal) or flip(vertical, p=0.5).")
def _flip(a):
    cls = _v2().RandomHorizontalFlip if a["direction"] == "horizontal" else _v2().RandomVerticalFlip
    return cls(p=a["p"])


@transform("rotate", (Arg("degrees", "float", check=lambda d: None if d >= 0 else "must not be negative"),),
           "Random rotation in [-degrees, degrees]: rotate(15).")
def _rotate(a):
    return _v2().RandomRotation(a["degrees"])


@transform("scale", (Arg("min", "float", check=positive), Arg("max", "float", check=positive)),
           "Random zoom by a factor in [min, max]: scale(0.9, 1.1).")
def _scale(a):
    if a["min"] > a["max"]:
        raise ValueError("scale: min must not exceed max")
    return _v2().RandomAffine(degrees=0, scale=(a["min"], a["max"]))


@transform("color_jitter", tuple(Arg(n, "float", 0.0) for n in ("brightness", "contrast", "saturation", "hue")),
           "Random colour changes: color_jitter(brightness=0.2, contrast=0.2, saturation=0.2, hue=0.05).")
def _color_jitter(a):
    return _v2().ColorJitter(**a)


@transform("noise", (Arg("std", "float", check=positive), Arg("mean", "float", 0.0)),
           "Add Gaussian noise: noise(0.05). On a table, category features are left as they are.", images=False)
def _noise(a):
    return _v2().GaussianNoise(mean=a["mean"], sigma=a["std"], clip=False)


@transform("grayscale", (Arg("channels", "int", 1, lambda c: None if c in (1, 3) else "must be 1 or 3"),),
           "Convert to grey: grayscale() or grayscale(channels=3).", random=False)
def _grayscale(a):
    return _v2().Grayscale(num_output_channels=a["channels"])


@transform("translate", (Arg("fraction", "float", check=lambda f: None if 0 <= f <= 1 else "must be in [0, 1]"),),
           "Random shift by up to fraction of the width / height (whole pixels): translate(0.1).")
def _translate(a):
    return _v2().RandomAffine(degrees=0, translate=(a["fraction"], a["fraction"]))


@transform("affine", (Arg("degrees", "float", 0.0, lambda d: None if d >= 0 else "must not be negative"),
                      Arg("translate", "float", 0.0, lambda f: None if 0 <= f <= 1 else "must be in [0, 1]"),
                      Arg("scale", "float_list", (1.0, 1.0))),
           "Random rotation, shift and zoom in one step: affine(degrees=10, translate=0.1, scale=[0.9, 1.1]).")
def _affine(a):
    if len(a["scale"]) != 2 or not 0 < a["scale"][0] <= a["scale"][1]:
        raise ValueError("scale takes [min, max] with 0 < min <= max")
    return _v2().RandomAffine(degrees=a["degrees"], translate=(a["translate"],) * 2 if a["translate"] else None,
                              scale=tuple(a["scale"]))


_FACTOR = Arg("factor", "float", check=lambda f: None if f >= 0 else "must not be negative")


@transform("brightness", (_FACTOR,), "Random brightness factor in [1 - factor, 1 + factor]: brightness(0.2).")
def _brightness(a):
    return _v2().ColorJitter(brightness=a["factor"])


@transform("contrast", (_FACTOR,), "Random contrast factor in [1 - factor, 1 + factor]: contrast(0.2).")
def _contrast(a):
    return _v2().ColorJitter(contrast=a["factor"])


_P = Arg("p", "float", 0.5, lambda p: None if 0 <= p <= 1 else "must be in [0, 1]")


@transform("random_erasing", (_P, Arg("scale", "float_list", (0.02, 0.33)), Arg("ratio", "float_list", (0.3, 3.3)),
                              Arg("value", "float", 0.0)),
           "Erase a random box (area share in scale, aspect in ratio) with probability p: random_erasing(p=0.5).")
def _random_erasing(a):
    if len(a["scale"]) != 2 or len(a["ratio"]) != 2 or not 0 < a["ratio"][0] <= a["ratio"][1]:
        raise ValueError("scale and ratio take [min, max]")
    return _v2().RandomErasing(p=a["p"], scale=tuple(a["scale"]), ratio=tuple(a["ratio"]), value=a["value"])


@transform("cutout", (Arg("size", "int", check=positive), Arg("p", "float", 1.0, _P.check)),
           "Zero a size x size square around a random centre (clipped at the edges): cutout(8).")
def _cutout(a):
    return _one_sample("cutout", a)


_ALPHA = Arg("alpha", "float", 1.0, positive)


@transform("mixup", (_ALPHA,), "Blend pairs of samples and their labels by a Beta(alpha, alpha) weight: mixup(0.2). "
                               "Needs the whole batch and a loss that takes soft targets.", batch_only=True,
           images=False)
def _mixup(a):
    raise ValueError("mixup mixes whole batches; it runs only on the cached (batched) path")


@transform("cutmix", (_ALPHA,), "Paste a box from another sample, labels mixed by its area: cutmix(1.0). "
                                "Needs the whole batch and a loss that takes soft targets.", batch_only=True)
def _cutmix(a):
    raise ValueError("cutmix mixes whole batches; it runs only on the cached (batched) path")


@transform("normalize", (Arg("mean", "any"), Arg("std", "any", None)),
           "Subtract mean and divide by std per channel: normalize(mean=[0.5], std=[0.5]) or normalize(auto).",
           images=False, random=False)
def _normalize(a):
    return _v2().Normalize(mean=list(a["mean"]), std=list(a["std"]))


def check_steps(steps: list, where: str) -> list:
    """Bind the arguments of each step; returns (TransformDef, args, Step) triples."""
    checked = []
    for st in steps:
        t, args = bind_step(TRANSFORMS, st, f"{where} step")
        if t.batch_only and where not in ("augment", "pipeline"):
            raise ArgumentError(f"{st.name} mixes samples of a training batch: put it in `augment {{ ... }}`, "
                                f"not in `{where}`", st.loc)
        if st.name == "normalize":
            _check_normalize(args, st)
        checked.append((t, args, st))
    return checked


def _check_normalize(args: dict, st: Step) -> None:
    if args["mean"] == "auto" and args["std"] is None:
        return
    for key in ("mean", "std"):
        value = args[key]
        ok = isinstance(value, (list, tuple)) and value and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
        if not ok:
            raise ArgumentError(f"normalize: '{key}' must be a list of numbers (or write normalize(auto)); "
                                f"received {value!r}", st.loc)
    if any(v <= 0 for v in args["std"]):
        raise ArgumentError("normalize: std values must be positive", st.loc)


def build_transform(t: TransformDef, args: dict, loc) -> object:
    try:
        return t.build(args)
    except ValueError as exc:
        raise ArgumentError(f"{t.name}: {exc}", loc) from None


def is_auto_normalize(t: TransformDef, args: dict) -> bool:
    return t.name == "normalize" and args["mean"] == "auto"


def compose(parts: list) -> Optional[Callable]:
    parts = [p for p in parts if p is not None]
    if not parts:
        return None
    return _v2().Compose(parts)
