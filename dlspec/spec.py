"""The façade: a spec file or text in, a `Spec` that plans and builds models out.

Chains the stages (parse -> resolve -> plan -> compile) in a few lines; each
stage lives in its own module.
"""
from __future__ import annotations

import os
from typing import Optional

from .errors import DlspecError, UnknownNameError, did_you_mean
from .language.parser import BOM
from .language.resolve import Program, load_program
from .planning.facts import DataFacts, relevant, spec_facts
from .planning.nodes import BodyNode
from .planning.planner import Planner


class Spec:
    """A loaded spec: its models, data and train blocks, ready to check and build.

    It holds no fact of the data: a model whose input asks one (`vector(auto)`, `tokens(T)`) is planned
    with the `DataFacts` its caller measured (train/measure.py) or read from a run."""

    def __init__(self, program: Program, text: str):
        self.program = program
        self.text = text
        self._plans: dict = {}  # (model name, the data facts it asks) -> plan

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

    def model_name(self, name: Optional[str] = None) -> str:
        """`name` checked against the models declared; None: the only model, else the one the first
        train block trains, else the last declared."""
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

    def plan(self, name: Optional[str] = None, facts: Optional[DataFacts] = None) -> BodyNode:
        """Expand a model and infer every shape (no torch involved). `facts` are the data's, for an input
        that takes a size from it (`vector(auto)`, `tokens(T)`); plans are kept per (model, the facts it
        asks), so a fact the model ignores never plans it again. Without `facts` a tokens(T) model takes the
        vocabulary its text source can give at most (max_vocab + 2), as `dlspec compile` shows it."""
        name = self.model_name(name)
        if facts is None:
            facts = spec_facts(self.program, name)
        key = (name, relevant(self.program, name, facts))
        if key not in self._plans:
            self._plans[key] = Planner(self.program, key[1]).plan_model(name)
        return self._plans[key]

    def check(self, facts: Optional[dict] = None) -> None:
        """Plan every model (with `facts`: model name -> DataFacts); raise the first error found."""
        for name in self.model_names:
            self.plan(name, (facts or {}).get(name))

    def build(self, name: Optional[str] = None, facts: Optional[DataFacts] = None):
        """Build a model as a torch `nn.Module` (on the CPU, freshly initialised)."""
        from .compiler import build_model
        return build_model(self.plan(name, facts))


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
