"""Model pictures (`dlspec graph`): a planned model (`planning.nodes.BodyNode`) in, a picture out.

`model_graph` turns the plan the compiler builds from into boxes and edges:
one box per layer with its output shape, one per merge (add, mul, concat)
and param, edges that follow the planner's graph operations (`Op` records),
so skip connections and branches show as edges, and a labelled group per
block instance and label. `to_dot` writes that as graphviz source; `draw`
renders it with graphviz's `dot` when that program is installed, else with
matplotlib (views/graph_draw.py). Pure Python up to the drawing: no torch.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from typing import Optional

from ..errors import DlspecError
from ..language.values import CallValue
from ..layers.init import init_text
from ..planning.nodes import BodyNode, LayerNode
from ..schema.args import REQUIRED

MAX_ARGS_TEXT = 60


@dataclass
class Box:
    """A node of the picture: a layer, a merge, a param, or the model's input."""

    id: str
    title: str  # e.g. conv(64, 3, stride=2)
    shape: str  # the output shape, e.g. [64, 56, 56]
    kind: str  # "layer", "merge", "param", "input" or "output" (a named output)
    group: Optional[int]  # index into ModelGraph.groups, None at the top level
    name: str = ""  # qualified submodule name (state_dict prefix) for layers


@dataclass
class Group:
    """A block instance or a labelled chain: drawn as a labelled frame around its boxes."""

    label: str
    parent: Optional[int]


@dataclass
class ModelGraph:
    title: str
    boxes: list = field(default_factory=list)
    edges: list = field(default_factory=list)  # (from id, to id, skip?)
    groups: list = field(default_factory=list)

    def box(self, title, shape, kind, group, name="") -> str:
        self.boxes.append(Box(f"n{len(self.boxes)}", title, str(shape), kind, group, name))
        return self.boxes[-1].id

    def edge(self, a: str, b: str, skip: bool = False) -> None:
        self.edges.append((a, b, skip))


def model_graph(plan: BodyNode, title: Optional[str] = None) -> ModelGraph:
    """The boxes, edges and groups of a planned model."""
    graph = ModelGraph(title or plan.name)
    if not plan.inputs:
        _body(graph, plan, graph.box("input", plan.in_shape, "input", None), None, "")
        return graph
    entries = {name: graph.box(f"input {name}", shape, "input", None) for name, shape in plan.inputs.items()}
    _body(graph, plan, entries, None, "")
    return graph


def _body(graph: ModelGraph, body: BodyNode, entry, group: Optional[int], prefix: str) -> str:
    """Add a body's boxes after `entry` (a model's named inputs: a dict name -> box); return the box its
    output comes from. Several named outputs each end in an `output NAME` box."""
    if not body.graph:
        current = entry
        for child in body.children:
            current = _child(graph, child, current, group, prefix)
        return current
    results = dict(entry) if isinstance(entry, dict) else {"input": entry}
    for p in body.params:
        results[p.name] = graph.box(f"param {p.name}", list(p.shape), "param", group, prefix + p.name)
    children = {c.name: c for c in body.children}
    for op in body.ops:
        if op.kind == "module":
            results[op.target] = _child(graph, children[op.module], results[op.inputs[0]], group, prefix)
        elif op.kind == "ref":
            results[op.target] = results[op.inputs[0]]
            continue
        else:
            constants = [str(i) for i in op.inputs if i not in results]
            title = op.kind + (f" {', '.join(constants)}" if constants else "") + \
                (f" (dim={op.dim})" if op.kind == "concat" else "")
            if op.kind == "part":  # mu, logvar = ... -> chunk(2): a box per part, by its name
                title = f"{op.target} (part {op.dim})"
            elif op.kind == "add_loss":
                title = f"add_loss {op.module}"
            merged = graph.box(title, body.shapes.get(op.target, ""), "merge", group)
            sources = [results[name] for name in op.inputs if name in results]
            for i, source in enumerate(sources):  # the first input continues the chain; others join it
                graph.edge(source, merged, skip=i > 0)
            results[op.target] = merged
    if len(body.outputs) > 1:
        for name, shape in body.outputs.items():
            graph.edge(results[name], graph.box(f"output {name}", shape, "output", group))
    return results[body.output]


