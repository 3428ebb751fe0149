"""Model summaries: a planned and built model in, table rows / JSON data out.

Used by `dlspec compile --show` and `--json`. Modules are built on the meta
device, so no memory is allocated for weights and nothing touches a GPU.
Graph bodies list their operations in order, merges (add/mul/concat with
their inputs) included, and every table ends with the model's output row.
Shapes carry their axis roles: a row's `output_roles` (["T", "F"]) beside its
`output_shape`, and the table prints `[T=10, F=6]`.
"""
from __future__ import annotations

import math

from .macs import count_macs
from ..planning.memory import activation_bytes
from ..planning.nodes import BodyNode, LayerNode
from ..shapes import Shape


def model_summary(spec, name: str, frozen: tuple = (), module=None, facts=None) -> dict:
    """Rows and totals for one model; `frozen` lists labels whose params are frozen; `facts` are the data's
    (planning/facts.py), for a model whose input takes a size from it.

    `module` is the model already built (on meta); without it, it is built here.
    A row's `macs` is None where it could not be counted; the total is then None too.
    """
    import torch
    plan = spec.plan(name, facts)
    if module is None:
        with torch.device("meta"):
            module = spec.build(name, facts)
    frozen_names = _frozen_parameter_names(module, frozen)
    rows = _Rows(module, frozen_names).body(plan, "", 0)
    for out_name, out_shape in (plan.outputs or {"output": plan.out_shape}).items():
        rows.append(_row(out_name, "output", out_shape, 0, plan.output_locs.get(out_name, plan.loc), 0, 0, False))
    total = sum(p.numel() for p in module.parameters())
    frozen_count = sum(p.numel() for n, p in module.named_parameters() if n in frozen_names)
    layers = [r for r in rows if not r["group"]]
    uncounted = [r for r in layers if r["macs"] is None]
    summary = {
        "name": name, "input_shape": list(plan.in_shape.dims), "output_shape": list(plan.out_shape.dims),
        "input_roles": _roles(plan.in_shape), "output_roles": _roles(plan.out_shape),
        "params": total, "trainable": total - frozen_count, "frozen": frozen_count,
        "macs": None if uncounted else sum(r["macs"] for r in layers),
        "macs_not_counted": [f"{r['name']} (line {r['line']})" for r in uncounted],
        "param_bytes": sum(p.numel() * p.element_size() for p in module.parameters()),
        "activation_bytes": activation_bytes(plan),  # one sample's, as training keeps them
        "layers": rows,
    }
    if plan.inputs:  # named inputs or outputs: each with its shape, in declaration order
        summary["inputs"] = [_named(n, s) for n, s in plan.inputs.items()]
        summary["outputs"] = [_named(n, s) for n, s in (plan.outputs or {"output": plan.out_shape}).items()]
    return summary


def _named(name: str, shape: Shape) -> dict:
    return {"name": name, "shape": list(shape.dims), "roles": _roles(shape), "ids": shape.integer}


class _Rows:
    """Walks a plan tree beside its built module, one row per layer, block, param and merge."""

    def __init__(self, module, frozen_names: set):
        self.module, self.frozen_names = module, frozen_names

    def body(self, node: BodyNode, prefix: str, depth: int) -> list:
        rows = [self._param_row(p, prefix, depth) for p in node.params]
        if not node.graph:
            for child in node.children:
                rows += self.child(child, prefix, depth)
            return rows
        children = {c.name: c for c in node.children}
        shown = {"input": "input"}  # result name -> how a merge row names it
        merges: dict = {}  # kind -> how many so far, for add, add_1, ...
        for op in node.ops:
            if op.kind == "module":
                rows += self.child(children[op.module], prefix, depth)
                shown[op.target] = op.module
            elif op.kind == "ref":
                shown[op.target] = op.target
            elif op.kind == "part":  # mu, logvar = ... -> chunk(2): a row per bound part, under its name
                rows.append(_row(prefix + op.target, f"part {op.dim} of {shown.get(op.inputs[0], 'chunk')}",
                                 node.shapes[op.target], 0, op.loc, depth, 0, False))
                shown[op.target] = op.target
            else:
                seen = merges.get(op.kind, 0)
                name = op.kind if seen == 0 else f"{op.kind}_{seen}"
                merges[op.kind] = seen + 1
                inputs = ", ".join(_operand(i, shown) for i in op.inputs)
                rows.append(_row(prefix + name, f"{op.kind}({inputs})", node.shapes[op.target], 0, op.loc,
                                 depth, _merge_macs(op, node.shapes), False))
                shown[op.target] = name
        return rows

    def child(self, node, prefix: str, depth: int) -> list:
        qualified = prefix + node.name
        sub = self.module.get_submodule(qualified)
        count = sum(p.numel() for p in sub.parameters())
        is_frozen = count > 0 and all(f"{qualified}.{n}" in self.frozen_names for n, _ in sub.named_parameters())
        if isinstance(node, LayerNode):
            row = _row(qualified, type(sub).__name__, node.out_shape, count, node.loc, depth,
                       count_macs(node, sub), is_frozen)
            return [row]
        rows = self.body(node, qualified + ".", depth + 1)
        macs = sum(r["macs"] for r in rows) if all(r["macs"] is not None for r in rows) else None
        kind = node.block or type(sub).__name__
        return [_row(qualified, kind, node.out_shape, count, node.loc, depth, macs, is_frozen, group=True)] + rows

    def _param_row(self, p, prefix: str, depth: int) -> dict:
        qualified = prefix + p.name
        return _row(qualified, "param", Shape(tuple(p.shape)), math.prod(p.shape), p.loc, depth + (1 if prefix else 0), 0,
                    qualified in self.frozen_names)


