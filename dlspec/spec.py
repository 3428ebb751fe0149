"""The façade: a spec file or text in, a `Spec` that plans and builds models out.

Chains the stages (parse -> resolve -> plan -> compile) in a few lines; each
stage lives in its own module.
"""
from __future__ import annotations

import os
from typing import Optional

from .errors import DlspecError, UnknownNameError, did_you_mean
from .language.parser import BOM
from .planning.nodes import BodyNode
from .planning.planner import Planner
from .language.resolve import Program, load_program

# sources whose vocabulary size a tokens(T) input takes (before data is loaded: max_vocab + 2)
TEXT_SOURCES = ("text", "labelled_sentences")


class Spec:
    """A loaded spec: its models, data and train blocks, ready to check and build."""

    def __init__(self, program: Program, text: str):
        self.program = program
        self.text = text
        self._plans: dict = {}
        self._vocab: dict = {}  # model name -> vocabulary size of the data it trains on
        self._samples: dict = {}  # model name -> one sample's shape in the data it trains on (vector(auto))
        self._categories: dict = {}  # model name -> its table's embedded category columns (vector(auto))
        self.data_errors: dict = {}  # model name -> the error its linked data gave when vector(auto) asked it
        self.train_name: Optional[str] = None  # the train block whose data vector(auto) measures (compile --train)
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
        """Expand a model and infer every shape (no torch involved)."""
        name = self._model_name(name)
        if name not in self._plans:
            vocab = self._vocab.get(name, self._vocab_hint(name))
            sample = lambda: self._samples.get(name) or self._sample_hint(name)  # noqa: E731
            categories = lambda: self._categories.get(name, ())  # noqa: E731 - known once sample() ran
            self._plans[name] = Planner(self.program, vocab, sample, categories).plan_model(name)
        return self._plans[name]

    def set_sample_shape(self, name: str, shape: tuple, categories: tuple = ()) -> None:
        """Give `vector(auto)` inputs of a model the sample shape of its data, and the table columns
        it embeds: (position, levels, dim, name) each (data/encoding.embedded_columns)."""
        if self._samples.get(name) != tuple(shape) or self._categories.get(name, ()) != tuple(categories):
            self._samples[name] = tuple(shape)
            self._categories[name] = tuple(categories)
            self._plans.pop(name, None)

    def _sample_hint(self, name: str) -> Optional[tuple]:
        """Before training: the sample shape of the data a train block links to the model, measured by
        loading it (only vector(auto) asks): a csv table is read, split and encoded with the task the
        block's written loss implies, as fit does, so `--show` describes the model fit trains."""
        trains = [(n, t) for n, t in self.program.trains.items() if self.train_name in (None, n)]
        for train_name, train in trains:
            data = self.program.linked(train, "data")
            if self.program.linked(train, "model") != name or data not in self.program.data:
                continue
            from .data.config import read_data
            from .train.losses import written_loss_task
            from .data.encoding import embedded_columns
            from .data.pipeline import build_data
            try:
                bundle = build_data(read_data(self.program.data[data], self.program.global_env()),
                                    loss_task=written_loss_task(train))  # the task, the split: as fit decides
            except DlspecError as exc:  # the data's own mistake, not the model's (diagnostics go on past it)
                self.data_errors[name] = exc
                raise
            self.measured[train_name] = bundle
            self._samples[name], self._categories[name] = bundle.sample_shape, embedded_columns(bundle.table)
            return self._samples[name]
        return None

    def prefer_train(self, train: Optional[str]) -> None:
        """Measure `vector(auto)` inputs on the data of train block `train` (None: the first that links each model)."""
        if train != self.train_name:
            self.train_name = train
            self._plans.clear()
            self._samples.clear()
            self._categories.clear()

    def set_vocab(self, name: str, size: int) -> None:
        """Give `tokens(T)` inputs of a model the vocabulary size of its data."""
        self._vocab[name] = size
        self._plans.pop(name, None)

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
