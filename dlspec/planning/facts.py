"""What the planner knows of the data a model trains on: a `DataFacts` value in, given to `Planner`.

Most models declare their input in full and ask nothing of the data. Two inputs take a size from it:
`vector(auto)` its width (and, for a table, the category columns it embeds), `tokens(T)` without
`vocab=` its vocabulary size; with several inputs each takes its own from the data that feeds it
(`DataFacts.inputs`). The train stage measures the data (train/measure.py); planning only
reads the value, so planning with facts imports neither torch nor the data pipeline.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ..language import ir
from ..language.resolve import Program
from .inputs import asks_data
from .named import leading_inputs


@dataclass(frozen=True)
class DataFacts:
    """The linked data's vocabulary size (tokens(T)), one sample's shape and its embedded category columns
    (vector(auto): (position, levels, dim, name) each, as data/encoding.embedded_columns gives them)."""

    vocab: Optional[int] = None
    sample_shape: Optional[tuple] = None
    categories: tuple = ()
    # a model with several inputs: (input name, DataFacts of that input's data) each; the fields above
    # stay those of a model with one input
    inputs: tuple = ()

    def of_input(self, name: str) -> Optional["DataFacts"]:
        """The facts of named input `name`'s data, or None when none were measured."""
        return dict(self.inputs).get(name)


NO_FACTS = DataFacts()
# sources whose vocabulary size a tokens(T) input takes (before data is loaded: max_vocab + 2)
TEXT_SOURCES = ("text", "labelled_sentences")


def data_asked(program: Program, model: str) -> Optional[str]:
    """What model `model`'s input asks of its data: "vector" (vector(auto)), "tokens" (tokens(T) without
    vocab=), "inputs" (several inputs, one or more of which ask one of those: inputs_asked says which) or
    None (nothing: its shapes never depend on the data)."""
    decl = program.models.get(model)
    statements = decl.body.statements if decl is not None else ()
    if not statements or not isinstance(statements[0], ir.InputDecl):
        return None
    if len(leading_inputs(statements)) > 1:
        return "inputs" if inputs_asked(program, model) else None
    return asks_data(statements[0], program.global_env())


def inputs_asked(program: Program, model: str) -> dict:
    """With several inputs: input name -> what it asks of its data ("vector" or "tokens"), for those that ask."""
    decl = program.models.get(model)
    env = program.global_env()
    decls = leading_inputs(decl.body.statements) if decl is not None else []
    asked = {d.name: asks_data(d, env) for d in decls if d.name}
    return {name: what for name, what in asked.items() if what is not None}


def linking_trains(program: Program, model: str) -> list:
    """The train blocks that link model `model` to a data block (whose data its facts come from), in file order."""
    return [name for name, t in program.trains.items()
            if program.linked(t, "model") == model and program.linked(t, "data") in program.data]


def vocab_estimate(program: Program, model: str) -> Optional[int]:
    """Before data is loaded: the largest vocabulary a text source linked to `model` can give (max_vocab + 2),
    read from the spec alone; None when no train block links the model to a text source."""
    for train in linking_trains(program, model):
        for s in program.data[program.linked(program.trains[train], "data")].settings:
            if s.key == "source" and s.args and getattr(s.args[0], "callee", None) in TEXT_SOURCES:
                given = {k.name: k.value for k in s.args[0].kwargs}.get("max_vocab")
                value = program.global_env().eval(given) if given is not None else 20000
                return value + 2 if isinstance(value, int) else None
    return None


def spec_facts(program: Program, model: str) -> Optional[DataFacts]:
    """The facts a plan without measured data uses: a tokens(T) model's vocabulary estimated from the spec
    (as `dlspec compile` plans it, so a library `plan()`/`build()` gives the model compile describes);
    None for every other model (a vector(auto) width needs the data itself)."""
    if data_asked(program, model) != "tokens":
        return None
    return DataFacts(vocab=vocab_estimate(program, model))


def relevant(program: Program, model: str, facts: Optional[DataFacts]) -> DataFacts:
    """`facts` cut to what model `model` asks, so that its plans are shared by every fact it ignores."""
    asked = data_asked(program, model) if facts is not None and facts != NO_FACTS else None
    if asked == "inputs":
        wanted = inputs_asked(program, model)
        return DataFacts(inputs=tuple((n, f) for n, f in facts.inputs if n in wanted))
    if asked == "vector":
        return DataFacts(sample_shape=facts.sample_shape, categories=tuple(facts.categories))
    if asked == "tokens":
        return DataFacts(vocab=facts.vocab)
    return NO_FACTS
