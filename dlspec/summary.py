"""Model summaries: a planned and built model in, table rows / JSON data out.

Used by `dlspec compile --show` and `--json`. Modules are built on the meta
device, so no memory is allocated for weights and nothing touches a GPU.
"""
from __future__ import annotations

import math

from .compiler import iter_nodes
from .plan import BodyNode, LayerNode


def model_summary(spec, name: str, frozen: tuple = (), module=None) -> dict:
    """Rows and totals for one model; `frozen` lists labels whose params are frozen.

    `module` is the model already built (on meta); without it, it is built here.
    """
    import torch
    plan = spec.plan(name)
    if module is None:
        with torch.device("meta"):
            module = spec.build(name)
    frozen_names = _frozen_parameter_names(module, frozen)
    rows = []
    for p in plan.params:
        rows.append(_row(p.name, "param", p.shape, math.prod(p.shape), p.loc, 0, 0, p.name in frozen_names))
    for qualified, node, depth in iter_nodes(plan):
        sub = module.get_submodule(qualified)
        count = sum(p.numel() for p in sub.parameters())
        is_frozen = count > 0 and all(f"{qualified}.{n}" in frozen_names for n, _ in sub.named_parameters())
        if isinstance(node, LayerNode):
            kind = type(sub).__name__
            macs = node.layer.macs(node.in_shape, node.out_shape, node.args) if node.layer.macs else 0
        else:
            kind, macs = node.block or type(sub).__name__, 0
        rows.append(_row(qualified, kind, node.out_shape.dims, count, node.loc, depth, macs, is_frozen))
        if isinstance(node, BodyNode):
            for p in node.params:
                rows.append(_row(f"{qualified}.{p.name}", "param", p.shape, math.prod(p.shape), p.loc, depth + 1, 0,
                                 f"{qualified}.{p.name}" in frozen_names))
    total = sum(p.numel() for p in module.parameters())
    frozen_count = sum(p.numel() for n, p in module.named_parameters() if n in frozen_names)
    return {
        "name": name, "input_shape": list(plan.in_shape.dims), "output_shape": list(plan.out_shape.dims),
        "params": total, "trainable": total - frozen_count, "frozen": frozen_count,
        "macs": sum(r["macs"] for r in rows),
        "param_bytes": sum(p.numel() * p.element_size() for p in module.parameters()),
        "layers": rows,
    }


def _row(name, kind, shape, params, loc, depth, macs, frozen) -> dict:
    return {"name": name, "type": kind, "output_shape": list(shape), "params": int(params or 0),
            "line": loc.line, "file": loc.file, "depth": depth, "macs": int(macs), "frozen": bool(frozen)}


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
        body.append((name, r["type"], "[" + ", ".join(map(str, r["output_shape"])) + "]", params, str(r["line"])))
    widths = [max(len(h), *(len(row[i]) for row in body)) if body else len(h) for i, h in enumerate(header)]
    line = lambda cells: "  ".join(c.ljust(w) if i != 3 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))
    rule = "-" * (sum(widths) + 2 * (len(widths) - 1))
    out = [f"Model {summary['name']}: input [{', '.join(map(str, summary['input_shape']))}]", rule, line(header), rule]
    out += [line(row) for row in body]
    out += [rule,
            f"Total params:      {summary['params']:,}",
            f"Trainable params:  {summary['trainable']:,}",
            f"Frozen params:     {summary['frozen']:,}",
            f"Estimated MACs:    {_human(summary['macs'])} per sample",
            f"Parameter memory:  {summary['param_bytes'] / 2**20:.2f} MiB"]
    return "\n".join(out)


def _human(n: int) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= size:
            return f"{n / size:.2f}{unit}"
    return str(n)
