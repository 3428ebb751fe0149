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


TRANSFORMS = Registry("transform")


def register_transform(t: TransformDef, override: bool = False) -> TransformDef:
    return register_entry(TRANSFORMS, t, "transform", override)


def _v2():
    from torchvision.transforms import v2
    return v2


def transform(name, args=(), doc="", resizes=False):
    def wrap(fn):
        register_transform(TransformDef(name, tuple(args), fn, doc, resizes))
        return fn
    return wrap


def _size(v):
    return list(v) if isinstance(v, tuple) else v


@transform("resize", (Arg("size", "ints", check=positive),), "Resize: an int sets the shorter side, [h, w] both.", True)
def _resize(a):
    return _v2().Resize(_size(a["size"]), antialias=True)


@transform("center_crop", (Arg("size", "ints", check=positive),), "Crop the centre: center_crop(224).", True)
def _center_crop(a):
    return _v2().CenterCrop(_size(a["size"]))


@transform("random_crop", (Arg("size", "ints", check=positive), Arg("padding", "ints", None)),
           "Random crop, optionally after zero padding: random_crop(32, padding=4).", True)
def _random_crop(a):
    return _v2().RandomCrop(_size(a["size"]), padding=_size(a["padding"]))


@transform("random_resized_crop", (Arg("size", "ints", check=positive), Arg("scale", "float_list", (0.08, 1.0))),
           "Random crop of a random area, resized: random_resized_crop(224, scale=[0.5, 1.0]).", True)
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
           "Add Gaussian noise: noise(0.05).")
def _noise(a):
    return _v2().GaussianNoise(mean=a["mean"], sigma=a["std"], clip=False)


@transform("grayscale", (Arg("channels", "int", 1, lambda c: None if c in (1, 3) else "must be 1 or 3"),),
           "Convert to grey: grayscale() or grayscale(channels=3).")
def _grayscale(a):
    return _v2().Grayscale(num_output_channels=a["channels"])


@transform("normalize", (Arg("mean", "any"), Arg("std", "any", None)),
           "Subtract mean and divide by std per channel: normalize(mean=[0.5], std=[0.5]) or normalize(auto).")
def _normalize(a):
    return _v2().Normalize(mean=list(a["mean"]), std=list(a["std"]))


def check_steps(steps: list, where: str) -> list:
    """Bind the arguments of each step; returns (TransformDef, args, Step) triples."""
    checked = []
    for st in steps:
        t, args = bind_step(TRANSFORMS, st, f"{where} step")
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
