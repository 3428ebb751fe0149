"""Planning bodies with bindings: statements in, a list of graph operations with shapes out.

Handles `NAME = chain`, `input`, merges (`add`, `mul`, `concat`, broadcast
rules included) and `param` declarations with their inits.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from ..language import ir
from ..errors import ArgumentError, DlspecError, Loc, ShapeError, UnknownNameError, did_you_mean, warn
from .nodes import MERGES, TEMP_PREFIX, BodyNode, Op, ParamNode, evaluate_args, int_dim
from ..language.resolve import CallValue, Env
from ..schema.args import Arg, Symbol, bind_args, positive
from ..shapes import Shape, broadcast

if TYPE_CHECKING:  # only for annotations: plan imports this module
    from .naming import Namer
    from .planner import Planner


class GraphBuilder:
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
        elif isinstance(st, ir.Chain):
            self.prev = self.output = self._chain(st)
        else:  # one iteration of a repeat whose body is a graph: a module on the previous result
            child = self.planner.plan_iteration(st, self.shapes[self.prev], self.namer, self.stack)
            self.prev = self.output = self._module_op(child, self.prev, st.loc)

    def _param(self, st: ir.ParamDecl) -> None:
        args, kwargs, locs = evaluate_args(st, self.env)
        dims = tuple(int_dim(v, locs.get(i, st.loc)) for i, v in enumerate(args))
        if not dims or kwargs:
            raise ArgumentError(f"param {st.name} needs its shape, e.g. param {st.name}(1, 64) = zeros", st.loc)
        if st.name in self.shapes or st.name in self.params:
            raise DlspecError(f"'{st.name}' is already defined in this body", st.loc)
        self.params[st.name] = dims
        self.shapes[st.name] = Shape(dims)
        self.node.params.append(ParamNode(st.name, dims, _param_init(self.env.eval(st.init), st.init.loc), st.loc))
        self.namer.reserve(st.name, st.loc, "param")

    def _fresh(self) -> str:
        self.counter += 1
        return f"{TEMP_PREFIX}{self.counter}"

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
        for item in self.planner.group_steps(steps):
            if isinstance(item, list):  # a label naming several steps: one sequential submodule
                child = self.planner.plan_group(item, self.env, self.shapes[current], self.namer, self.stack)
                current = self._module_op(child, current, item[0].loc)
            else:
                current = self._graph_step(item, current)
        if target is not None:
            if target in self.params or target == "input":
                raise DlspecError(f"cannot bind '{target}': it names the input or a param", chain.loc)
            self.node.ops.append(Op(target, "ref", None, (current,), 0, chain.loc))
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
        child = self.planner.plan_step(step, self.env, self.shapes[current], self.namer, self.stack)
        return self._module_op(child, current, step.loc)

    def _module_op(self, child, current: str, loc: Loc) -> str:
        self.node.children.append(child)
        out = self._fresh()
        self.node.ops.append(Op(out, "module", child.name, (current,), 0, loc))
        self.shapes[out] = child.out_shape
        return out

    def _merge(self, call: ir.Call, current: Optional[str]) -> str:
        inputs = [current] if current is not None else []
        for a in call.args:
            inputs.append(self._operand(a, call.callee))
        dim, seen = 1, set()
        for kw in call.kwargs:
            if kw.name != "dim" or call.callee != "concat":
                raise ArgumentError(f"{call.callee} has no argument '{kw.name}'", kw.loc)
            if kw.name in seen:  # as for layers: the last would silently win
                raise ArgumentError(f"argument '{kw.name}' given twice", kw.loc)
            seen.add(kw.name)
            dim = self.env.eval(kw.value)
            if isinstance(dim, bool) or not isinstance(dim, int):
                raise ArgumentError(f"concat: dim must be an integer, received {dim!r}", kw.loc)
        if len(inputs) < 2:
            raise ArgumentError(f"{call.callee} needs at least two tensors, e.g. {call.callee}(y, input)", call.loc)
        shape = self._merged_shape(call, inputs, dim)
        out = self._fresh()
        self.node.ops.append(Op(out, call.callee, None, tuple(inputs), dim, call.loc))
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
        known = [n for n in self.shapes if not n.startswith(TEMP_PREFIX)]
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
            # Tensors of different ranks would broadcast against the batch dim at run time ([B, 1] and
            # [B, 12, 1] fail for B > 1): only params (no batch dim) may have fewer dims.
            same_rank = i in self.params or len(s.dims) == len(dims)
            merged = broadcast(dims, other) if other is not None and same_rank else None
            if merged is None or (i in self.params and merged != dims):
                what = "param " + i if i in self.params else "shapes"
                hint = "add and mul need equal (or broadcastable) shapes" if same_rank else \
                    "tensors merged need the same number of dims (only a param may have fewer)"
                raise ShapeError(f"{call.callee} of different shapes: {Shape(dims)} and {Shape(s.dims)} ({what})",
                                 call.loc, hint=hint)
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
        bound = bind_args(value.callee, _INITS[value.callee], list(value.args), value.kwargs, loc)
        if value.callee == "uniform" and not bound["a"] < bound["b"]:
            raise ArgumentError(f"uniform(a, b) needs a < b, received a={bound['a']:g}, b={bound['b']:g}", loc,
                                hint="e.g. uniform(-0.1, 0.1)")
        return (value.callee, bound)
    shown = value.callee if isinstance(value, CallValue) else value
    raise ArgumentError(f"unknown param init {shown!r}." + did_you_mean(str(shown), ["zeros", "ones", "normal", "uniform"]),
                        loc, hint="inits: a number, zeros, ones, normal(std=0.02), uniform(a, b)")


def warn_unreachable(node: BodyNode, where: str) -> None:
    """Warn at every layer, binding and param of a graph body that cannot reach its output.

    Such steps are built and counted but never change what the model returns,
    which is almost never what the spec's author meant.
    """
    live = {node.output}
    for op in reversed(node.ops):
        if op.target in live:
            live.update(i for i in op.inputs if isinstance(i, str))
    consumed = {i for op in node.ops for i in op.inputs if isinstance(i, str)}
    explained = set()  # dead results that only feed an unused binding: the binding's warning covers them
    for op in reversed(node.ops):
        if op.target not in live and (op.kind == "ref" or op.target in explained):
            explained.update(i for i in op.inputs if isinstance(i, str) and i not in live)
    dead_layers: dict = {}  # line -> (loc, [names]), so one chain gives one warning
    for op in node.ops:
        if op.target in live:
            continue
        if op.kind == "ref":
            if op.target not in consumed:
                warn(f"'{op.target}' is bound but never used: it does not reach the output of {where}", op.loc,
                     hint="use it (e.g. add(y, input)) or delete the binding")
        elif op.target not in explained:
            dead_layers.setdefault((op.loc.file, op.loc.line), (op.loc, []))[1].append(op.module or op.kind)
    for loc, names in dead_layers.values():
        verb = "does" if len(names) == 1 else "do"
        warn(f"{', '.join(names)} {verb} not reach the output of {where}: the result is never used", loc,
             hint="the output is the last chain without a binding; merge this result into it or delete it")
    for p in node.params:
        if p.name not in live:
            warn(f"param '{p.name}' is never used in {where}", p.loc, hint="use it in a merge, e.g. mul(input, scale)")
