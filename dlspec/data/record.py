"""What the data stage keeps of a run: a loaded `DataBundle` (or a checkpoint's fields) in, a `DataRecord` out.

A finished run must read new inputs the way it was trained to: the classes its
outputs mean, the normalisation statistics, the vocabulary and table encoding
fitted on its training split, the target scaling, a series' tail, the shape of
one sample (vector(auto)) and a digest of the files it read. The trainer saves
them in the checkpoint (train/record.py's RunRecord holds one DataRecord);
evaluate, predict, exports and --resume read them back by attribute, and
`build_data(fitted=record)` reuses the fitted vocabulary and encoding instead of
fitting them again. It lives in `data` because `data` must not import `train`.

Its checkpoint keys are the attribute names, except `fingerprint`, stored as
"data_fingerprint". The values are plain lists, dicts, strings and numbers, so
torch.load(weights_only=True) reads them; their types are checked when the
checkpoint is read (train/checkpoint_fields.py), not here.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Optional

# attribute -> checkpoint key, where they differ
_KEYS = {"fingerprint": "data_fingerprint"}


@dataclass(frozen=True)
class DataRecord:
    """The data facts a trained run depends on; every field is None when the data has no such thing."""

    classes: Optional[list] = None  # what each output means (classification)
    normalization: Optional[dict] = None  # {"mean": [...], "std": [...]}, measured or written
    task: Optional[str] = None  # classification or regression
    vocab: Optional[list] = None  # text: id -> token, built on the training split
    target_scale: Optional[dict] = None  # {"center", "spread"(, "inputs")}: targets were scaled
    series: Optional[dict] = None  # {"tail", "window", "horizon"}: what a forecast continues from
    features: Optional[list] = None  # a table's feature columns, in order
    table: Optional[dict] = None  # a table's fitted column encoding (data/encoding.py)
    sample_shape: Optional[list] = None  # one sample's shape: vector(auto) is built this wide again
    fingerprint: Optional[dict] = None  # path -> digest of the files read (data/fingerprint.py)
    # named samples (data/named_pipeline.py): input name -> {"kind": image|tokens|vector, "columns", "shape",
    # and its "mode" (image), "vocab" and "max_len" (tokens), "table" (vector), "normalization"}, so a finished
    # run reads raw rows as it was trained to; output name -> {"column", "task", "classes", "scale"}
    inputs: Optional[dict] = None
    targets: Optional[dict] = None

    def facts(self):
        """The planner's `DataFacts` the run was trained with: vocabulary size, sample shape, embedded columns."""
        from ..planning.facts import DataFacts
        from .encoding import embedded_columns
        if self.inputs:
            return named_facts(self.inputs)
        return DataFacts(len(self.vocab) if self.vocab else None,
                         tuple(self.sample_shape) if self.sample_shape else None, embedded_columns(self.table))

    @classmethod
    def of(cls, data, fingerprint: Optional[dict]) -> "DataRecord":
        """The record of a loaded DataBundle (data/pipeline.py) and the digest of its files."""
        return cls(classes=data.classes, normalization=data.normalization, task=data.task, vocab=data.vocab,
                   target_scale=data.target_scale, series=_series(data.series), features=data.features,
                   table=data.table, sample_shape=list(data.sample_shape), fingerprint=fingerprint,
                   inputs=getattr(data, "inputs", None), targets=getattr(data, "targets", None))

    def to_state(self) -> dict:
        """The checkpoint's data fields."""
        return {_KEYS.get(f.name, f.name): getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_state(cls, state: dict) -> "DataRecord":
        """The data fields of a checkpoint dict (checked beforehand); a missing field is None."""
        return cls(**{f.name: state.get(_KEYS.get(f.name, f.name)) for f in fields(cls)})


def inputs_facts(inputs: Optional[dict]) -> tuple:
    """(name, DataFacts) per named input of loaded data (a DataBundle's or a DataRecord's `inputs`): its
    vocabulary size, sample shape and embedded category columns."""
    from ..planning.facts import DataFacts
    from .encoding import embedded_columns
    return tuple((name, DataFacts(len(i["vocab"]) if i.get("vocab") else None,
                                  tuple(i["shape"]) if i.get("shape") else None, embedded_columns(i.get("table"))))
                 for name, i in (inputs or {}).items())


def named_facts(inputs: dict):
    """The DataFacts of named samples: each input's own; a model with one input also takes its input's as the
    classic fields (vocab, sample_shape, categories), which is what the planner reads for one input."""
    from ..planning.facts import DataFacts
    per_input = inputs_facts(inputs)
    if len(per_input) == 1:
        only = per_input[0][1]
        return DataFacts(only.vocab, only.sample_shape, only.categories, per_input)
    return DataFacts(inputs=per_input)


def _series(series) -> Optional[dict]:
    """A SeriesInfo as stored: the last window of values (a forecast continues from them)."""
    if series is None:
        return None
    return {"tail": [float(v) for v in series.values[-series.window:]], "window": series.window,
            "horizon": series.horizon}
