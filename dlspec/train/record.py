"""The checkpoint as a typed record: a trainer's state in, a `RunRecord` out, and a checkpoint dict both ways.

A checkpoint (last.ckpt, best.ckpt) is what every verb that uses a finished run
reads: evaluate, predict, export, fit --resume, a job's launching process. The
record names its parts instead of string keys:

- `spec` (SpecRecord): the spec text and path, resolved settings, --set
  overrides and the plugins a later load must be trusted to import;
- `data` (data/record.py's DataRecord): classes, normalisation, vocabulary,
  table encoding, target scale, series tail, sample shape, data fingerprint;
- `progress` (ProgressRecord): weights, optimizer/scheduler/scaler states,
  epoch, history, best epochs, RNG states, training time and the loggers' record.

`to_state()` is what torch.save writes: a flat dict of the same keys dlspec
always wrote, plus "version" (checkpoint_fields.VERSION), holding only tensors,
dicts, lists, strings, numbers and None, so torch.load(weights_only=True) reads
it. `from_state()` checks every field first (checkpoint_fields.check_fields: a
damaged, foreign or newer checkpoint is one line naming what is wrong); a
checkpoint without "version" is version 1, written before the field existed.
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Optional

from ..data.record import DataRecord
from .checkpoint_fields import VERSION, check_fields


@dataclass(frozen=True)
class SpecRecord:
    """What the run was: its spec, settings and the code loading it again would import."""

    spec_text: str
    spec_file: str  # absolute, or a name like <string> for a spec given as text
    settings: dict  # TrainConfig.resolved(): train, model, epochs, ...
    overrides: Optional[dict] = None  # --set NAME=VALUE, applied again when the spec is loaded
    plugins: Optional[dict] = None  # {"modules": [...], "entry_points": [...]} loaded when it trained
    outputs: Optional[dict] = None  # several outputs: name -> {task, classes, scale, loss, weight}, in order


@dataclass(frozen=True)
class ProgressRecord:
    """How far training went: what --resume restores, and the weights evaluate and predict use."""

    model: dict  # the state_dict (never a pickled module)
    optimizer: dict
    epoch: int  # epochs completed
    history: list  # one metrics row per epoch
    rng: dict  # torch, python (and cuda) generator states
    scheduler: Optional[dict] = None
    scaler: Optional[dict] = None
    best: Optional[dict] = None  # the checkpoint monitor's best {value, epoch, monitor}
    stop_best: Optional[dict] = None  # early_stop's own best, when it monitors something else
    bad_epochs: int = 0  # epochs since early_stop's monitor last improved
    train_time: float = 0.0  # seconds spent in training steps
    train_samples: int = 0
    loggers: Optional[dict] = None  # e.g. the MLflow run id, so a resume goes on with that run


@dataclass(frozen=True)
class RunRecord:
    """One checkpoint: spec, data and progress, in checkpoint format `version`."""

    spec: SpecRecord
    data: DataRecord
    progress: ProgressRecord
    version: int = VERSION

    def to_state(self) -> dict:
        """The dict torch.save writes (flat: the keys dlspec has always written, plus version)."""
        state = {"version": self.version}
        for part in (self.spec, self.progress):
            state.update({f.name: getattr(part, f.name) for f in fields(part)})
        state.update(self.data.to_state())
        return state

    @classmethod
    def from_state(cls, state, path: str = "the checkpoint") -> "RunRecord":
        """The record of a checkpoint dict read from `path`, every field checked (a one-line error otherwise)."""
        check_fields(state, path)
        progress = _part(ProgressRecord, state)
        if "stop_best" not in state:  # a checkpoint from before `checkpoint monitor=` kept one best for both
            progress = replace(progress, stop_best=progress.best)
        version = state.get("version", 1)  # a checkpoint written before the field is version 1, whatever VERSION is now
        return cls(_part(SpecRecord, state), DataRecord.from_state(state), progress, version)


def _part(kind, state: dict):
    """A SpecRecord or ProgressRecord from the checkpoint's keys; a field missing (or None) takes its default."""
    values = {f.name: state[f.name] for f in fields(kind) if state.get(f.name) is not None}
    return kind(**values)

