"""Named inputs and outputs of a model: its leading `input` lines in, their names and checks out.

A model may declare several inputs, `input photo: image(3, 64, 64)`, one per line before anything
else; its forward takes them in that order (or by name). One unnamed `input KIND(...)` is the
classic model, planned as before. `output NAME = CHAIN` lines are read by planning/graph.py; this
module holds the checks that look at the model as a whole: every named input must be used, and the
padding lengths of token ids are measured from one input only.
"""
from __future__ import annotations

from ..errors import DlspecError
from ..language import ir
from .inputs import asks_data
from .nodes import BodyNode

UNNAMED = "input"  # the one unnamed input's name in the graph (and its forward's parameter)


def leading_inputs(statements) -> list:
    """The `input` declarations a model starts with (a later one is refused by the planner's unrolling)."""
    decls = []
    for st in statements:
        if not isinstance(st, ir.InputDecl):
            break
        decls.append(st)
    return decls


def named_inputs(decls: list) -> dict:
    """name -> InputDecl in declaration order; several inputs must each have a distinct name."""
    if len(decls) == 1:
        return {decls[0].name or UNNAMED: decls[0]}
    out: dict = {}
    for d in decls:
        if d.name is None:
            example = f"input {d.kind}_in: {d.kind}(...)"
            raise DlspecError(f"this model has {len(decls)} inputs, so each needs a name", d.loc,
                              hint=f"name it, e.g. {example}; chains then start from the name")
        if d.name in out:
            raise DlspecError(f"input '{d.name}' is declared twice (first at line {out[d.name].loc.line})", d.loc,
                              hint="give each input its own name")
        if d.name == UNNAMED:
            raise DlspecError("an input cannot be named 'input'", d.loc, hint="e.g. input x: vector(8)")
        if d.name == "self":  # model(a, self=b) would give `self` twice to nn.Module.__call__
            raise DlspecError("an input cannot be named 'self': the module could not take it by name", d.loc,
                              hint="e.g. input x: vector(8)")
        out[d.name] = d
    return out


def check_sizes_written(decls: dict, env, facts, linked: bool) -> None:
    """With several inputs, a size taken from the data needs that input's measured facts (`facts`:
    DataFacts); a model no train block links to data has none to take it from. A table whose category
    columns would be embedded is refused for a named input: only a model with one input puts the
    category_embedding layer first."""
    if len(decls) < 2:
        return
    for decl in decls.values():
        asked = asks_data(decl, env)
        measured = facts.of_input(decl.name)
        if asked is not None and measured is None and not linked:
            example = "vector(N)" if asked == "vector" else f"{decl.kind}(T, vocab=N)"
            raise DlspecError(f"input '{decl.name}' takes its {'width' if asked == 'vector' else 'vocabulary size'} "
                              "from the data, and no train block links this model to a data block", decl.loc,
                              hint=f"link it in a train block (train {{ model M  data D }}), or write the size: "
                                   f"{example}")
        if asked == "vector" and measured is not None and measured.categories:
            column = measured.categories[0][3]
            raise DlspecError(f"input '{decl.name}': category column '{column}' has {measured.categories[0][1]} "
                              "levels, which a table embeds with a learnt vector, and that is done for a model with "
                              "one input only (not supported yet with several)", decl.loc,
                              hint="one-hot it: csv(..., onehot_max=N) with N at least its levels")


def check_token_inputs(decls: dict, shapes: dict) -> None:
    """The padding lengths of token ids are measured from one input: a second `tokens` input is refused."""
    tokens = [name for name, shape in shapes.items() if shape.integer]
    if len(tokens) > 1:
        raise DlspecError(f"inputs '{tokens[0]}' and '{tokens[1]}' are both tokens: a model reads the padding "
                          f"lengths of one tokens input only (not supported yet)", decls[tokens[1]].loc,
                          hint="join the texts into one tokens input, or pass one as tensor(...) of ids")


class UnusedInput(DlspecError):
    """A named input nothing reads. After a failing step was stood in for (diagnostics.py), the step that
    read it may be the one replaced: then it is a consequence, not news."""


def check_inputs_used(node: BodyNode, decls: dict) -> None:
    """A named input nothing reads is an error at its line: its forward would take a tensor it ignores."""
    read = {i for op in node.ops for i in op.inputs if isinstance(i, str)}
    for name, decl in decls.items():
        if name not in read and len(decls) > 1:
            raise UnusedInput(f"input '{name}' is never used: no chain starts from it or merges it", decl.loc,
                              hint=f"start a chain from it (h = {name} -> ...) or delete the declaration")
