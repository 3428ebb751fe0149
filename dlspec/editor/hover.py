"""Hover: an analysed document and a position in, Markdown out (or None).

On a layer or block call: its signature and doc, and for that line the
inferred output shape and parameter count (one row per use when blocks or
repeats expand it several times); on a call with an error (which the checks
replaced by `identity` to go on): its signature and doc, the error and the
input shape; on a `let`: its resolved value; on any other registered name:
its signature and doc; on a model's named input or output: its shape.
"""
from __future__ import annotations

from typing import Optional

from ..language.values import to_source
from ..planning.nodes import LayerNode
from .analysis import Analysis
from .names import block_signature, describe_entry, find_entry

MAX_USES_SHOWN = 8


def hover(analysis: Analysis, line: int, column: int) -> Optional[str]:
    """What to show when the pointer rests at (line, column)."""
    word = analysis.word_at(line, column)
    if word is None:
        return None
    program = analysis.program
    nodes = analysis.nodes_at(word.line, word.column)
    failed = analysis.stand_in_at(word.line, word.column)
    if failed is not None:
        return _failed_call(word.text, failed, nodes, program)
    if nodes:
        return _call(nodes, program) + _caveat(analysis.stand_ins_before(word.line, word.column))
    named = _named_io(analysis, word.text)
    if named:
        return named
    if program is not None and word.text in program.lets:
        return _let(program, word.text)
    if program is not None and word.text in program.blocks:
        return f"```dlspec\nblock {block_signature(program.blocks[word.text])}\n```"
    found = find_entry(word.text)
    return describe_entry(*found) if found else None


def _call(nodes: list, program) -> str:
    first = nodes[0]
    if isinstance(first, LayerNode):
        head = describe_entry("layers", first.layer)
    else:
        head = f"```dlspec\nblock {block_signature(program.blocks[first.block])}\n```\nblock"
    rows = [f"{_dims(n.in_shape)} → **{_dims(n.out_shape)}** · {_params(n)} parameters" for n in nodes]
    if len(rows) > MAX_USES_SHOWN:
        rows = rows[:MAX_USES_SHOWN] + [f"… {len(nodes) - MAX_USES_SHOWN} more uses"]
    title = "this line" if len(nodes) == 1 else f"this line, {len(nodes)} uses"
    return head + f"\n\n---\n{title}:\n\n" + "\n\n".join(rows)


def _named_io(analysis: Analysis, name: str) -> Optional[str]:
    """A named input or output of a planned model: its shape (one row per model that has it)."""
    rows = []
    for model, plan in analysis.diagnosis.plans.items():
        for kind, table in (("input", plan.inputs), ("output", plan.outputs)):
            if name in table:
                shape = table[name]
                rows.append(f"{kind} **{name}** of model {model}: {_dims(shape)}" + (" token ids" if shape.integer else ""))
    return "\n\n".join(rows) or None


def _caveat(lines: list) -> str:
    if not lines:
        return ""
    where = ", ".join(map(str, lines))
    return (f"\n\n*These shapes assume that the call with an error on line{'s' if len(lines) > 1 else ''} {where} "
            "passes its input on unchanged.*")


def _failed_call(name: str, error, nodes: list, program) -> str:
    """A call the checks replaced by `identity`: what it is, its error, and the input it was given."""
    found = find_entry(name)
    if program is not None and name in program.blocks:
        head = f"```dlspec\nblock {block_signature(program.blocks[name])}\n```\nblock"
    elif found is not None:
        head = describe_entry(*found)
    else:
        head = f"`{name}`"
    inputs = sorted({_dims(n.in_shape) for n in nodes})
    shown = f"\n\ninput {', '.join(inputs)}" if inputs else ""
    return head + f"\n\n---\nthis line: **error**: {error.message}" + shown


def _dims(shape) -> str:
    return shape.labelled()  # with the axis roles: [T=10, F=6]


def _params(node) -> str:
    """The parameter count of a node's module, built on the meta device (no memory)."""
    try:
        import torch
        from ..compiler import build_module
        with torch.device("meta"):
            module = build_module(node)
        return f"{sum(p.numel() for p in module.parameters()):,}"
    except Exception:  # a plugin layer that cannot build on meta: the shape is still worth showing
        return "n/a"


def _let(program, name: str) -> str:
    decl = program.lets[name]
    try:
        value = program.let_value(name, decl.loc)
    except Exception as exc:  # an error in the value: diagnostics report it; show what it is
        value = f"(cannot be evaluated: {getattr(exc, 'message', exc)})"
    overridden = " (set from the command line)" if name in program.overrides else ""
    return f"```dlspec\nlet {name} = {to_source(value)}\n```\n{decl.loc}{overridden}"
