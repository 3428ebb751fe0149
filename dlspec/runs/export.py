"""Export a finished run: a run directory in, a model file that needs no dlspec out.

- python: `model.py`, a readable PyTorch module (plain nn.Sequential and
  nn.Module classes with an explicit forward) plus `weights.pt`; it imports
  only torch (and torchvision for torchvision backbones).
- torchscript: `model.pt`, traced from the trained model.
- onnx: `model.onnx`, when the onnx package is installed.

Each export is checked before it is reported done: the exported model must
give the same outputs as the trained one on a random batch.
"""
from __future__ import annotations

import importlib.util
import inspect
import keyword
import os

import torch
from torch import nn

from ..errors import DlspecError
from ..planning.nodes import TEMP_PREFIX, BodyNode, LayerNode

FORMATS = ("python", "torchscript", "onnx")


def export_run(run_dir: str, fmt: str = "python", out: str = None, trust: bool = False) -> str:
    """Export the trained model of `run_dir`; returns the path of the main file written."""
    from .loaded import LoadedRun
    if fmt not in FORMATS:
        raise DlspecError(f"unknown export format '{fmt}'; choose one of {', '.join(FORMATS)}")
    run = LoadedRun(run_dir, trust=trust)
    out = out or os.path.join(run_dir, "export")
    os.makedirs(out, exist_ok=True)
    plan = run.spec.plan(run.cfg.model)
    example = example_input(plan)
    model = run.model.cpu().eval()
    scale = run.state.get("target_scale") if run.state.get("task") == "regression" else None
    if fmt == "python":
        return export_python(model, plan, example, out, scale)
    if scale:  # the exported model answers in the data's units, like `dlspec predict`
        model = OriginalUnits(model, scale["center"], scale["spread"], bool(scale.get("inputs"))).eval()
    return {"torchscript": export_torchscript, "onnx": export_onnx}[fmt](model, plan, example, out)


class OriginalUnits(nn.Module):
    """A model trained with `scale standard|minmax`, taking and giving values in the data's own units.

    Outputs are mapped back (y * spread + center); for a series, whose inputs were
    scaled alike, inputs are scaled first.
    """

    def __init__(self, model: nn.Module, center: float, spread: float, inputs: bool):
        super().__init__()
        self.model, self.center, self.spread, self.inputs = model, float(center), float(spread), inputs

    def forward(self, x):
        if self.inputs:
            x = (x - self.center) / self.spread
        return self.model(x) * self.spread + self.center


