"""A plan tree and its trained modules in, standalone PyTorch source (model.py) out.

Sequential bodies become nn.Sequential, graph bodies nn.Module classes with an
explicit forward (one line per operation), torch.nn modules are rebuilt from the
spec's own arguments, and dlspec's runtime modules are copied whole; the file
imports only torch (and torchvision for backbones).
"""
from __future__ import annotations

import inspect
import os
import keyword
import math

import torch
from torch import nn

from ..errors import DlspecError
from ..layers.init import as_runtime
from ..planning.lengths import time_rule
from ..planning.nodes import TEMP_PREFIX, BodyNode, LayerNode
from ..runtime.units import OriginalUnits

MAX_INLINE_DEPTH = 8  # chains nested this deep in one expression move to their own function


class PythonWriter:
    """Writes a plan tree and its built modules as standalone PyTorch source."""

    def __init__(self, plan: BodyNode, model: nn.Module, scale: dict = None):
        self.plan, self.model, self.scale = plan, model, scale
        self.classes: dict = {}  # class (or function) source -> its name
        self.functions: dict = {}  # (block, body source) -> function name
        self.needs_sequences = False
        self.needs_attention = False
        self.needs_torchvision = False
        self.needs_init = False  # a layer starts from init= / bias_init=: runtime/init.py is copied
        self.vectors: list = []  # (layer, file) of embeddings started from word vectors: weights.pt holds them
        self.time_major: list = []
        self.first_output: list = []  # paths of torch.nn modules whose tuple output is cut to its first element

    def source(self) -> str:
        root = self.expr(self.plan, self.model, "", top=True)
        header = [f'"""{self.plan.name}, exported by dlspec: plain PyTorch, no dlspec needed.',
                  "", f"    model = build(\"weights.pt\")   # {_inputs_comment(self.plan)}",
                  '"""', "from collections import OrderedDict", "", "import torch", "from torch import nn"]
        if self.needs_torchvision:
            header.append("import torchvision")
        parts = ["\n".join(header)]
        if self.needs_sequences:
            parts.append(runtime_source("recurrent"))
        if self.needs_attention:
            parts.append(runtime_source("attention"))
        if self.needs_torchvision:
            from ..layers.torchvision_models import drop_head
            parts.append(inspect.getsource(drop_head))
        if self.time_major or self.first_output:
            parts.append(runtime_source("hooks"))
        if self.needs_init:
            parts.append(runtime_source("init"))
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
            tokens = [i for i, shape in enumerate(self.plan.inputs.values()) if shape.integer]
            if self.plan.inputs and tokens:  # named inputs: the lengths of the one tokens input, by position
                lines.append("    model.register_forward_pre_hook(lambda module, inputs: "
                             f"context.measure_lengths(module, inputs[{tokens[0]}:{tokens[0] + 1}]))")
            elif self.plan.in_shape.integer:
                lines.append("    model.register_forward_pre_hook(context.measure_lengths)")
        else:
            lines.append(f"    model = {_indent(root, 4)}")
        for path, axis, rule in self.time_major:
            carried = f", {rule!r}, context" if rule else ""  # the padding lengths through a change of steps
            lines.append(f"    ChannelsFirst({axis}{carried}).attach(model.get_submodule({path!r}))")
        for path in self.first_output:
            lines.append(f"    model.get_submodule({path!r}).register_forward_hook(first_output)")
        for name, path in self.vectors:
            lines.append(f"    # {name} started from the word vectors of {os.path.basename(path)} when it trained; "
                         "weights.pt holds them (build() alone does not read the file)")
        lines += ["    if weights is not None:",
                  "        model.load_state_dict(torch.load(weights, map_location=\"cpu\", weights_only=True))"]
        if self.scale:
            s = self.scale
            lines += ["    # trained on scaled values: take and give the data's own units",
                      f"    model = OriginalUnits(model, center={s['center']!r}, spread={s['spread']!r}, "
                      f"inputs={bool(s.get('inputs'))!r})"]
        lines += ["    return model"]
        return "\n".join(lines)

    def expr(self, node, module: nn.Module, path: str, depth: int = 0, top: bool = False) -> str:
        if isinstance(node, LayerNode):
            if node.channel_axis:
                rule = time_rule(node) if self.plan.in_shape.integer else None
                self.needs_sequences = self.needs_sequences or rule is not None
                self.time_major.append((path, node.channel_axis, rule))
            if node.layer.passthrough:
                self.first_output.append(path)
            return self._initialised(node, self._layer(node, module))
        if node.graph:
            return f"{self._graph_class(node, module, path)}()"
        items = [f"({c.name!r}, {self.expr(c, module.get_submodule(c.name), _join(path, c.name), depth + 1)})"
                 for c in node.children]
        made = "nn.Sequential(OrderedDict([\n" + "".join(f"    {i},\n" for i in items) + "]))"
        if top or not (node.block or depth >= MAX_INLINE_DEPTH):
            return made
        return f"{self._function(node, made)}()"

    def _function(self, node: BodyNode, made: str) -> str:
        """A nested chain body as its own `def make_NAME(): return nn.Sequential(...)`, so the source never
        nests deeper than one body (Python refuses more than 200 open brackets); a block written twice the
        same way (same block, same arguments) is one function called twice. Returns the function's name."""
        body = "():\n    return " + _indent(made, 4) + "\n"
        raw = node.block or node.name
        if (raw, body) in self.functions:
            return self.functions[raw, body]
        base = f"make_{raw}" if raw.isidentifier() else "make_block"
        names = set(self.classes.values()) | _top_level_names()
        name, i = base, 1
        while name in names:
            i += 1
            name = f"{base}{i}"
        self.classes[f"def {name}" + body] = name  # written in the order made: each before its first user
        self.functions[raw, body] = name
        return name

    def _initialised(self, node: LayerNode, made: str) -> str:
        """`made` wrapped in runtime/init.py's initialised() when the layer has init= or bias_init= (its own
        or a train block's layer_init), so build() draws the same starting weights as the compiler;
        vectors() are not redrawn: the trained weights in weights.pt hold them."""
        if not node.layer.weights:
            return made
        written = node.args.get("init")
        if written is not None and written.callee == "vectors":
            self.vectors.append((node.name, written.kwargs["path"]))
        weight, bias = (as_runtime(node.args.get(key)) for key in ("init", "bias_init"))
        if weight is None and bias is None:
            return made
        self.needs_init = True
        return f"initialised({made}, {weight!r}, {bias!r})"

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
        from ..runtime.categories import CategoryEmbedding
        from ..runtime.graph import Permute, Reshape
        if isinstance(module, (rm.Recurrent, rm.UnrolledCell, rm.TimeSelect)):
            self.needs_sequences = True
        made = _attention_module(module)
        if made:
            self.needs_sequences = self.needs_attention = True  # attention reads the sequences' lengths
            return made
        if isinstance(module, Reshape):
            self.classes.setdefault(inspect.getsource(Reshape), "Reshape")
            return f"Reshape({module.shape!r})"
        if isinstance(module, Permute):
            self.classes.setdefault(inspect.getsource(Permute), "Permute")
            return f"Permute({module.dims!r})"
        if isinstance(module, CategoryEmbedding):
            self.classes.setdefault(inspect.getsource(CategoryEmbedding), "CategoryEmbedding")
            columns = [(int(p), t.num_embeddings - 1, t.embedding_dim)
                       for p, t in zip(module.positions.tolist(), module.tables)]
            return f"CategoryEmbedding({len(module.kept) + len(columns)}, {columns!r})"
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
            made = f"nn.Parameter({param_init(p.shape, p.init)})"
            init.append(f"self.{p.name} = {made}" if _plain_name(p.name) else f"self.register_parameter({p.name!r}, {made})")
        for c in node.children:
            made = self.expr(c, module.get_submodule(c.name), _join(path, c.name))
            init.append(f"{_attr(c.name)} = {_indent(made, 8)}")
        unused = _loss_only(node)
        body = [self._op(op, node) for op in node.ops if op.target not in unused] + [f"return {_returned(node)}"]
        raw = node.block or node.name
        base = raw if any(ch.isupper() for ch in raw) else "".join(w.capitalize() for w in raw.split("_"))
        base = base if base.isidentifier() else "Block"  # a block named _ leaves nothing to capitalise
        source_body = ("(nn.Module):\n    def __init__(self):\n" + "".join(f"        {x}\n" for x in init)
                       + f"\n    def forward(self, {', '.join(_var(n, node) for n in node.inputs) or 'input'}):\n" + "".join(f"        {x}\n" for x in body))
        for src, name in self.classes.items():
            if src.split("(", 1)[1] == source_body.split("(", 1)[1] and src.startswith("class "):
                return name
        names = set(self.classes.values()) | _top_level_names()
        name, i = base, 1
        while name in names:
            i += 1
            name = f"{base}{i}"
        self.classes[f"class {name}" + source_body] = name
        return name

    def _op(self, op, node: BodyNode) -> str:
        target, kind, name, inputs, dim, expand = op.as_tuple()
        args = [_var(i, node) for i in inputs]
        if kind in _LATENT_SOURCE:
            return _LATENT_SOURCE[kind](_var(target, node) if kind != "add_loss" else name, args, dim, expand)
        for k, axes in enumerate(expand):  # line samples up against samples, never the batch
            args[k] += "".join(f".unsqueeze({axis})" for axis in axes)
        if kind == "module":
            if any(p.name == inputs[0] for p in node.params):  # a param starts the chain: one copy per sample
                first = _var(next(iter(node.inputs), "input"), node)
                args[0] += f".unsqueeze(0).expand({first}.shape[0], *" + args[0] + ".shape)"
            call = f"{_attr(name)}({args[0]})"
        elif kind == "ref":
            call = args[0]
        elif kind == "concat":
            call = f"torch.cat([{', '.join(args)}], dim={dim})"
        elif kind == "matmul":
            call = f"torch.matmul({args[0]}, {args[1]})"
        else:
            call = f" {'+' if kind == 'add' else '*'} ".join(args)
        return f"{_var(target, node)} = {call}"


