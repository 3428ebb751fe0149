"""Expansion and shape inference: a `Program` model in, a plan tree with shapes out.

Blocks are expanded with their arguments, `repeat`s unrolled, every step
resolved to a layer, block or merge, every argument bound and checked, and
every output shape inferred from the declared input shape. Pure Python: no
weight is allocated here, so a mismatch is reported before any torch work,
at the line of the layer that cannot take its input.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from . import ir
from .errors import ArgumentError, DlspecError, Loc, ShapeError, UnknownNameError, did_you_mean
from .layers.builtin import ShapeProblem
from .layers.registry import REQUIRED, Arg, LayerDef, Symbol, bind_args, get_layer, layer_names, positive
from .resolve import CallValue, Env, Program, resolve_path
from .shapes import Shape, broadcast

MERGES = ("add", "mul", "concat")


@dataclass
class LayerNode:
    """One layer with its bound arguments and shapes."""

    name: str
    layer: LayerDef
    args: dict
    in_shape: Shape
    out_shape: Shape
    loc: Loc
    time_major: bool = False  # a channels-first layer applied to a [T, F] sequence (transposed around it)


@dataclass
class ParamNode:
    """A `param NAME(dims) = INIT` declaration."""

    name: str
    shape: tuple
    init: tuple  # (kind, {arguments})
    loc: Loc


@dataclass
class BodyNode:
    """A model or block body: sequential children, or a graph of operations."""

    name: str
    block: Optional[str]
    graph: bool
    in_shape: Shape
    out_shape: Shape
    loc: Loc
    children: list = field(default_factory=list)
    params: list = field(default_factory=list)
    ops: list = field(default_factory=list)
    output: str = "input"


def _shape_error(what: str, problem: str, shape: Shape, loc: Loc) -> ShapeError:
    prefix = "" if problem.startswith(what) else f"{what}: "
    suffix = "" if "input of shape" in problem else f" (its input has shape {shape})"
    return ShapeError(f"{prefix}{problem}{suffix}", loc)


# ---- inputs ------------------------------------------------------------

_DIM = Arg("d", "int", check=positive)
_INPUTS = {
    "image": ((Arg("channels", "int", check=positive), Arg("height", "int", check=positive),
               Arg("width", "int", check=positive)), lambda a: Shape((a["channels"], a["height"], a["width"]))),
    "vector": ((Arg("features", "int", check=positive),), lambda a: Shape((a["features"],))),
    "sequence": ((Arg("steps", "int", check=positive), Arg("features", "int", check=positive)),
                 lambda a: Shape((a["steps"], a["features"]), sequence=True)),
    "tokens": ((Arg("steps", "int", check=positive), Arg("vocab", "int", None, positive)),
               lambda a: Shape((a["steps"],), integer=True, vocab=a["vocab"])),
}


class Namer:
    """Unique, readable submodule names within one body: conv, conv_1, ..."""

    def __init__(self):
        self.used: set = set()

    def take(self, base: str, label: Optional[str], loc: Loc) -> str:
        if label is not None:
            if label in self.used:
                raise DlspecError(f"label '{label}' is used twice in this body", loc,
                                  hint="labels name submodules and must be unique within a model or block")
            self.used.add(label)
            return label
        name, i = base, 0
        while name in self.used:
            i += 1
            name = f"{base}_{i}"
        self.used.add(name)
        return name


class Planner:
    """Expands the models of a program into plan trees with inferred shapes."""

    def __init__(self, program: Program, vocab: Optional[int] = None):
        self.program = program
        self.vocab = vocab  # the linked data's vocabulary size, for tokens(T) without vocab=
        self._known = list(program.lets)

    def plan_model(self, name: str) -> BodyNode:
        decl = self.program.models[name]
        statements = list(decl.body.statements)
        if not statements or not isinstance(statements[0], ir.InputDecl):
            loc = statements[0].loc if statements else decl.loc
            raise DlspecError(f"model {name} must start with an `input` declaration", loc,
                              hint="e.g. input image(3, 32, 32), vector(20), sequence(50, 8) or tokens(40, vocab=5000)")
        env = self.program.global_env()
        shape = self._input_shape(statements[0], env)
        body = ir.Body(tuple(statements[1:]), decl.body.loc)
        return self._body(body, env, shape, name, None, decl.loc, ())

    def _input_shape(self, decl: ir.InputDecl, env: Env) -> Shape:
        args, kwargs, locs = _evaluate_args(decl, env)
        if decl.kind == "tensor":
            dims = [_int_dim(v, locs.get(i, decl.loc)) for i, v in enumerate(args)]
            if not dims or kwargs:
                raise ArgumentError("tensor(...) takes the sizes of one sample, e.g. tensor(4, 10)", decl.loc)
            return Shape(tuple(dims))
        if decl.kind not in _INPUTS:
            raise UnknownNameError(f"unknown input kind '{decl.kind}'." + did_you_mean(decl.kind, list(_INPUTS) + ["tensor"]),
                                   decl.loc, hint="input kinds: image, vector, sequence, tokens, tensor")
        specs, make = _INPUTS[decl.kind]
        shape = make(bind_args(decl.kind, specs, args, kwargs, decl.loc, locs))
        if shape.integer and shape.vocab is None and self.vocab is not None:
            shape = Shape(shape.dims, integer=True, vocab=self.vocab)
        return shape

    # ---- bodies ----

    def _body(self, body: ir.Body, env: Env, shape: Shape, name: str, block: Optional[str],
              loc: Loc, stack: tuple) -> BodyNode:
        statements = self._unroll(body.statements, env)
        node = BodyNode(name, block, _is_graph(statements), shape, shape, loc)
        namer = Namer()
        if node.graph:
            self._graph(node, statements, env, namer, stack)
        else:
            for chain in statements:
                for step in chain.steps:
                    child = self._step(step, env, shape, namer, stack)
                    node.children.append(child)
                    shape = child.out_shape
            node.out_shape = shape
        return node

    def _unroll(self, statements, env: Env) -> list:
        out = []
        for st in statements:
            if isinstance(st, ir.Repeat):
                count = env.eval(st.count)
                if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                    raise ArgumentError(f"repeat needs a non-negative integer count, received {count!r}", st.count.loc)
                for _ in range(count):
                    out.extend(self._unroll(st.body.statements, env))
            elif isinstance(st, ir.InputDecl):
                raise DlspecError("`input` declares a model's input and must be its first statement", st.loc)
            else:
                out.append(st)
        return out

    def _step(self, step: ir.Step, env: Env, shape: Shape, namer: Namer, stack: tuple):
        target = step.target
        if isinstance(target, ir.InputRef):
            raise DlspecError("`input` can only start a chain", step.loc)
        callee = target.callee if isinstance(target, ir.Call) else target.name
        if callee in MERGES:
            raise DlspecError(f"{callee} merges named tensors, e.g. y = input -> conv(8, 3); {callee}(y, input)",
                              step.loc)
        args, kwargs, locs = _evaluate_args(target, env)
        if callee in self.program.blocks:
            return self._block(callee, args, kwargs, locs, step, env, shape, namer, stack)
        layer = get_layer(callee, target.loc, list(self.program.blocks))
        bound = self._bind(layer, callee, args, kwargs, locs, target.loc)
        for key in layer.extra.get("paths", ()):
            from .layers.torchvision_models import is_weights_file
            if is_weights_file(bound.get(key)):
                bound[key] = resolve_path(bound[key], locs.get(key, target.loc))
        time_major = shape.sequence and layer.extra.get("channels_first", False)
        try:
            out = _infer_time_major(layer, shape, bound) if time_major else layer.infer(shape, bound)
        except ShapeProblem as problem:
            raise _shape_error(callee, str(problem), shape, target.loc) from None
        except DlspecError as exc:
            if exc.loc is None:
                exc.loc = target.loc
            raise
        base = layer.name.split(".")[-1].lower() if layer.source in ("torch", "torchvision") else layer.name
        return LayerNode(namer.take(base, step.label, step.loc), layer, bound, shape, out, target.loc, time_major)

    def _bind(self, layer: LayerDef, callee: str, args, kwargs, locs, loc) -> dict:
        if layer.extra.get("passthrough"):
            return {"args": tuple(_plain(a) for a in args), "kwargs": {k: _plain(v) for k, v in kwargs.items()}}
        varargs = layer.extra.get("varargs")
        if varargs and not (len(args) == 1 and isinstance(args[0], (list, tuple))) and args:
            args = [tuple(args)]
        return bind_args(callee, layer.args, list(args), kwargs, loc, locs, self._known)

    def _block(self, name, args, kwargs, locs, step, env, shape, namer, stack) -> BodyNode:
        decl = self.program.blocks[name]
        if name in stack:
            cycle = " -> ".join(stack[stack.index(name):] + (name,))
            raise DlspecError(f"block {name} uses itself ({cycle})", step.loc,
                              hint="blocks cannot be recursive; use repeat to stack copies")
        specs = tuple(Arg(p.name, "any", REQUIRED if p.default is None else _Deferred(p.default))
                      for p in decl.params)
        bound = bind_args(name, specs, list(args), kwargs, step.target.loc, locs)
        saved, self._known = self._known, list(self.program.lets) + [p.name for p in decl.params]
        local = {}
        block_env = self.program.global_env()
        for p in decl.params:
            value = bound[p.name]
            local[p.name] = block_env.child(local).eval(value.expr) if isinstance(value, _Deferred) else value
        node = self._body(decl.body, block_env.child(local), shape, name, name, step.target.loc, stack + (name,))
        self._known = saved
        node.name = namer.take(name.lower(), step.label, step.loc)
        return node

    # ---- graphs ----

    def _graph(self, node: BodyNode, statements, env: Env, namer: Namer, stack: tuple) -> None:
        graph = _Graph(self, node, env, namer, stack)
        for st in statements:
            graph.statement(st)
        node.output = graph.output or graph.prev
        if node.output in graph.params:
            raise DlspecError("the output of a body must be a tensor, not a param", node.loc)
        node.out_shape = graph.shapes[node.output]


@dataclass(frozen=True)
class _Deferred:
    """A block parameter default, evaluated when the block is expanded."""

    expr: object


class _Graph:
    """Builds the operation list of a body with bindings, tracking shapes."""

    def __init__(self, planner: Planner, node: BodyNode, env: Env, namer: Namer, stack: tuple):
        self.planner, self.node, self.env, self.namer, self.stack = planner, node, env, namer, stack
        self.shapes = {"input": node.in_shape}
        self.params: dict = {}
        self.prev = "input"
        self.output = None
        self.counter = 0

    def statement(self, st) -> None:
        if isinstance(st, ir.ParamDecl):
            self._param(st)
        elif isinstance(st, ir.Binding):
            result = self._chain(st.chain, target=st.name)
            self.prev = result
        else:
            self.prev = self.output = self._chain(st)

    def _param(self, st: ir.ParamDecl) -> None:
        args, kwargs, locs = _evaluate_args(st, self.env)
        dims = tuple(_int_dim(v, locs.get(i, st.loc)) for i, v in enumerate(args))
        if not dims or kwargs:
            raise ArgumentError(f"param {st.name} needs its shape, e.g. param {st.name}(1, 64) = zeros", st.loc)
        if st.name in self.shapes or st.name in self.params:
            raise DlspecError(f"'{st.name}' is already defined in this body", st.loc)
        self.params[st.name] = dims
        self.shapes[st.name] = Shape(dims)
        self.node.params.append(ParamNode(st.name, dims, _param_init(self.env.eval(st.init), st.init.loc), st.loc))
        self.namer.used.add(st.name)

    def _fresh(self) -> str:
        self.counter += 1
        return f"_t{self.counter}"

    def _chain(self, chain: ir.Chain, target: Optional[str] = None) -> str:
        steps = list(chain.steps)
        first = steps[0].target
        if isinstance(first, ir.InputRef):
            current, steps = "input", steps[1:]
        elif isinstance(first, ir.Name) and first.name in self.shapes:
            current, steps = first.name, steps[1:]
        elif isinstance(first, ir.Call) and first.callee in MERGES:
            current, steps = self._merge(first, None), steps[1:]
        else:
            current = self.prev
        for step in steps:
            current = self._graph_step(step, current)
        if target is not None:
            if target in self.params or target == "input":
                raise DlspecError(f"cannot bind '{target}': it names the input or a param", chain.loc)
            self.node.ops.append((target, "ref", None, (current,), 0))
            self.shapes[target] = self.shapes[current]
            return target
        return current

    def _graph_step(self, step: ir.Step, current: str) -> str:
        t = step.target
        if isinstance(t, ir.InputRef) or (isinstance(t, ir.Name) and t.name in self.shapes):
            raise DlspecError("a name or `input` can only start a chain", step.loc,
                              hint="to merge, write add(a, b) or -> add(b)")
        if isinstance(t, ir.Call) and t.callee in MERGES:
            return self._merge(t, current)
        child = self.planner._step(step, self.env, self.shapes[current], self.namer, self.stack)
        self.node.children.append(child)
        out = self._fresh()
        self.node.ops.append((out, "module", child.name, (current,), 0))
        self.shapes[out] = child.out_shape
        return out

    def _merge(self, call: ir.Call, current: Optional[str]) -> str:
        inputs = [current] if current is not None else []
        for a in call.args:
            inputs.append(self._operand(a, call.callee))
        dim = 1
        for kw in call.kwargs:
            if kw.name != "dim" or call.callee != "concat":
                raise ArgumentError(f"{call.callee} has no argument '{kw.name}'", kw.loc)
            dim = self.env.eval(kw.value)
            if isinstance(dim, bool) or not isinstance(dim, int):
                raise ArgumentError(f"concat: dim must be an integer, received {dim!r}", kw.loc)
        if len(inputs) < 2:
            raise ArgumentError(f"{call.callee} needs at least two tensors, e.g. {call.callee}(y, input)", call.loc)
        shape = self._merged_shape(call, inputs, dim)
        out = self._fresh()
        self.node.ops.append((out, call.callee, None, tuple(inputs), dim))
        self.shapes[out] = shape
        return out

    def _operand(self, expr, merge: str):
        if isinstance(expr, ir.InputRef):
            return "input"
        if isinstance(expr, ir.Name) and expr.name in self.shapes:
            return expr.name
        if isinstance(expr, ir.Literal) and isinstance(expr.value, (int, float)) and merge != "concat":
            return float(expr.value)
        name = expr.name if isinstance(expr, ir.Name) else None
        known = [n for n in self.shapes if not n.startswith("_t")]
        if name is not None and name in self.env.program.lets and merge != "concat":
            value = self.env.eval(expr)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return float(value)
        raise UnknownNameError(f"{merge}: '{name or 'this value'}' is not a bound name, param or input."
                               + (did_you_mean(name, known) if name else ""), expr.loc,
                               hint="bind a result first: y = input -> conv(8, 3)")

    def _merged_shape(self, call: ir.Call, inputs: list, dim: int) -> Shape:
        shapes = [self.shapes[i] if not isinstance(i, float) else None for i in inputs]
        tensors = [s for s, i in zip(shapes, inputs) if s is not None and i not in self.params]
        if not tensors:
            raise ShapeError(f"{call.callee} needs at least one tensor that is not a param", call.loc)
        if call.callee == "concat":
            return _concat_shape(call, tensors, dim)
        dims = tensors[0].dims
        for s, i in zip(shapes, inputs):
            if s is None:
                continue
            other = s.dims if i not in self.params else _param_dims(s.dims, len(dims))
            merged = broadcast(dims, other) if other is not None else None
            if merged is None or (i in self.params and merged != dims):
                what = "param " + i if i in self.params else "shapes"
                raise ShapeError(f"{call.callee} of different shapes: {Shape(dims)} and {Shape(s.dims)} ({what})",
                                 call.loc, hint="add and mul need equal (or broadcastable) shapes")
            dims = merged
        return tensors[0].with_dims(dims)


def _param_dims(dims: tuple, rank: int) -> Optional[tuple]:
    """A param's dims seen against a per-sample shape of `rank` (a leading 1 is the batch)."""
    if len(dims) == rank + 1:
        return dims[1:] if dims[0] == 1 else None
    return dims if len(dims) <= rank else None


