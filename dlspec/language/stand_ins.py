"""Standing in for a failing step: a Program, its model and block tables and an error's position in, the
tables with the step at that position replaced by `identity` out.

diagnostics.py plans each model on its own; when a step fails, it plans the model again with that step
replaced, so later unknown names and bad arguments are found too. Only the IR is edited (the user's text
is not), and `body_nodes` walks every statement and step of a body, nested repeats included.
"""
from __future__ import annotations

from dataclasses import replace

from . import ir


def replace_failing_step(program, tables: dict, loc):
    """Replace, in `tables`, the step an error at `loc` lies in by `identity`; the Loc of the call replaced,
    None when the error lies in no step."""
    if loc is None:
        return None
    landmarks = []  # (line, column, owner table, owner name, node)
    for decl in list(program.lets.values()) + list(program.data.values()) + list(program.trains.values()):
        landmarks.append((decl.loc, None, None, decl))
    for table in ("models", "blocks"):
        for decl in tables[table].values():
            landmarks.append((decl.loc, None, None, decl))
            for p in getattr(decl, "params", ()):
                landmarks.append((p.loc, None, None, p))
            landmarks += [(node.loc, table, decl.name, node) for node in body_nodes(decl.body)]
    before = [m for m in landmarks if m[0].file == loc.file and (m[0].line, m[0].column) <= (loc.line, loc.column)]
    if not before:
        return None
    _, table, owner, node = max(before, key=lambda m: (m[0].line, m[0].column, isinstance(m[3], ir.Step)))
    if not isinstance(node, ir.Step):
        return None
    decl = tables[table][owner]
    identity = ir.Step(_stand_in_target(decl, node), node.label, node.loc)
    tables[table][owner] = replace(decl, body=_swap_body(decl.body, node, identity))
    return node.target.loc


def body_nodes(body: ir.Body):
    """Every statement and step of a body, nested repeat bodies included."""
    for st in body.statements:
        yield st
        if isinstance(st, ir.Repeat):
            yield from body_nodes(st.body)
        chain = _chain_of(st)
        if chain is not None:
            yield from chain.steps


def _chain_of(st):
    """The chain of a statement (`NAME = CHAIN`, `output NAME = CHAIN`, a bare chain), else None."""
    if isinstance(st, (ir.Binding, ir.OutputDecl)):
        return st.chain
    return st if isinstance(st, ir.Chain) else None


def _stand_in_target(decl, step: ir.Step):
    """`identity`; but at the start of a chain of a model with several inputs, identity would have no
    previous result to continue (a second error that is the stand-in's, not the user's, and an end to the
    search), so the chain starts from the model's first input instead."""
    inputs = [st.name for st in decl.body.statements if isinstance(st, ir.InputDecl) and st.name]
    starts = any(chain.steps and chain.steps[0] is step
                 for chain in map(_chain_of, decl.body.statements) if chain is not None)
    name = inputs[0] if len(inputs) > 1 and starts else "identity"
    return ir.Name(name, step.target.loc)


def _swap_body(body: ir.Body, old: ir.Step, new: ir.Step) -> ir.Body:
    return replace(body, statements=tuple(_swap_statement(st, old, new) for st in body.statements))


def _swap_statement(st, old, new):
    if isinstance(st, ir.Repeat):
        return replace(st, body=_swap_body(st.body, old, new))
    if isinstance(st, (ir.Binding, ir.OutputDecl)):
        return replace(st, chain=_swap_statement(st.chain, old, new))
    if isinstance(st, ir.Chain):
        return replace(st, steps=tuple(new if s is old else s for s in st.steps))
    return st