# a VAE's steps as Python: sample_normal draws only in training (the mean at eval, as the live module);
# add_loss is a training objective, so the exported module leaves it out (inference returns the outputs)
_LATENT_SOURCE = {
    "chunk": lambda t, a, dim, expand: f"{t} = torch.chunk({a[0]}, {expand[0]}, dim={dim})",
    "part": lambda t, a, dim, expand: f"{t} = {a[0]}[{dim}]",
    "sample_normal": lambda t, a, dim, expand: (f"{t} = {a[0]} + torch.exp(0.5 * {a[1]}) * torch.randn_like({a[0]})"
                                                f" if self.training else {a[0]}"),
    "kl_normal": lambda t, a, dim, expand: (f"{t} = -0.5 * (1 + {a[1]} - {a[0]}.pow(2) - {a[1]}.exp())"
                                            f".flatten(1).sum(1, keepdim=True)"),
    "add_loss": lambda name, a, dim, expand: f"# add_loss {name} (weight {expand[0]!r}) trains the model; not computed here",
}


def _loss_only(node: BodyNode) -> set:
    """The kl_normal results only an add_loss reads: the exported forward leaves them out with the term."""
    readers: dict = {}
    for op in node.ops:
        for name in op.inputs:
            readers.setdefault(name, []).append(op.kind)
    return {op.target for op in node.ops
            if op.kind == "kl_normal" and readers.get(op.target) and set(readers[op.target]) == {"add_loss"}}