def _concat_shape(call, tensors, dim: int) -> Shape:
    rank = tensors[0].rank
    d = dim + rank + 1 if dim < 0 else dim
    if not 1 <= d <= rank:
        raise ShapeError(f"concat: dim={dim} is out of range (dims count the batch dim: 1..{rank})", call.loc)
    total = 0
    for s in tensors:
        if s.rank != rank or any(a != b for k, (a, b) in enumerate(zip(s.dims, tensors[0].dims)) if k != d - 1):
            raise ShapeError(f"concat along dim {dim} of {tensors[0]} and {s}: the other dims must match", call.loc)
        total += s.dims[d - 1]
    dims = list(tensors[0].dims)
    dims[d - 1] = total
    return tensors[0].with_dims(dims)


# ---- helpers -----------------------------------------------------------


def _infer_time_major(layer: LayerDef, shape: Shape, bound: dict) -> Shape:
    """conv/pool/batchnorm over a [T, F] sequence: features act as channels, time as length."""
    steps, features = shape.dims
    out = layer.infer(Shape((features, steps)), bound)
    return Shape((out.dims[1], out.dims[0]), sequence=True)


def _is_graph(statements) -> bool:
    for st in statements:
        if isinstance(st, (ir.Binding, ir.ParamDecl)):
            return True
        for step in st.steps:
            t = step.target
            if isinstance(t, ir.InputRef) or (isinstance(t, ir.Call) and t.callee in MERGES):
                return True
    return False


