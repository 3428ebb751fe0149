"""Planning bodies with bindings: statements in, a list of graph operations with shapes out.

Handles `NAME = chain`, `input`, `output NAME = chain`, merges (`add`, `mul`,
`concat`, `matmul`) and `param` declarations with their inits, and warns at
steps that cannot reach the output. The shape of a merge comes from merges.py
(axis roles, broadcasting, the axes a smaller operand lacks, which the run
inserts after the batch dim), matmul's from matmul.py; a VAE's steps (`chunk`,
`sample_normal`, `kl_normal`, `add_loss`) are planned by latent.py.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from ..language import ir
from ..errors import ArgumentError, DlspecError, Loc, UnknownNameError, did_you_mean, warn
from .nodes import MERGES, TEMP_PREFIX, BodyNode, Op, ParamNode, evaluate_args, int_dim
from .matmul import matmul_shape
from .merges import merged_shape, shown_operand
from .latent import LATENT_STEPS, bind_parts, check_parts_bound, plan_latent
from ..language.resolve import Env
from ..language.values import CallValue, Symbol
from ..schema.args import Arg, bind_args, positive
from ..shapes import Shape

if TYPE_CHECKING:  # only for annotations: plan imports this module
    from .naming import Namer
    from .planner import Planner


class GraphBuilder:
    """Builds the operation list of a body with bindings, tracking shapes."""

    def __init__(self, planner: Planner, node: BodyNode, env: Env, namer: Namer, stack: tuple):
        self.planner, self.node, self.env, self.namer, self.stack = planner, node, env, namer, stack
        # a model's named inputs (in declaration order), else the body's one `input`
        self.inputs = tuple(node.inputs) or ("input",)
        self.shapes = dict(node.inputs) or {"input": node.in_shape}
        self.params: dict = {}
        self.prev = self.inputs[0] if len(self.inputs) == 1 else None  # several inputs: a chain names its start
        self.output = None
        self.outputs: dict = {}  # `output NAME = ...`: name -> its line
        self.counter = 0
        self.parts: dict = {}  # a chunk op's result -> (number of parts, its loc)
        self.consumed_parts: set = set()  # chunk results a binding of several names took
        self.loss_terms: dict = {}  # add_loss column name -> its loc

    def statement(self, st) -> None:
        if isinstance(st, (ir.Binding, ir.OutputDecl, ir.Chain)):
            _check_add_loss_alone(st)
        if isinstance(st, ir.ParamDecl):
            self._param(st)
        elif isinstance(st, ir.Binding):
            if st.name in self.outputs:  # the module would return the new value, not the output's chain
                raise DlspecError(f"'{st.name}' is an output (line {self.outputs[st.name].line}); binding it again "
                                  f"would change what the model returns", st.loc,
                                  hint="give the binding a name of its own")
            if st.names:
                result = self._chain(st.chain, parts=True)
                bind_parts(self, st, result)
                self.prev = st.names[-1]
            else:
                self.prev = self._chain(st.chain, target=st.name)
        elif isinstance(st, ir.Chain) and _adds_loss(st):
            self._chain(st)  # a term added to the loss: neither the output nor a value to continue from
        elif isinstance(st, ir.Chain):
            self.prev = self.output = self._chain(st)
        elif isinstance(st, ir.OutputDecl):
            self._output(st)
        else:  # one iteration of a repeat whose body is a graph: a module on the previous result
            if self.prev is None:
                raise self._no_previous(st.loc, "this repeat continues")
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

    def _output(self, st: ir.OutputDecl) -> None:
        """`output NAME = CHAIN`: binds NAME and adds it to what the model returns."""
        if self.stack:
            raise DlspecError("`output` declares what a model returns; a block or repeat body returns its last "
                              "chain", st.loc, hint=f"write the chain without `output {st.name} =`")
        if st.name in self.outputs:
            raise DlspecError(f"output '{st.name}' is declared twice (first at line {self.outputs[st.name].line})",
                              st.loc, hint="give each output its own name")
        if st.name in self.shapes:
            raise DlspecError(f"output '{st.name}' is already the name of an input, binding or param here", st.loc,
                              hint="give the output a name of its own")
        self.prev = self._chain(st.chain, target=st.name)
        self.outputs[st.name] = st.loc

    def _input_ref(self, loc: Loc) -> str:
        """`input` in a model with several named inputs is ambiguous: the chain must name one."""
        if len(self.inputs) > 1:
            raise DlspecError(f"this model has {len(self.inputs)} inputs ({', '.join(self.inputs)}): `input` does "
                              f"not say which", loc, hint=f"start the chain from one by name: {self.inputs[0]} -> ...")
        return self.inputs[0]

    def _unknown_start(self, name: str, loc: Loc) -> None:
        """In a model with named inputs, a chain starting with a name that is neither a result nor a layer
        is most likely a misspelt input: say so, with the nearest names."""
        if not self.node.inputs or self.planner.knows_callee(name):
            return
        known = [n for n in self.shapes if not n.startswith(TEMP_PREFIX)]
        raise UnknownNameError(f"'{name}' is not an input, binding or layer of this model." + did_you_mean(name, known),
                               loc, hint=f"its inputs: {', '.join(self.inputs)}")

    def _no_previous(self, loc: Loc, what: str) -> DlspecError:
        """A step continuing from the previous line's result where a model with several inputs has none yet."""
        return DlspecError(f"{what} from the previous line's result, and there is none yet: the model has several "
                           f"inputs ({', '.join(self.inputs)})", loc,
                           hint=f"start a chain from an input by name first: h = {self.inputs[0]} -> ...")

    def _fresh(self) -> str:
        self.counter += 1
        return f"{TEMP_PREFIX}{self.counter}"

    fresh = _fresh

    def operand(self, expr, merge: str):
        """A merge's operand (a name, `input`, a chain, a nested merge, a number) as an op input."""
        return self._operand(expr, merge)

    def shown(self, name: str) -> str:
        """An operand as the user wrote it."""
        return shown_operand(name, self.params)

    def _chain(self, chain: ir.Chain, target: Optional[str] = None, parts: bool = False) -> str:
        steps = list(chain.steps)
        first = steps[0].target
        if isinstance(first, ir.InputRef):
            current, steps = self._input_ref(first.loc), steps[1:]
        elif isinstance(first, ir.Name) and first.name in self.shapes:
            current, steps = first.name, steps[1:]
        elif isinstance(first, ir.Call) and first.callee in MERGES:
            current, steps = self._merge(first, None), steps[1:]
        else:
            if isinstance(first, ir.Name):
                self._unknown_start(first.name, first.loc)
            current = self.prev
            if current is None:
                raise self._no_previous(chain.loc, "this chain starts with a layer, which continues")
        for item in self.planner.group_steps(steps):
            if isinstance(item, list):  # a label naming several steps: one sequential submodule
                child = self.planner.plan_group(item, self.env, self.shapes[current], self.namer, self.stack)
                current = self._module_op(child, current, item[0].loc)
            else:
                check_parts_bound(self, current, item.loc)
                current = self._graph_step(item, current)
        if not parts:
            check_parts_bound(self, current, chain.loc)
        if target is not None:
            if target in self.params or target == "input" or target in self.inputs:
                raise DlspecError(f"cannot bind '{target}': it names an input or a param", chain.loc)
            self.node.ops.append(Op(target, "ref", None, (current,), 0, chain.loc))
            self.shapes[target] = self.shapes[current]
            return target
        return current

    def _graph_step(self, step: ir.Step, current: str) -> str:
        t = step.target
        if isinstance(t, ir.Name) and t.name in self.shapes and self.planner.knows_callee(t.name):
            raise DlspecError(f"'{t.name}' here is the input, binding or param '{t.name}', which hides the layer "
                              f"{t.name} in this body; a name can only start a chain", step.loc,
                              hint=f"rename the input, binding or param '{t.name}' (e.g. {t.name}_out)")
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
        if call.callee in LATENT_STEPS:
            return plan_latent(self, call, current)
        inputs = [current] if current is not None else []
        for a in call.args:
            inputs.append(self._operand(a, call.callee))
        if call.callee == "matmul":
            return self._matmul(call, inputs)
        dim, seen = None, set()
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
        shape, dim, expand = merged_shape(call, inputs, self.shapes, self.params, dim)
        out = self._fresh()
        self.node.ops.append(Op(out, call.callee, None, tuple(inputs), dim, call.loc, expand))
        self.shapes[out] = shape
        return out

    def _matmul(self, call: ir.Call, inputs: list) -> str:
        """matmul(a, b): one sample's matrix product over the last two axes (a vector is a row or a column)."""
        if call.kwargs:
            raise ArgumentError(f"matmul has no argument '{call.kwargs[0].name}'", call.kwargs[0].loc,
                                hint="matmul(a, b) multiplies two tensors: a @ b")
        if len(inputs) != 2 or any(isinstance(i, float) for i in inputs):
            raise ArgumentError(f"matmul multiplies exactly two tensors, received {len(inputs)} operands", call.loc,
                                hint="e.g. matmul(adjacency, x), or x -> matmul(w) for x @ w")
        a, b = (self.shapes[i] for i in inputs)
        shown = [shown_operand(i, self.params) for i in inputs]
        shown = [("the first operand", "the second operand")[k] if name == "a chain" else name
                 for k, name in enumerate(shown)]
        shape = matmul_shape(call, shown, a, b, self.params, inputs)
        out = self._fresh()
        self.node.ops.append(Op(out, "matmul", None, tuple(inputs), 0, call.loc))
        self.shapes[out] = shape
        return out

    def _operand(self, expr, merge: str):
        if isinstance(expr, ir.Chain):  # concat(p, facts -> linear(32)): the chain's result
            return self._chain(expr)
        if isinstance(expr, ir.InputRef):
            return self._input_ref(expr.loc)
        if isinstance(expr, ir.Name) and expr.name in self.shapes:
            check_parts_bound(self, expr.name, expr.loc)
            return expr.name
        if isinstance(expr, ir.Call) and expr.callee in MERGES:  # add_loss(kl_normal(mu, logvar)): a nested merge
            return self._merge(expr, None)
        if isinstance(expr, ir.Literal) and isinstance(expr.value, (int, float)) and merge not in ("concat", "matmul"):
            return float(expr.value)
        name = expr.name if isinstance(expr, ir.Name) else None
        known = [n for n in self.shapes if not n.startswith(TEMP_PREFIX)]
        if name is not None and name in self.env.program.lets and merge not in ("concat", "matmul"):
            value = self.env.eval(expr)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return float(value)
        raise UnknownNameError(f"{merge}: '{name or 'this value'}' is not a bound name, param or input."
                               + (did_you_mean(name, known) if name else ""), expr.loc,
                               hint=_known_names(known) + "bind a result first: y = input -> conv(8, 3)")