def param_init(shape, init: tuple) -> str:
    """The torch expression that makes a param's tensor as the compiler does (compiler._make_param):
    the same values for a constant, the same draws from the same generator for normal and uniform."""
    kind, a = init
    shape = tuple(shape)
    if kind == "constant":
        value = a["value"]
        named = {0.0: f"torch.zeros({shape!r})", 1.0: f"torch.ones({shape!r})"}
        return named.get(value, f"torch.full({shape!r}, {_number(value)})")
    if kind == "normal":
        return f"torch.empty({shape!r}).normal_(mean={_number(a['mean'])}, std={_number(a['std'])})"
    if kind == "uniform":
        return f"torch.empty({shape!r}).uniform_({_number(a['a'])}, {_number(a['b'])})"
    raise DlspecError(f"python export does not know the param init {kind}")


def _number(value: float) -> str:
    """A float as Python source: repr, except inf and nan, which need float('inf')."""
    return repr(float(value)) if math.isfinite(value) else f"float({str(float(value))!r})"


def _var(name, node: BodyNode) -> str:
    if isinstance(name, float):
        return repr(name)
    if any(p.name == name for p in node.params):
        return f"self.{name}" if _plain_name(name) else f"self._parameters[{name!r}]"
    if name.startswith(TEMP_PREFIX):
        return "t" + name[len(TEMP_PREFIX):]
    return name + "_" if keyword.iskeyword(name) or name in ("torch", "nn", "self") else name