def _merge_macs(op, shapes: dict) -> int:
    """A merge's multiply-accumulates per sample: matmul's [.., n, k] @ [.., k, m] is n * m * k per leading
    position; add, mul and concat count as none (as activations do)."""
    if op.kind != "matmul":
        return 0
    return math.prod(shapes[op.target].dims) * shapes[op.inputs[0]].dims[-1]


def _operand(name, shown: dict) -> str:
    return repr(name) if isinstance(name, float) else shown.get(name, name)


def _roles(shape: Shape):
    return list(shape.roles) if shape.roles is not None else None


def _shown(dims: list, roles) -> str:
    """`[T=10, F=6]`, or `[10, 6]` without roles."""
    return Shape(tuple(dims), roles=tuple(roles) if roles else None).labelled()


def _row(name, kind, shape: Shape, params, loc, depth, macs, frozen, group=False) -> dict:
    # `group`: a block or labelled chain whose params and MACs are the sum of the rows below it
    return {"name": name, "type": kind, "output_shape": list(shape.dims), "output_roles": _roles(shape),
            "params": int(params or 0),
            "line": loc.line, "file": loc.file, "depth": depth, "macs": int(macs) if macs is not None else None,
            "frozen": bool(frozen), "group": group}


def _frozen_parameter_names(module, labels: tuple) -> set:
    names = set()
    for label in labels:
        for n, _ in module.named_parameters():
            if n == label or n.startswith(label + "."):
                names.add(n)
    return names


def format_table(summary: dict) -> str:
    """A Keras-style text table with totals."""
    header = ("Layer", "Type", "Output shape", "Params", "Line")
    body = []
    for r in summary["layers"]:
        name = "  " * r["depth"] + r["name"].split(".")[-1] if r["depth"] else r["name"]
        params = f"{r['params']:,}" + (" (frozen)" if r["frozen"] else "")
        body.append((name, r["type"], _shown(r["output_shape"], r.get("output_roles")), params, str(r["line"])))
    widths = [max(len(h), *(len(row[i]) for row in body)) if body else len(h) for i, h in enumerate(header)]
    line = lambda cells: "  ".join(c.ljust(w) if i != 3 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))
    rule = "-" * (sum(widths) + 2 * (len(widths) - 1))
    out = [f"Model {summary['name']}: {_inputs_line(summary)}", rule, line(header), rule]
    out += [line(row) for row in body]
    macs = (f"{_human(summary['macs'])} per sample" if summary["macs"] is not None else
            "n/a (not counted: " + ", ".join(summary["macs_not_counted"]) + ")")
    out += [rule,
            f"Total params:      {summary['params']:,}",
            f"Trainable params:  {summary['trainable']:,}",
            f"Frozen params:     {summary['frozen']:,}",
            f"Estimated MACs:    {macs}",
            f"Parameter memory:  {summary['param_bytes'] / 2**20:.2f} MiB",
            f"Activations:       {summary['activation_bytes'] / 2**20:.2f} MiB per sample (training)"]
    return "\n".join(out)


def _inputs_line(summary: dict) -> str:
    """`input [C=3, H=32, W=32]`, or for named inputs `inputs photo [C=3, H=64, W=64], words [T=40] ids`."""
    if "inputs" not in summary:
        return f"input {_shown(summary['input_shape'], summary.get('input_roles'))}"
    shown = [f"{i['name']} {_shown(i['shape'], i['roles'])}" + (" ids" if i["ids"] else "") for i in summary["inputs"]]
    return ("inputs " if len(shown) > 1 else "input ") + ", ".join(shown)


def _human(n: int) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= size:
            return f"{n / size:.2f}{unit}"
    return str(n)
