"""Which route a data block's samples take, decided without data or torch: a `DataConfig` in, a `Route` out.

Two routes exist (messages call them "the cached path" and "the per-sample path"). The cached route
decodes each split once into one tensor on the training device (or in host memory) and slices shuffled
batches from it, augmenting whole batches there (data/cache.py, data/batch_augment.py). The per-sample
route is a DataLoader that transforms one sample at a time (data/loaders.py). `cache auto` takes the
cached route unless an augment step has no batched form (a plugin transform, random_resized_crop) or,
at load time, the data does not fit the memory budget (data/cache.py states the rule).
`dlspec compile --show` and the fit header print the route's reason, and for a token model what its
batches are padded to (`padding_note`; data/padding.py cuts them).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ..errors import DataError
from .step_checks import check_steps_suit, declared_samples, named_source
from .transforms import has_batched_form

BUDGET_RULE = "a quarter of the free GPU memory (CUDA) or of the available RAM (CPU, host)"


@dataclass(frozen=True)
class Route:
    """cached: the cached route is possible (it still needs the data to fit); reason: why, in words."""

    cached: bool
    reason: str


def _where(st) -> str:
    return f" at line {st.loc.line}" if getattr(st, "loc", None) is not None and st.loc.line else ""


def choose_route(cfg) -> Route:
    """The route a checked data block asks for; mixup/cutmix on the per-sample path are a located error,
    and so are steps the source's samples cannot take (image steps on a table: data/step_checks.py)."""
    check_steps_suit(cfg, declared_samples(cfg))
    if named_source(cfg):
        return Route(False, "several inputs or targets: the cached path holds one tensor of samples and one "
                            "of targets")
    blocker = next(((t, st) for t, _, st in cfg.augment if not has_batched_form(t)), None)
    ordered = getattr(cfg, "ordered_why", None)
    if has_dense_targets(cfg):
        route = _dense_route(cfg)
    elif cfg.cache == "none":
        route = Route(False, "cache none")
    elif ordered:
        if cfg.cache in ("device", "host"):
            raise DataError(f"cache {cfg.cache}: the pipeline's order needs the per-sample path ({ordered})",
                            cfg.cache_loc, hint="write `cache auto`, or put the fixed steps first (random steps "
                                                "train-only) so the pipeline can be cached and batched")
        route = Route(False, ordered)
    elif blocker is not None:
        t, st = blocker
        why = "a plugin transform" if t.source != "built-in" else "it runs per sample only"
        if cfg.cache == "device" or cfg.cache == "host":
            raise DataError(f"cache {cfg.cache}: augment step {st.name}{_where(st)} has no batched form ({why}), "
                            "so this data block cannot take the cached path", cfg.cache_loc or st.loc,
                            hint="write `cache auto` to let it run per sample, or drop the step")
        route = Route(False, f"augment step {st.name}{_where(st)} has no batched form ({why})")
    else:
        route = Route(True, f"cache {cfg.cache}")
    mixing = next((st for t, _, st in cfg.augment if t.batch_only), None)
    if mixing is not None and not route.cached:
        raise DataError(f"{mixing.name} mixes whole batches, which only the cached path offers, but data "
                        f"{cfg.name} takes the per-sample path ({route.reason})", mixing.loc,
                        hint="remove the per-sample step or `cache none`, or drop " + mixing.name)
    return route


DENSE_REASON = "masks take their image's geometric steps per sample; the batched augmentation moves images only"


def has_dense_targets(cfg) -> bool:
    """Whether the block's source declares per-pixel class targets (segmentation), known before loading."""
    if cfg.source_args is None:
        return False
    from .sources.base import SOURCES
    definition = SOURCES.get(cfg.source.name)
    return bool(definition is not None and definition.dense)


def _dense_route(cfg) -> Route:
    """The per-sample route, where data/dense.py moves each mask with its image; `cache device|host` and
    plugin steps (which may move pixels without their mask) are refused."""
    if cfg.cache in ("device", "host"):
        raise DataError(f"cache {cfg.cache}: data {cfg.name} has masks (dense targets), which take the per-sample "
                        f"path ({DENSE_REASON})", cfg.cache_loc or cfg.loc, hint="write `cache auto` or `cache none`")
    plugin = next((st for t, _, st in list(cfg.transform) + list(cfg.augment) if t.source != "built-in"), None)
    if plugin is not None:
        raise DataError(f"step {plugin.name}{_where(plugin)} is a plugin transform, and data {cfg.name} has masks: "
                        "a plugin step cannot say whether it moves pixels, which its mask would have to follow",
                        plugin.loc, hint="use built-in steps on segmentation data")
    return Route(False, DENSE_REASON)


def describe_route(cfg) -> str:
    """One line for `dlspec compile --show`: the route a data block takes and why."""
    route = choose_route(cfg)
    if not route.cached:
        return f"data {cfg.name}: per-sample DataLoader ({route.reason})"
    where = {"auto": "on the training device when it fits " + f"({BUDGET_RULE}), else per-sample DataLoader",
             "device": "on the training device (an error when it does not fit " + f"{BUDGET_RULE})",
             "host": "in host memory, batches moved to the device"}[cfg.cache]
    augment = "; augmentation batched on the device" if cfg.augment else ""
    return f"data {cfg.name}: cached {where}{augment}"


def soft_target_step(cfg) -> Optional[object]:
    """The first augment step that turns labels into soft targets (mixup, cutmix), or None."""
    return next((st for t, _, st in cfg.augment if t.batch_only), None)


def padding_note(plan, bucket: Optional[int] = None) -> str:
    """What a token model's batches are padded to, for the fit header and `compile --show` ("" for a model
    without a token input): its own longest sentence, or max_len and the layer that needs every step."""
    from ..planning.lengths import full_steps_needed
    if not plan.in_shape.integer or not plan.in_shape.dims:
        return ""
    grouped = f", grouped by length ({bucket} batches to a pool)" if bucket else ""
    blocker = full_steps_needed(plan)
    if blocker is None:
        return f"; token batches padded to their longest sentence{grouped}"
    return f"; token batches padded to max_len {plan.in_shape.dims[0]}{grouped} ({blocker.describe()})"