def _inputs_comment(plan: BodyNode) -> str:
    """What the model takes: one batch, or its named inputs in the order forward takes them."""
    if len(plan.inputs) < 2:
        return f"input: a batch of shape [B, {', '.join(map(str, plan.in_shape.dims))}]"
    shown = ", ".join(f"{name} [B, {', '.join(map(str, s.dims))}]" for name, s in plan.inputs.items())
    return f"inputs, in this order: {shown}"


def _returned(node: BodyNode) -> str:
    """What forward returns: the output, or a dict name -> tensor for several named outputs."""
    if len(node.outputs) > 1:
        return "{" + ", ".join(f"{n!r}: {_var(n, node)}" for n in node.outputs) + "}"
    return _var(node.output, node)


def _attr(name: str) -> str:
    return f"self.{name}" if _plain_name(name) else f"self._modules[{name!r}]"


def _plain_name(name: str) -> bool:
    """Whether `self.NAME` is valid Python (not `self.class`)."""
    return name.isidentifier() and not keyword.iskeyword(name)


def _top_level_names() -> set:
    """Names model.py defines or uses at its top level (imports, the runtime code it copies, builtins):
    a block's class must not take one."""
    import builtins
    from ..layers.torchvision_models import drop_head
    from ..runtime import categories, graph, hooks, init, recurrent, units
    names = set(dir(builtins)) | set(keyword.kwlist) | {"OrderedDict", "torch", "nn", "torchvision", "build",
                                                         drop_head.__name__}
    for module in (categories, graph, hooks, init, recurrent, units):
        names |= set(vars(module))
    return names


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _indent(text: str, spaces: int) -> str:
    return text.replace("\n", "\n" + " " * spaces)


def _attention_module(module: nn.Module) -> str:
    """The constructor call of a runtime/attention.py module, or "" for any other module."""
    from ..runtime import attention as am
    if isinstance(module, am.SelfAttention):
        a = module.attention
        return f"SelfAttention({a.embed_dim}, {a.num_heads}, {a.dropout})"
    if isinstance(module, am.TransformerEncoder):
        first = module.encoder.layers[0]
        return (f"TransformerEncoder({first.self_attn.embed_dim}, {module.encoder.num_layers}, "
                f"{first.self_attn.num_heads}, {first.linear1.out_features}, {first.dropout.p})")
    if isinstance(module, am.Positional):
        rows, features = (module.weight if module.kind == "learned" else module.table).shape
        return f"Positional({module.max_len}, {features}, {module.kind!r}, steps={rows})"
    return ""


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

    Dropped: `from __future__` (it may stand only at the top of a file) and the relative imports
    (the runtime modules they name are copied into the same file first), on one line or parenthesised
    over several."""
    import importlib
    source = inspect.getsource(importlib.import_module(f"dlspec.runtime.{name}"))
    kept, inside = [], False
    for line in source.splitlines():
        if line.startswith(("from __future__", "from .")):
            inside = "(" in line and ")" not in line
        elif inside:
            inside = ")" not in line
        else:
            kept.append(line)
    return "\n".join(kept)
