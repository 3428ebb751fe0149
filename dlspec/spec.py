"""The façade: a spec file or text in, a `Spec` that plans and builds models out.

Chains the stages (parse -> resolve -> plan -> compile) in a few lines; each
stage lives in its own module.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Optional

from .errors import DlspecError, UnknownNameError, did_you_mean
from .language.parser import BOM
from .planning.nodes import BodyNode
from .planning.planner import Planner
from .language.resolve import Program, load_program

# sources whose vocabulary size a tokens(T) input takes (before data is loaded: max_vocab + 2)
TEXT_SOURCES = ("text", "labelled_sentences")
NO_TRAIN = object()  # no train block (None names the unnamed `train { }`)
NO_DATA = object()  # the plan key of a model that asked no data for its shapes


class Spec:
    """A loaded spec: its models, data and train blocks, ready to check and build."""

    def __init__(self, program: Program, text: str):
        self.program = program
        self.text = text
        self._plans: dict = {}  # (model name, the train block vector(auto) measures) -> plan
        self._vocab: dict = {}  # model name -> vocabulary size of the data it trains on
        self._given: dict = {}  # model name -> (sample shape, embedded columns) of the data fit loaded (vector(auto))
        self._facts: dict = {}  # (model name, train block) -> (sample shape, embedded columns) measured on its data
        self.data_errors: dict = {}  # model name -> the error its linked data gave when vector(auto) last asked it
        self.train_name: Optional[str] = None  # the train block compile --train checks (prefer_train)
        self._reading = NO_TRAIN  # the train block read_train is checking now (reading_train)
        self.measured: dict = {}  # train block name -> the data vector(auto) loaded for it (compile checks it too)

    @property
    def filename(self) -> str:
        return self.program.filename

    @property
    def model_names(self) -> list:
        """Names of the models declared in the spec, in source order."""
        return list(self.program.models)

    @property
    def train_names(self) -> list:
        return list(self.program.trains)

    def _model_name(self, name: Optional[str]) -> str:
        if name is None:
            if not self.program.models:
                raise DlspecError(f"{self.filename} declares no model")
            return self.model_names[0] if len(self.model_names) == 1 else self._default_model()
        if name not in self.program.models:
            raise UnknownNameError(f"no model named '{name}'." + did_you_mean(name, self.model_names)
                                   + f" Models: {', '.join(self.model_names) or 'none'}")
        return name

    def _default_model(self) -> str:
        trains = list(self.program.trains.values())
        linked = self.program.linked(trains[0], "model") if trains else None
        return linked if linked in self.program.models else self.model_names[-1]

    def plan(self, name: Optional[str] = None) -> BodyNode:
        """Expand a model and infer every shape (no torch involved).

        A `vector(auto)` input takes its width from the data of one train block linking the model: the one
        being read (`reading_train`), else the one compile --train asked for (`prefer_train`), else the first
        in the file that links it to a data block. Each has its own plan, so one block's data never shapes
        (or fails) another's."""
        name = self._model_name(name)
        if (name, NO_DATA) in self._plans:  # a model without vector(auto): one plan, whatever the data
            return self._plans[(name, NO_DATA)]
        key = (name, self._measuring_train(name))
        if key not in self._plans:
            asked = []

            def facts() -> tuple:
                asked.append(True)
                return self._data_facts(*key)
            vocab = self._vocab.get(name, self._vocab_hint(name))
            plan = Planner(self.program, vocab, lambda: facts()[0], lambda: facts()[1]).plan_model(name)
            self._plans[key if asked else (name, NO_DATA)] = plan
            return plan
        return self._plans[key]

    @contextmanager
    def reading_train(self, train):
        """Inside: `vector(auto)` inputs take their width from train block `train`'s data (read_train and the
        compile checks of a train block plan its model with the facts of its own data)."""
        before, self._reading = self._reading, train
        try:
            yield self
        finally:
            self._reading = before

    def _measuring_train(self, name: str):
        """The train block whose data `vector(auto)` inputs of model `name` measure; NO_TRAIN when no train block
        links it to a data block."""
        trains = self.program.trains
        linking = [n for n, t in trains.items()
                   if self.program.linked(t, "model") == name and self.program.linked(t, "data") in self.program.data]
        for wanted in (self._reading, self.train_name):
            if wanted is not NO_TRAIN and wanted in linking:
                return wanted
        return linking[0] if linking else NO_TRAIN

    def set_sample_shape(self, name: str, shape: tuple, categories: tuple = ()) -> None:
        """Give `vector(auto)` inputs of a model the sample shape of its data, and the table columns
        it embeds: (position, levels, dim, name) each (data/encoding.embedded_columns)."""
        given = (tuple(shape), tuple(categories))
        if self._given.get(name) != given:
            self._given[name] = given
            self._forget_plans(name)

    def _data_facts(self, name: str, train) -> tuple:
        """(sample shape or None, embedded columns) for model `name`: as set by set_sample_shape, else measured
        on train block `train`'s data (once per block)."""
        if name in self._given:
            return self._given[name]
        if train is NO_TRAIN:
            return None, ()
        if (name, train) not in self._facts:
            bundle = self._measure(name, train)
            from .data.encoding import embedded_columns
            self._facts[(name, train)] = bundle.sample_shape, embedded_columns(bundle.table)
        return self._facts[(name, train)]

    def _measure(self, name: str, train_name):
        """Before training: the data train block `train_name` links to model `name`, loaded (only vector(auto)
        asks): a csv table is read, split and encoded with the task the block's written loss implies, as fit
        does, so `--show` describes the model fit trains."""
        from .data.config import read_data
        from .data.pipeline import build_data
        from .train.losses import written_loss_task
        train = self.program.trains[train_name]
        data = self.program.linked(train, "data")
        try:
            bundle = build_data(read_data(self.program.data[data], self.program.global_env()),
                                loss_task=written_loss_task(train))  # the task, the split: as fit decides
        except DlspecError as exc:  # the data's own mistake, not the model's (diagnostics go on past it)
            self.data_errors[name] = exc
            raise
        self.measured[train_name] = bundle
        return bundle

    def prefer_train(self, train: Optional[str]) -> None:
        """Measure `vector(auto)` inputs on the data of train block `train` when no train block is being read
        (None: the unnamed `train { }`, which fit runs without --train, if it links the model)."""
        self.train_name = train

    def set_vocab(self, name: str, size: int) -> None:
        """Give `tokens(T)` inputs of a model the vocabulary size of its data."""
        self._vocab[name] = size
        self._forget_plans(name)

    def _forget_plans(self, name: str) -> None:
        self._plans = {key: plan for key, plan in self._plans.items() if key[0] != name}

    def _vocab_hint(self, name: str) -> Optional[int]:
        """Before data is loaded: the largest vocabulary a linked text source can give (max_vocab + 2)."""
        for train in self.program.trains.values():
            data = self.program.linked(train, "data")
            if self.program.linked(train, "model") != name or data not in self.program.data:
                continue
            for s in self.program.data[data].settings:
                if s.key == "source" and s.args and getattr(s.args[0], "callee", None) in TEXT_SOURCES:
                    given = {k.name: k.value for k in s.args[0].kwargs}.get("max_vocab")
                    value = self.program.global_env().eval(given) if given is not None else 20000
                    return value + 2 if isinstance(value, int) else None
        return None

    def check(self) -> None:
        """Plan every model; raise the first error found."""
        for name in self.model_names:
            self.plan(name)

    def build(self, name: Optional[str] = None):
        """Build a model as a torch `nn.Module` (on the CPU, freshly initialised)."""
        from .compiler import build_model
        return build_model(self.plan(name))


def load(path, overrides: Optional[dict] = None) -> Spec:
    """Load a .dlspec file. `overrides` maps let names to values (like --set)."""
    path = os.fspath(path)
    program = _with_plugins(load_program(path, overrides))
    return Spec(program, program.text)


def loads(text: str, filename: str = "<string>", overrides: Optional[dict] = None,
          run_plugins: bool = True) -> Spec:
    """Load a spec from text; relative paths resolve against the current folder.

    A leading byte-order mark is dropped, as when reading a file. run_plugins=False
    imports nothing (no `use` lines, no entry points), so an untrusted spec can be
    inspected first (see dlspec.train.trust)."""
    text = text[1:] if text.startswith(BOM) else text
    program = load_program(filename, overrides, text=text)
    return Spec(_with_plugins(program) if run_plugins else program, text)


def _with_plugins(program: Program) -> Program:
    from .plugins.discovery import load_entry_points, load_uses
    load_entry_points()
    load_uses(program)
    return program