def _child(graph: ModelGraph, child, entry: str, group: Optional[int], prefix: str) -> str:
    name = prefix + child.name
    if isinstance(child, LayerNode):
        box = graph.box(layer_text(child), child.out_shape, "layer", group, name)
        graph.edge(entry, box)
        return box
    label = f"{child.name} ({child.block})" if child.block else child.name
    graph.groups.append(Group(f"{label} {child.out_shape}", group))
    return _body(graph, child, entry, len(graph.groups) - 1, name + ".")


def layer_text(node: LayerNode) -> str:
    """A layer as a spec would call it: required arguments by position, changed defaults by name."""
    parts = []
    for arg in node.layer.args:
        value = node.args.get(arg.name, REQUIRED)
        if arg.required:
            parts.append(_value(value))
        elif value is not REQUIRED and value != arg.default:
            parts.append(f"{arg.name}={_value(value)}")
    text = f"{node.layer.name}({', '.join(parts)})" if parts else node.layer.name
    return text if len(text) <= MAX_ARGS_TEXT else text[:MAX_ARGS_TEXT - 4] + "...)"


def _value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "none"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, CallValue):  # a bound initialiser
        return init_text(value)
    return str(value)


# ---- graphviz ----------------------------------------------------------

_FILL = {"layer": "#e8f0fb", "merge": "#fdebd0", "param": "#e8f6e8", "input": "#ffffff", "output": "#ffffff"}


def to_dot(graph: ModelGraph) -> str:
    """Graphviz source: a box per layer, a frame (cluster) per group, dashed red edges for skips."""
    lines = [f"digraph {_quote(graph.title)} {{",
             '  graph [rankdir=TB, fontname="Helvetica", fontsize=11, labeljust=l, nodesep=0.25, ranksep=0.3];',
             '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=10, color="#7a869a"];',
             '  edge [color="#5a6474", arrowsize=0.6];',
             f"  label={_quote(graph.title)}; labelloc=t;"]
    members: dict = {}
    for box in graph.boxes:
        members.setdefault(box.group, []).append(box)
    children: dict = {}
    for i, g in enumerate(graph.groups):
        children.setdefault(g.parent, []).append(i)

    def emit(group: Optional[int], indent: str) -> None:
        for box in members.get(group, []):
            shape = ", shape=ellipse" if box.kind in ("input", "output") else ""
            tooltip = f", tooltip={_quote(box.name)}" if box.name else ""
            lines.append(f'{indent}{box.id} [label={_quote(box.title + chr(10) + box.shape)}, '
                         f'fillcolor="{_FILL[box.kind]}"{shape}{tooltip}];')
        for i in children.get(group, []):
            lines.append(f"{indent}subgraph cluster_{i} {{")
            lines.append(f'{indent}  label={_quote(graph.groups[i].label)}; style="rounded,dashed"; color="#9aa5b8";')
            emit(i, indent + "  ")
            lines.append(f"{indent}}}")

    emit(None, "  ")
    for a, b, skip in graph.edges:
        lines.append(f"  {a} -> {b}" + (' [style=dashed, color="#c0392b", constraint=true];' if skip else ";"))
    lines.append("}")
    return "\n".join(lines) + "\n"


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def draw(plan: BodyNode, out: str, title: Optional[str] = None) -> str:
    """Write the picture of a plan to `out` (.svg, .png, .pdf; .dot for the graphviz source)."""
    ext = os.path.splitext(out)[1].lower().lstrip(".")
    if ext not in ("svg", "png", "pdf", "dot"):
        raise DlspecError(f"cannot write a model picture as '{out}'", hint="give -o NAME.svg, .png, .pdf or .dot")
    graph = model_graph(plan, title)
    try:
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        if ext == "dot":
            with open(out, "w", encoding="utf-8") as f:
                f.write(to_dot(graph))
        elif shutil.which("dot"):
            done = subprocess.run(["dot", f"-T{ext}", "-o", out], input=to_dot(graph), text=True,
                                  capture_output=True)
            if done.returncode != 0:
                raise DlspecError(f"graphviz could not draw {out}: {done.stderr.strip()[:300]}")
        else:
            from .graph_draw import draw_matplotlib
            draw_matplotlib(graph, out)
    except OSError as exc:
        raise DlspecError(f"cannot write {out}: {exc.strerror or exc}") from None
    return out
