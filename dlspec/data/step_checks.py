"""Whether a data block's `transform` / `augment` steps suit its samples: a `DataConfig` (and, once the data
is loaded, its first sample) in, a located DataError out.

- Image steps (`TransformDef.images`: resize, crops, flip, rotate, scale, translate, affine, colour,
  brightness, contrast, grayscale, erasing, cutout, cutmix) need images: PIL images or tensors
  [channels, height, width]. A csv table gives 1-D feature vectors, a series [window, 1] windows.
- Token ids (integer samples of a text source) take no built-in step at all: noise, normalize or mixup
  would turn the ids the model looks up into fractions.
- `normalize(mean=[...], std=[...])` needs 1 value or one per channel (a sample's first dim).

`dlspec compile` checks the steps against the source's declared kind (no loading); loading checks them
against the first sample (Dataset classes and plugins declare no kind), before any pipeline runs.
Plugin steps are never refused: they say nothing about what they need.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ..errors import DataError

IMAGE_SHAPE = "[channels, height, width]"


@dataclass(frozen=True)
class Samples:
    """What one sample of a data block is: an image, token ids, or other values (`shape` in words)."""

    image: bool
    tokens: bool
    shape: str
    what: str = ""  # e.g. "a csv table's feature vectors", for the message


# a source's declared input_kind -> what `dlspec compile` knows of its samples without loading
_DECLARED = {
    "table": Samples(False, False, "[features]", "a csv table's 1-D feature vectors"),
    "series": Samples(False, False, "[window, 1]", "windows of a series"),
    "text": Samples(False, True, "[max_len]", "token ids of a text source"),
}
_WHAT = {"table": "a csv table's feature vector", "series": "a window of a series", "text": "token ids"}


def named_source(cfg) -> bool:
    """A csv feeding named inputs or several targets (its samples are dicts), or steps written for named inputs."""
    args = cfg.source_args or {}
    return (args.get("inputs") is not None or "target" in args and not isinstance(args["target"], str)
            or bool(getattr(cfg, "transform_for", None) or getattr(cfg, "augment_for", None)))


def _source_kind(cfg) -> str:
    if cfg.source_args is None or named_source(cfg):  # a Dataset class, named inputs: known once loaded
        return "any"
    from .sources.base import SOURCES
    definition = SOURCES.get(cfg.source.name)
    return definition.input_kind if definition is not None else "any"


def declared_samples(cfg) -> Optional[Samples]:
    """What the source says its samples are, without loading; None when it does not say (or gives images)."""
    return _DECLARED.get(_source_kind(cfg))


def first_samples(cfg, x) -> Samples:
    """What the first loaded sample `x` (a PIL image, a tensor, anything) is."""
    if hasattr(x, "getbands") and hasattr(x, "size"):
        return Samples(True, False, "a PIL image")
    shape = getattr(x, "shape", None)
    if shape is None:
        return Samples(False, False, f"a {type(x).__name__}", "not a tensor")
    dtype = str(getattr(x, "dtype", ""))
    tokens = "int" in dtype and "uint8" not in dtype
    what = _WHAT.get(_source_kind(cfg), "token ids" if tokens else "")
    return Samples(len(shape) == 3 and not tokens, tokens, "[" + ", ".join(str(int(d)) for d in shape) + "]", what)


def _value_steps(images: bool) -> str:
    from .transforms import TRANSFORMS
    return ", ".join(sorted(n for n, t in TRANSFORMS.items() if t.source == "built-in" and t.images == images))


def check_steps_suit(cfg, samples: Optional[Samples]) -> None:
    """A located DataError at the first built-in step the samples cannot take."""
    if samples is None or samples.image:
        return
    gives = f"data {cfg.name} gives samples {samples.shape}" + (f" ({samples.what})" if samples.what else "")
    for where, steps in (("transform", cfg.transform), ("augment", cfg.augment)):
        for t, _, st in steps:
            if t.source != "built-in":
                continue
            if samples.tokens:
                raise DataError(f"{where} step {st.name} changes values, but {gives}, which the model looks up "
                                "as whole numbers", st.loc, hint=f"text takes no {where} steps: remove {st.name}")
            if t.images:
                raise DataError(f"{where} step {st.name} needs images (samples {IMAGE_SHAPE}), but {gives}",
                                st.loc, hint=f"remove {st.name}; steps that work on any values: "
                                             f"{_value_steps(False)}")


def check_normalize_width(cfg, channels: int) -> None:
    """normalize(mean=[...], std=[...]) lists must hold 1 value or one per channel (`channels`)."""
    for t, a, st in cfg.transform:
        if t.name != "normalize" or a["mean"] == "auto":
            continue
        for key in ("mean", "std"):
            n = len(a[key])
            if n not in (1, channels):
                raise DataError(f"normalize: {key} has {n} values, but the samples of data {cfg.name} have "
                                f"{channels} channels (their first dim: image channels, table features)",
                                st.loc, hint=f"give {key} 1 value (for every channel) or {channels}, "
                                             "or write normalize(auto) to measure them on the training split")