def _check_add_loss_alone(st) -> None:
    """add_loss gives nothing to bind or continue from: it stands alone on its line."""
    chain = st if isinstance(st, ir.Chain) else st.chain
    first = chain.steps[0].target
    if isinstance(first, ir.Call) and first.callee == "add_loss" and (chain is not st or len(chain.steps) > 1):
        raise DlspecError("add_loss adds a term to the loss and gives no tensor: write it on a line of its own",
                          chain.loc, hint="e.g. add_loss(kl_normal(mu, logvar), weight=0.01)")


def _adds_loss(chain: ir.Chain) -> bool:
    """A line `add_loss(...)`: it adds a term to the loss and leaves the output alone."""
    first = chain.steps[0].target
    return isinstance(first, ir.Call) and first.callee == "add_loss"


def _known_names(known: list) -> str:
    """The names a merge may take here, for the hint of an unknown one (the few a model has, all of them)."""
    if not known:
        return ""
    shown = known if len(known) <= 12 else known[:12] + ["..."]
    return f"names here: {', '.join(shown)}; or "


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
    live = (set(node.outputs) or {node.output}) | {op.target for op in node.ops if op.kind == "add_loss"}
    for op in reversed(node.ops):
        if op.target in live:
            live.update(i for i in op.inputs if isinstance(i, str))
    consumed = {i for op in node.ops for i in op.inputs if isinstance(i, str)}
    explained = set()  # dead results that only feed an unused binding: the binding's warning covers them
    for op in reversed(node.ops):
        if op.target not in live and (op.kind in ("ref", "part") or op.target in explained):
            explained.update(i for i in op.inputs if isinstance(i, str) and i not in live)
    dead_layers: dict = {}  # line -> (loc, [names]), so one chain gives one warning
    for op in node.ops:
        if op.target in live:
            continue
        if op.kind in ("ref", "part"):  # a binding (a part of a chunk is bound by name)
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
