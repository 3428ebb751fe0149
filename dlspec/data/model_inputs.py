"""What a data block needs to know of the model it feeds: a Program and a model name in, `ModelSide` out.

A csv with `inputs=` reads each column by the declared kind of the input it feeds (an image path, a
text, numbers and categories), and checks its targets against the model's outputs; per-input
`transform NAME { }` / `augment NAME { }` steps must name an input. The train stage links a data
block to its model (train/config.py, train/measure.py) with `link_model`, which puts a `ModelSide` on
the DataConfig; nothing here loads data or imports torch.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Optional

from ..errors import DataError, DlspecError, Loc, did_you_mean
from ..language import ir
from ..planning.inputs import asks_data
from ..planning.named import UNNAMED, leading_inputs
from ..planning.nodes import evaluate_args


@dataclass(frozen=True)
class ModelInput:
    """One declared input: its name, kind (image, tokens, vector, sequence, tensor), the sizes written
    (image: (C, H, W); tokens: (T,); vector: (N,) or () for vector(auto)) and where it is declared."""

    name: str
    kind: str
    sizes: tuple
    loc: Loc


@dataclass(frozen=True)
class ModelSide:
    """The model a data block feeds: its inputs in declaration order and its output names (empty: one
    unnamed output)."""

    model: str
    inputs: tuple
    outputs: tuple

    @property
    def names(self) -> list:
        return [i.name for i in self.inputs]

    def input(self, name: str) -> Optional[ModelInput]:
        return next((i for i in self.inputs if i.name == name), None)


def model_side(program, model: str) -> ModelSide:
    """The inputs and outputs model `model` declares (arguments that do not evaluate are left to planning)."""
    statements = program.models[model].body.statements
    env = program.global_env()
    inputs = []
    for decl in leading_inputs(statements):
        inputs.append(ModelInput(decl.name or UNNAMED, decl.kind, _sizes(decl, env), decl.loc))
    outputs = tuple(st.name for st in statements if isinstance(st, ir.OutputDecl))
    return ModelSide(model, tuple(inputs), outputs)


def _sizes(decl: ir.InputDecl, env) -> tuple:
    if asks_data(decl, env) == "vector":
        return ()
    try:
        args, kwargs, _ = evaluate_args(decl, env)
    except DlspecError:  # planning reports it at its line
        return ()
    names = _SIZE_NAMES.get(decl.kind, ())
    values = list(args) + [kwargs[n] for n in names[len(args):] if n in kwargs]
    if decl.kind == "tokens":
        values = values[:1]
    sizes = tuple(v for v in values if isinstance(v, int) and not isinstance(v, bool))
    return sizes if len(sizes) == len(values) else ()


_SIZE_NAMES = {"image": ("channels", "height", "width"), "sequence": ("steps", "features"), "vector": ("features",),
               "tokens": ("steps",)}


def link_model(cfg, program, model: str):
    """The DataConfig `cfg` knowing the model it feeds; per-input steps naming no input of the model
    are a located error naming the inputs."""
    side = model_side(program, model)
    for what, named in (("transform", cfg.transform_for), ("augment", cfg.augment_for)):
        for name, (_, loc) in named.items():
            if side.input(name) is None:
                raise DataError(f"{what} {name}: model {model} has no input '{name}'." + did_you_mean(name, side.names)
                                + f" Its inputs: {', '.join(side.names)}", loc,
                                hint=f"name one of the model's inputs, or write `{what} {{ ... }}` for a model "
                                     "with one input")
    if (cfg.transform_for or cfg.augment_for) and len(side.inputs) == 1:
        name, (_, loc) = next(iter({**cfg.transform_for, **cfg.augment_for}.items()))
        raise DataError(f"model {model} has one input: its steps need no input name", loc,
                        hint="write `transform { ... }` / `augment { ... }`")
    _check_named_columns(cfg, side)
    return replace(cfg, model=side)


def _check_named_columns(cfg, side: ModelSide) -> None:
    """A csv's inputs= and target= names against the model's inputs and outputs, before any data is read
    (so `dlspec compile` finds them): an unknown name is a located error with the nearest names."""
    args = cfg.source_args or {}
    locs = dict(getattr(cfg.source, "arg_locs", {}) or {})
    given = args.get("inputs")
    if isinstance(given, dict):
        for name in given:
            if side.input(name) is None:
                raise DataError(f"csv: inputs= names '{name}', which is not an input of model {side.model}."
                                + did_you_mean(name, side.names) + f" Its inputs: {', '.join(side.names)}",
                                locs.get("inputs", cfg.source.loc))
    target = args.get("target")
    if side.outputs and isinstance(target, (dict, list, tuple)):
        for output in target:
            if output not in side.outputs:
                what = "name" if isinstance(target, dict) else "column"
                raise DataError(f"csv: target= {what} '{output}' is not an output of model {side.model}."
                                + did_you_mean(str(output), list(side.outputs))
                                + f" Its outputs: {', '.join(side.outputs)}", locs.get("target", cfg.source.loc),
                                hint='map outputs to columns: target={price: "price_usd"}')