def example_input(plan: BodyNode) -> torch.Tensor:
    shape = (2,) + tuple(plan.in_shape.dims)
    if plan.in_shape.integer:
        tokens = torch.randint(1, max(plan.in_shape.vocab or 2, 2), shape, generator=torch.Generator().manual_seed(0))
        tokens[0, max(1, shape[1] // 2):] = 0  # some padding, so a trace records the padding-aware path
        return tokens
    return torch.randn(shape, generator=torch.Generator().manual_seed(0))


def _check_same(model, exported, example, what: str) -> None:
    with torch.no_grad():
        expected, got = model(example), exported(example)
    if not torch.allclose(expected, got, atol=1e-5, rtol=1e-4):
        raise DlspecError(f"the {what} export does not reproduce the model's outputs")


def export_torchscript(model, plan, example, out: str) -> str:
    path = os.path.join(out, "model.pt")
    import warnings
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracing warns about deprecation and Python-level branches
        traced = torch.jit.trace(model, example, check_trace=False)
    traced.save(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _check_same(model, torch.jit.load(path), example, "torchscript")
    return path


def export_onnx(model, plan, example, out: str) -> str:
    if importlib.util.find_spec("onnx") is None:
        raise DlspecError("ONNX export needs the onnx package, which is not installed",
                          hint="pip install onnx onnxscript, then run the export again")
    path = os.path.join(out, "model.onnx")
    torch.onnx.export(model, (example,), path, input_names=["input"], output_names=["output"],
                      dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})
    return path


# ---- python source ----------------------------------------------------------


def export_python(model, plan, example, out: str, scale: dict = None) -> str:
    """model.py and weights.pt; with `scale`, build() wraps the model in OriginalUnits."""
    source = PythonWriter(plan, model, scale).source()
    path = os.path.join(out, "model.py")
    with open(path, "w", encoding="utf-8") as f:
        f.write(source)
    torch.save(model.state_dict(), os.path.join(out, "weights.pt"))
    if scale:
        model = OriginalUnits(model, scale["center"], scale["spread"], bool(scale.get("inputs"))).eval()
    _check_same(model, _load_generated(path, out), example, "python")
    return path


def _load_generated(path: str, out: str):
    spec = importlib.util.spec_from_file_location("_dlspec_exported_model", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.build(os.path.join(out, "weights.pt")).eval()


class PythonWriter:
    """Writes a plan tree and its built modules as standalone PyTorch source."""

    def __init__(self, plan: BodyNode, model: nn.Module, scale: dict = None):
        self.plan, self.model, self.scale = plan, model, scale
        self.classes: dict = {}  # class source -> class name
        self.needs_sequences = False
        self.needs_torchvision = False
        self.time_major: list = []
        self.first_output: list = []  # paths of torch.nn modules whose tuple output is cut to its first element

    def source(self) -> str:
        root = self.expr(self.plan, self.model, "", top=True)
        header = [f'"""{self.plan.name}, exported by dlspec: plain PyTorch, no dlspec needed.',
                  "", f"    model = build(\"weights.pt\")   # input: a batch of shape [B, {', '.join(map(str, self.plan.in_shape.dims))}]",
                  '"""', "from collections import OrderedDict", "", "import torch", "from torch import nn"]
        if self.needs_torchvision:
            header.append("import torchvision")
        parts = ["\n".join(header)]
        if self.needs_sequences:
            parts.append(runtime_source("recurrent"))
        if self.needs_torchvision:
            from ..layers.torchvision_models import drop_head
            parts.append(inspect.getsource(drop_head))
        if self.time_major or self.first_output:
            parts.append(runtime_source("hooks"))
        parts.extend(self.classes)
        if self.scale:
            parts.append(inspect.getsource(OriginalUnits))
        parts.append(self._build_function(root))
        return "\n\n\n".join(p.strip("\n") for p in parts) + "\n"

    def _build_function(self, root: str) -> str:
        lines = ['def build(weights=None):', '    """The model; with `weights`, its trained state_dict (read with weights_only=True)."""']
        if self.needs_sequences:
            lines += ["    context = SequenceContext()", "    with building_with(context):",
                      f"        model = {_indent(root, 8)}"]
            if self.plan.in_shape.integer:
                lines.append("    model.register_forward_pre_hook(context.measure_lengths)")
        else:
            lines.append(f"    model = {_indent(root, 4)}")
        for path in self.time_major:
            lines += [f"    model.get_submodule({path!r}).register_forward_pre_hook(to_channels_first)",
                      f"    model.get_submodule({path!r}).register_forward_hook(to_time_major)"]
        for path in self.first_output:
            lines.append(f"    model.get_submodule({path!r}).register_forward_hook(first_output)")
        lines += ["    if weights is not None:",
                  "        model.load_state_dict(torch.load(weights, map_location=\"cpu\", weights_only=True))"]
        if self.scale:
            s = self.scale
            lines += ["    # trained on scaled values: take and give the data's own units",
                      f"    model = OriginalUnits(model, center={s['center']!r}, spread={s['spread']!r}, "
                      f"inputs={bool(s.get('inputs'))!r})"]
        lines += ["    return model"]
        return "\n".join(lines)

    def expr(self, node, module: nn.Module, path: str, top: bool = False) -> str:
        if isinstance(node, LayerNode):
            if node.time_major:
                self.time_major.append(path)
            if node.layer.passthrough:
                self.first_output.append(path)
            return self._layer(node, module)
        if node.graph:
            return f"{self._graph_class(node, module, path)}()"
        items = [f"({c.name!r}, {self.expr(c, module.get_submodule(c.name), _join(path, c.name))})"
                 for c in node.children]
        return "nn.Sequential(OrderedDict([\n" + "".join(f"    {i},\n" for i in items) + "]))"

    def _layer(self, node: LayerNode, module: nn.Module) -> str:
        if node.layer.plugin:
            raise DlspecError(f"python export cannot include plugin layer {node.layer.name} ({node.layer.source})",
                              node.loc, hint="use --format torchscript for models with plugin layers")
        if node.layer.source == "torchvision":
            self.needs_torchvision = True
            name = node.layer.name.split(".", 1)[1]
            kwargs = f", num_classes={node.args['num_classes']}" if node.args.get("num_classes") else ""
            made = f"torchvision.models.get_model({name!r}, weights=None{kwargs})"
            return made if node.args["head"] else f"drop_head({made})"
        cls = type(module)
        if node.layer.passthrough:  # rebuilt from the spec's own arguments, as written
            written = [repr(v) for v in node.args["args"]] + [f"{k}={v!r}" for k, v in node.args["kwargs"].items()]
            return f"nn.{cls.__name__}({', '.join(written)})"
        if cls.__module__.startswith("dlspec."):
            return self._own_module(module)
        return f"nn.{cls.__name__}({_constructor_args(module)})"

    def _own_module(self, module: nn.Module) -> str:
        from ..runtime import recurrent as rm
        from ..runtime.graph import Permute, Reshape
        if isinstance(module, (rm.Recurrent, rm.UnrolledCell, rm.TimeSelect)):
            self.needs_sequences = True
        if isinstance(module, Reshape):
            self.classes.setdefault(inspect.getsource(Reshape), "Reshape")
            return f"Reshape({module.shape!r})"
        if isinstance(module, Permute):
            self.classes.setdefault(inspect.getsource(Permute), "Permute")
            return f"Permute({module.dims!r})"
        if isinstance(module, rm.Recurrent):
            r = module.rnn
            return (f"Recurrent({module.kind!r}, {r.input_size}, {r.hidden_size}, {r.num_layers}, "
                    f"{r.bidirectional}, {r.dropout})")
        if isinstance(module, rm.UnrolledCell):
            return f"UnrolledCell({module.kind!r}, {module.cell.input_size}, {module.cell.hidden_size})"
        if isinstance(module, rm.TimeSelect):
            return f"TimeSelect({module.how!r})"
        raise DlspecError(f"python export does not know how to write {type(module).__name__}")

    def _graph_class(self, node: BodyNode, module: nn.Module, path: str) -> str:
        init = ["super().__init__()"]
        for p in node.params:
            init.append(f"self.{p.name} = nn.Parameter(torch.zeros({tuple(p.shape)!r}))")
        for c in node.children:
            made = self.expr(c, module.get_submodule(c.name), _join(path, c.name))
            init.append(f"{_attr(c.name)} = {_indent(made, 8)}")
        body = [self._op(op, node) for op in node.ops] + [f"return {_var(node.output, node)}"]
        raw = node.block or node.name
        base = raw if any(ch.isupper() for ch in raw) else "".join(w.capitalize() for w in raw.split("_"))
        source_body = ("(nn.Module):\n    def __init__(self):\n" + "".join(f"        {x}\n" for x in init)
                       + "\n    def forward(self, input):\n" + "".join(f"        {x}\n" for x in body))
        for src, name in self.classes.items():
            if src.split("(", 1)[1] == source_body.split("(", 1)[1] and src.startswith("class "):
                return name
        names = set(self.classes.values())
        name, i = base, 1
        while name in names:
            i += 1
            name = f"{base}{i}"
        self.classes[f"class {name}" + source_body] = name
        return name

    def _op(self, op, node: BodyNode) -> str:
        target, kind, name, inputs, dim = op.as_tuple()
        args = [_var(i, node) for i in inputs]
        if kind == "module":
            call = f"{_attr(name)}({args[0]})"
        elif kind == "ref":
            call = args[0]
        elif kind == "concat":
            call = f"torch.cat([{', '.join(args)}], dim={dim})"
        else:
            call = f" {'+' if kind == 'add' else '*'} ".join(args)
        return f"{_var(target, node)} = {call}"


def _var(name, node: BodyNode) -> str:
    if isinstance(name, float):
        return repr(name)
    if any(p.name == name for p in node.params):
        return f"self.{name}"
    if name.startswith(TEMP_PREFIX):
        return "t" + name[len(TEMP_PREFIX):]
    return name + "_" if keyword.iskeyword(name) or name in ("torch", "nn", "self") else name


def _attr(name: str) -> str:
    return f"self.{name}" if name.isidentifier() and not keyword.iskeyword(name) else f"self._modules[{name!r}]"


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _indent(text: str, spaces: int) -> str:
    return text.replace("\n", "\n" + " " * spaces)


def _constructor_args(module: nn.Module) -> str:
    """Arguments that rebuild a torch.nn module, read back from its attributes."""
    params = inspect.signature(type(module).__init__).parameters
    args = []
    for p in list(params.values())[1:]:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or p.name in ("device", "dtype"):
            continue
        if not hasattr(module, p.name):
            continue
        value = getattr(module, p.name)
        if p.name == "bias" and (value is None or isinstance(value, torch.Tensor)):
            value = value is not None
        if isinstance(value, tuple) and value and len(set(value)) == 1:
            value = value[0]  # (3, 3) -> 3: torch expands it again
        if isinstance(value, torch.Tensor) or (p.default is not p.empty and value == p.default):
            continue
        args.append(f"{p.name}={value!r}" if p.default is not p.empty else repr(value))
    return ", ".join(args)


def runtime_source(name: str) -> str:
    """A module of dlspec/runtime, copied whole into the exported file (it imports only torch).

    Only `from __future__` is dropped: it may stand only at the top of a file."""
    import importlib
    source = inspect.getsource(importlib.import_module(f"dlspec.runtime.{name}"))
    return "\n".join(line for line in source.splitlines() if not line.startswith("from __future__"))