def _evaluate_args(node, env: Env):
    """Evaluate a call's arguments; also return the Loc of each (by index or name)."""
    if isinstance(node, ir.Name):
        return [], {}, {}
    args = [env.eval(a) for a in node.args]
    kwargs, locs = {}, {i: a.loc for i, a in enumerate(node.args)}
    for kw in node.kwargs:
        if kw.name in kwargs:
            raise ArgumentError(f"argument '{kw.name}' given twice", kw.loc)
        kwargs[kw.name] = env.eval(kw.value)
        locs[kw.name] = kw.loc
    return args, kwargs, locs


def _int_dim(value, loc: Loc) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ArgumentError(f"a size must be a positive integer, received {value!r}", loc)
    return value


def _plain(value):
    if isinstance(value, Symbol):
        return str(value)
    if isinstance(value, CallValue):
        raise ArgumentError(f"'{value.callee}(...)' cannot be passed to a torch module", value.loc)
    return value


_INITS = {
    "normal": (Arg("mean", "float", 0.0), Arg("std", "float", 1.0, positive)),
    "uniform": (Arg("a", "float", 0.0), Arg("b", "float", 1.0)),
}


def _param_init(value, loc: Loc) -> tuple:
    if isinstance(value, bool):
        raise ArgumentError("a param init must be a number, zeros, ones, normal(...) or uniform(...)", loc)
    if isinstance(value, (int, float)):
        return ("constant", {"value": float(value)})
    if isinstance(value, Symbol) and value in ("zeros", "ones"):
        return ("constant", {"value": 0.0 if value == "zeros" else 1.0})
    if isinstance(value, CallValue) and value.callee in _INITS:
        return (value.callee, bind_args(value.callee, _INITS[value.callee], list(value.args), value.kwargs, loc))
    shown = value.callee if isinstance(value, CallValue) else value
    raise ArgumentError(f"unknown param init {shown!r}." + did_you_mean(str(shown), ["zeros", "ones", "normal", "uniform"]),
                        loc, hint="inits: a number, zeros, ones, normal(std=0.02), uniform(a, b)")
