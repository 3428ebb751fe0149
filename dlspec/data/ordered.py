"""One ordered pipeline: a data block's `pipeline { ... }` steps in, (transform, augment, ordered, why) out.

`pipeline { resize(256) -> rotate(10) -> center_crop(224) -> normalize(auto) }` runs its steps in the written
order. Fixed steps (resize, center_crop, grayscale, normalize) run on every split; random steps run on the
training split only, unless marked `every_split=true` (`rotate(10, every_split=true)`): the order torchvision
courses write, e.g. a rotation before the centre crop on every split.

Where the order allows it, the pipeline is the same as `transform` + `augment` (fixed steps first, then
train-only random steps): it becomes those two lists and takes the cached, batched route as before. Else
(a fixed step after a random one, or a random step on every split) `ordered` holds every step in order and
the block takes the per-sample route; `why` says so for `compile --show` and the fit header. normalize must
be the pipeline's last step (it is applied last on both routes).
"""
from __future__ import annotations

from typing import Optional

from ..errors import ArgumentError, DataError
from ..schema.settings import Step
from .transforms import check_steps

EVERY_SPLIT = "every_split"


def read_pipeline(steps: list) -> tuple:
    """(transform, augment, ordered or None, why or None) of a pipeline's steps (`schema.settings.Step`s)."""
    entries = [_entry(st) for st in steps]
    _check_normalize_last(entries)
    every = [(t, a, st) for t, a, st, on_all in entries if on_all or not t.random]
    train_only = [(t, a, st) for t, a, st, on_all in entries if t.random and not on_all]
    why = _why_ordered(entries)
    ordered = [(t, a, st) for t, a, st, _ in entries] if why else None
    return every, train_only, ordered, why


def _entry(st: Step) -> tuple:
    """(TransformDef, args, step without the marker, runs on every split) of one pipeline step."""
    on_all = st.kwargs.get(EVERY_SPLIT, False)
    if not isinstance(on_all, bool):
        raise ArgumentError(f"{st.name}: {EVERY_SPLIT} takes true or false, received {on_all!r}",
                            st.arg_locs.get(EVERY_SPLIT, st.loc))
    plain = Step(st.callee, st.args, {k: v for k, v in st.kwargs.items() if k != EVERY_SPLIT}, st.loc,
                 {k: v for k, v in st.arg_locs.items() if k != EVERY_SPLIT})
    t, args, _ = check_steps([plain], "pipeline")[0]
    if EVERY_SPLIT in st.kwargs and not on_all and not t.random:  # would read as "train only", which it is not
        raise DataError(f"{st.name} is a fixed step: it runs on every split, so {EVERY_SPLIT}=false cannot keep it "
                        "to the training split", st.arg_locs.get(EVERY_SPLIT, st.loc),
                        hint=f"remove {EVERY_SPLIT}=false; only random steps are train-only")
    if on_all and t.batch_only:
        raise DataError(f"{st.name} mixes samples of a training batch; it cannot run on every split",
                        st.arg_locs.get(EVERY_SPLIT, st.loc), hint=f"remove {EVERY_SPLIT}=true")
    return t, args, plain, on_all


def _check_normalize_last(entries: list) -> None:
    for i, (t, _, st, _) in enumerate(entries):
        if t.name == "normalize" and i != len(entries) - 1:
            after = entries[i + 1][2]
            raise DataError(f"normalize must be the pipeline's last step, but {after.name} comes after it", st.loc,
                            hint="move normalize to the end: it scales what every other step made")


def _why_ordered(entries: list) -> Optional[str]:
    """Why the pipeline cannot be split into transform + augment (so runs per sample), or None when it can."""
    for t, _, st, on_all in entries:
        if t.random and on_all:
            return f"pipeline step {st.name}{_at(st)} is random on every split ({EVERY_SPLIT}=true): drawn per sample"
    first_random = None
    for t, _, st, on_all in entries:
        if t.random:
            first_random = first_random or st
        elif first_random is not None and t.name != "normalize":
            return (f"pipeline step {st.name}{_at(st)} comes after the random step {first_random.name}"
                    f"{_at(first_random)}: the steps run per sample in the written order")
    return None


def _at(st) -> str:
    return f" at line {st.loc.line}" if getattr(st, "loc", None) is not None and st.loc.line else ""
