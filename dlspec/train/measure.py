"""Data facts for planning: a spec, a model and a train block in, the `DataFacts` its input asks out.

A `vector(auto)` input takes its width from the data one train block links to the model, loaded as fit
loads it (`measure`: a csv table is read, split and encoded with the task the block's written loss
implies), so `--show` describes the model fit trains; a model with several inputs, one of which takes a
size from the data, loads it too, each input's facts measured on its own columns (DataFacts.inputs); `tokens(T)` takes, before any data is loaded, the
largest vocabulary a linked text source can give (max_vocab + 2). A model whose input asks nothing
loads no data. Which block: the one asked for (the block being read, or the one compile --train
names), else the first in the file that links the model to a data block. `Measurements` keeps what was
measured for one spec, so each data block is loaded once per task (train blocks sharing it share the
bundle); the bundle goes on to fit and to the compile-time table checks, which then do not read the
table again.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ..errors import DlspecError
from ..planning.facts import NO_FACTS, DataFacts, data_asked, linking_trains, vocab_estimate

NO_TRAIN = object()  # no train block links the model to a data block (None names the unnamed `train { }`)


@dataclass(frozen=True)
class Measured:
    """What measuring gave: the facts to plan with, the data loaded for them (vector(auto) only) and the
    task it was built for, or the error the linked data gave (its own mistake, not the model's)."""

    facts: DataFacts = NO_FACTS
    bundle: object = None
    error: Optional[DlspecError] = None
    train: object = NO_TRAIN  # the train block whose data was measured
    loss_task: Optional[str] = None

    def checked(self) -> DataFacts:
        """The facts; the data's error is raised."""
        if self.error is not None:
            raise self.error
        return self.facts

    def fit_can_reuse(self, cfg, device, resumed) -> bool:
        """Whether fit may train on this bundle instead of building the data again: it was loaded for
        train block `cfg` as the trainer would load it (a fresh run, `resumed` None, on the CPU, the same
        task; the cached route's augmentation seeded as the trainer seeds it)."""
        if self.bundle is None or not self.bundle.loaders or resumed is not None or device.type != "cpu":
            return False  # no loaders: described for compile only (data/described.py)
        if self.train != cfg.name or self.loss_task != cfg.loss_task:
            return False
        from ..data.route import choose_route
        return not choose_route(cfg.data).cached or cfg.seed == cfg.data.seed


def facts_of(bundle) -> DataFacts:
    """The facts of loaded data (data/pipeline.DataBundle); named inputs give each its own (data/record.named_facts)."""
    from ..data.encoding import embedded_columns
    from ..data.record import named_facts
    vocab = len(bundle.vocab) if bundle.vocab is not None else None
    if getattr(bundle, "inputs", None):  # named samples: each input has its own (a run's record gives the same)
        return named_facts(bundle.inputs)
    return DataFacts(vocab, tuple(bundle.sample_shape), embedded_columns(bundle.table))


def measuring_train(program, model: str, train=None):
    """The train block whose data the inputs of `model` measure: `train` if it links the model to a data
    block (None: the unnamed `train { }`), else the first that does; NO_TRAIN when none does."""
    linking = linking_trains(program, model)
    return train if train in linking else (linking[0] if linking else NO_TRAIN)


def measure(spec, model: str, train=None, loaded: Optional[dict] = None, loaders: bool = True) -> Measured:
    """The facts model `model` asks of its data, measured on train block `train`'s (see measuring_train);
    `loaded` keeps each data block's bundle (or error) per task, so train blocks that share a data block
    read its table once; without `loaders` a table is described, not batched (data/described.py)."""
    program = spec.program
    asked = data_asked(program, model)
    if asked == "tokens":
        return Measured(DataFacts(vocab=vocab_estimate(program, model)))
    block = measuring_train(program, model, train) if asked in ("vector", "inputs") else NO_TRAIN
    if block is NO_TRAIN:
        return Measured()  # vector(auto) without data says so at its line when planned
    from ..data.config import read_data
    from ..data.model_inputs import link_model
    from ..data.described import describe_data
    from ..data.pipeline import build_data
    from ..data.step_checks import named_source
    from .losses import written_loss_task
    decl = program.trains[block]
    task = written_loss_task(decl)  # the task, the split: as fit decides
    data = program.linked(decl, "data")
    try:
        cfg = link_model(read_data(program.data[data], program.global_env()), program, model)
    except DlspecError as exc:  # the data's own mistake, or its names against the model's
        return Measured(error=exc, train=block, loss_task=task)
    # a table read by named inputs, or a Dataset class checked against them, is read per model
    key = (data, task, model if named_source(cfg) or cfg.source_args is None else None)
    if loaded is None or key not in loaded:
        try:
            found = build_data(cfg, loss_task=task) if loaders else describe_data(cfg, loss_task=task)
        except DlspecError as exc:  # the data's own mistake, not the model's (diagnostics go on past it)
            found = exc
        if loaded is not None:
            loaded[key] = found
    found = loaded[key] if loaded is not None else found
    if isinstance(found, DlspecError):
        return Measured(error=found, train=block, loss_task=task)
    return Measured(facts_of(found), found, None, block, task)


class Measurements:
    """`measure` for one spec, once per (model, train block measured); facts `given` for a model (a run's,
    a provisional width) are taken as they are and measure nothing. `loaders=False`: for checking only, a
    table's data is described without loaders (data/described.py), and fit cannot reuse it."""

    def __init__(self, spec, given: Optional[dict] = None, loaders: bool = True):
        self.spec = spec
        self.loaders = loaders
        self.given = dict(given or {})
        self._done: dict = {}
        self._loaded: dict = {}  # (data block, task) -> bundle or error: a table shared by blocks is read once

    def measure(self, model: str, train=None) -> Measured:
        if model in self.given:
            return Measured(self.given[model])
        key = (model, measuring_train(self.spec.program, model, train))
        if key not in self._done:
            self._done[key] = measure(self.spec, model, train, self._loaded, self.loaders)
        return self._done[key]

    def facts(self, model: str, train=None) -> DataFacts:
        """The facts to plan `model` with; the linked data's error is raised."""
        return self.measure(model, train).checked()

    def plan(self, model: Optional[str] = None, train=None):
        """`spec.plan` of `model` with the facts measured for it."""
        model = self.spec.model_name(model)
        return self.spec.plan(model, self.facts(model, train))
