"""Expansion and shape inference: a `Program` model in, a plan tree with shapes out.

Blocks are expanded with their arguments, `repeat`s unrolled, every step
resolved to a layer, block or merge, every argument bound and checked, and
every output shape inferred from the declared input shape. Pure Python: no
weight is allocated here, so a mismatch is reported before any torch work,
at the line of the layer that cannot take its input.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Optional

from ..language import ir
from ..errors import ArgumentError, DlspecError, Loc, ShapeError
from ..layers.init import bind_layer_inits
from ..layers.registry import LayerDef, find_layer, get_layer
from ..language.limits import MAX_DEPTH, LimitError
from ..language.resolve import Env, Program, resolve_path
from ..language.values import CallValue, Symbol
from ..schema.args import REQUIRED, Arg, bind_args
from ..shapes import Shape, ShapeProblem
from .facts import NO_FACTS, DataFacts, linking_trains
from .graph import GraphBuilder, warn_unreachable
from .lengths import check_lengths
from .inputs import category_embedding, input_shape, with_first_layer
from .named import check_inputs_used, check_sizes_written, check_token_inputs, leading_inputs, named_inputs
from .naming import Namer
from .roles import infer_with_roles
from .nodes import MERGES, BodyNode, LayerNode, evaluate_args

# Documented limits (docs/language.md): what one model may expand to, so a typo
# like `repeat 100000` is an error at its line rather than a hang.
MAX_LAYERS = 10_000
MAX_NESTING = MAX_DEPTH  # blocks inside blocks, repeats inside repeats: the parser's nesting limit


def _shape_error(what: str, problem: str, shape: Shape, loc: Loc) -> ShapeError:
    prefix = "" if problem.startswith(what) else f"{what}: "
    suffix = "" if "input of shape" in problem else f" (its input has shape {shape.labelled()})"
    return ShapeError(f"{prefix}{problem}{suffix}", loc)


def _arg_loc(layer: LayerDef, locs: dict, arg: Optional[str], call: Loc) -> Loc:
    """Where the argument `arg` is written (by name or by position), else the call."""
    if arg is None:
        return call
    if arg in locs:
        return locs[arg]
    position = next((i for i, spec in enumerate(layer.args) if spec.name == arg), None)
    return locs.get(position, call)


class Planner:
    """Expands the models of a program into plan trees with inferred shapes."""

    def __init__(self, program: Program, facts: Optional[DataFacts] = None):
        self.program = program
        # the linked data's vocabulary size (tokens(T) without vocab=), sample shape and embedded
        # category columns (vector(auto)); planning/facts.py
        self.facts = facts or NO_FACTS
        self._known = list(program.lets)
        self._layers = 0  # layers planned so far in this model, against MAX_LAYERS
        self._model = ""

    def plan_model(self, name: str) -> BodyNode:
        decl = self.program.models[name]
        statements = list(decl.body.statements)
        if not statements or not isinstance(statements[0], ir.InputDecl):
            loc = statements[0].loc if statements else decl.loc
            raise DlspecError(f"model {name} must start with an `input` declaration", loc,
                              hint="e.g. input image(3, 32, 32), vector(20), sequence(50, 8) or tokens(40, vocab=5000)")
        env = self.program.global_env()
        self._layers, self._model = 0, name
        decls = leading_inputs(statements)
        if any(d.name for d in decls) or any(isinstance(st, ir.OutputDecl) for st in statements):
            plan = self._named_model(decl, decls, statements[len(decls):], env)
            check_lengths(plan)
            return plan
        shape = input_shape(statements[0], env, self.facts.vocab, self.facts.sample_shape,
                            bool(linking_trains(self.program, name)))
        body = ir.Body(tuple(statements[1:]), decl.body.loc)
        embed = category_embedding(statements[0], env, shape, self.facts.categories)
        if embed is None:
            plan = self._body(body, env, shape, name, None, decl.loc, ())
        else:
            plan = with_first_layer(self._body(body, env, embed.out_shape, name, None, decl.loc, ()), embed)
        check_lengths(plan)
        return plan

    def _named_model(self, decl: ir.ModelDecl, decls: list, statements: list, env: Env) -> BodyNode:
        """A model with named inputs or `output` lines: a graph whose forward takes the inputs in declaration
        order and returns its outputs (several: a dict by name)."""
        inputs = named_inputs(decls)
        single = len(decls) == 1
        linked = bool(linking_trains(self.program, decl.name))
        check_sizes_written(inputs, env, self.facts, linked)
        per_input = {n: (self.facts if single else self.facts.of_input(n) or NO_FACTS) for n in inputs}
        shapes = {n: input_shape(d, env, per_input[n].vocab, per_input[n].sample_shape, linked)
                  for n, d in inputs.items()}
        check_token_inputs(inputs, shapes)
        first = next(iter(shapes.values()))
        node = BodyNode(decl.name, None, True, first, first, decl.loc, inputs=shapes)
        self._graph(node, self._unroll(statements, env, 0), env, Namer(), ())
        check_inputs_used(node, inputs)
        return node

    # ---- bodies ----

    def _body(self, body: ir.Body, env: Env, shape: Shape, name: str, block: Optional[str],
              loc: Loc, stack: tuple) -> BodyNode:
        if len(stack) > MAX_NESTING:
            raise LimitError(f"blocks and repeats are nested more than {MAX_NESTING} levels deep here", loc,
                              hint=f"dlspec allows {MAX_NESTING} levels of nesting")
        statements = self._unroll(body.statements, env, len(stack))
        node = BodyNode(name, block, _is_graph(statements), shape, shape, loc)
        namer = Namer()
        if node.graph:
            self._graph(node, statements, env, namer, stack)
            return node
        for st in statements:
            items = [st] if isinstance(st, _Iteration) else self.group_steps(st.steps)
            for item in items:
                if isinstance(item, _Iteration):
                    child = self.plan_iteration(item, shape, namer, stack)
                elif isinstance(item, list):
                    child = self.plan_group(item, env, shape, namer, stack)
                else:
                    child = self.plan_step(item, env, shape, namer, stack)
                node.children.append(child)
                shape = child.out_shape
        node.out_shape = shape
        return node

    def _unroll(self, statements, env: Env, depth: int) -> list:
        """Statements with sequential repeats spliced in; a repeat whose body is a graph gives
        one `_Iteration` per pass, so `input` in it is the input of that iteration."""
        if depth > MAX_NESTING:
            raise LimitError(f"repeats are nested more than {MAX_NESTING} levels deep",
                              statements[0].loc if statements else None)
        out = []
        for st in statements:
            if isinstance(st, ir.Repeat):
                out.extend(self._repeat(st, env, depth))
            elif isinstance(st, ir.InputDecl):
                raise DlspecError("`input` declares a model's input and must be its first statement", st.loc,
                                  hint="a model's inputs come first, one per line; inside a body, `input -> ...` "
                                       "starts a chain at the body's input")
            else:
                out.append(st)
        return out

    def _repeat(self, st: ir.Repeat, env: Env, depth: int) -> list:
        count = env.eval(st.count)
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ArgumentError(f"repeat needs a non-negative integer count, received {count!r}", st.count.loc)
        graph_body = _is_graph(st.body.statements)
        one = [_Iteration(st.body, env, st.loc)] if graph_body else self._unroll(st.body.statements, env, depth + 1)
        size = max(len(one) if not graph_body else _count_steps(st.body.statements), 1)
        if count * size > MAX_LAYERS:
            raise ArgumentError(f"repeat {count:,} expands to about {count * size:,} steps; a model may have at most "
                                f"{MAX_LAYERS:,} layers", st.count.loc, hint="use a smaller count")
        return one * count

    def plan_iteration(self, item: "_Iteration", shape: Shape, namer: Namer, stack: tuple) -> BodyNode:
        """One pass of a repeat whose body is a graph: a submodule like an inline block."""
        node = self._body(item.body, item.env, shape, "repeat", None, item.loc, stack + ("repeat",))
        node.name = namer.take("repeat", None, item.loc)
        return node

    @staticmethod
    def group_steps(steps) -> list:
        """A chain's steps, with a labelled run of several steps gathered into one list.

        A label names everything on its chain from its step up to the next label,
        so `features: A -> B -> C` becomes one submodule named `features`.
        """
        items: list = []
        for step in steps:
            if step.label is not None:
                items.append([step])
            elif items and isinstance(items[-1], list):
                items[-1].append(step)
            else:
                items.append(step)
        return [item[0] if isinstance(item, list) and len(item) == 1 else item for item in items]

    def plan_group(self, steps: list, env: Env, shape: Shape, namer: Namer, stack: tuple) -> BodyNode:
        """A labelled run of steps: an nn.Sequential named by the label."""
        label, loc = steps[0].label, steps[0].loc
        node = BodyNode(label, None, False, shape, shape, loc)
        inner = Namer()
        for step in steps:
            target = step.target
            if isinstance(target, ir.InputRef) or isinstance(target, ir.Call) and target.callee in MERGES:
                raise DlspecError(f"label '{label}' names a chain that merges tensors ({_callee(target)}); a label can "
                                  "only name layers and blocks", step.loc,
                                  hint=f"bind the chain instead: {label} = ..., or put the merge on its own line")
            child = self.plan_step(replace(step, label=None), env, shape, inner, stack)
            node.children.append(child)
            shape = child.out_shape
        node.out_shape = shape
        node.name = namer.take(label, label, loc)
        return node

    def plan_step(self, step: ir.Step, env: Env, shape: Shape, namer: Namer, stack: tuple):
        """One layer or block call on an input of `shape`: a LayerNode or a BodyNode."""
        target = step.target
        if isinstance(target, ir.InputRef):
            raise DlspecError("`input` can only start a chain", step.loc)
        callee = target.callee if isinstance(target, ir.Call) else target.name
        if callee in MERGES:
            raise DlspecError(f"{callee} merges named tensors, e.g. y = input -> conv(8, 3); {callee}(y, input)",
                              step.loc)
        self._layers += 1
        if self._layers > MAX_LAYERS:
            raise LimitError(f"model {self._model} has more than {MAX_LAYERS:,} layers", step.loc,
                              hint="check the repeat counts and the blocks it uses")
        args, kwargs, locs = evaluate_args(target, env)
        if callee in self.program.blocks:
            return self._block(callee, args, kwargs, locs, step, env, shape, namer, stack)
        layer = get_layer(callee, target.loc, list(self.program.blocks))
        bound = self._bind(layer, callee, args, kwargs, locs, target.loc)
        if layer.weights:
            bind_layer_inits(layer, callee, bound, locs, target.loc)
        for key in layer.paths:
            from ..layers.torchvision_models import is_weights_file
            if is_weights_file(bound.get(key)):
                bound[key] = resolve_path(bound[key], locs.get(key, target.loc))
        try:
            out, channel_axis = infer_with_roles(layer, callee, shape, bound)
        except ShapeProblem as problem:
            raise _shape_error(callee, str(problem), shape, _arg_loc(layer, locs, problem.arg, target.loc)) from None
        except DlspecError as exc:
            raise exc.at(target.loc)
        if any(size <= 0 for size in out.dims):  # torch fails on an empty tensor with no line to point at
            raise _shape_error(callee, f"its output would have shape {out.labelled()}; every size must be at least 1",
                               shape, target.loc)
        base = layer.name.split(".")[-1].lower() if layer.source in ("torch", "torchvision") else layer.name
        return LayerNode(namer.take(base, step.label, step.loc), layer, bound, shape, out, target.loc, channel_axis)

    def knows_callee(self, name: str) -> bool:
        """Whether a step named `name` is a block, a registered layer or a dotted torch/plugin name."""
        return "." in name or name in self.program.blocks or find_layer(name) is not None

    def _bind(self, layer: LayerDef, callee: str, args, kwargs, locs, loc) -> dict:
        if layer.passthrough:
            return {"args": tuple(_plain(a) for a in args), "kwargs": {k: _plain(v) for k, v in kwargs.items()}}
        varargs = layer.varargs
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
        graph = GraphBuilder(self, node, env, namer, stack)
        for st in statements:
            graph.statement(st)
        if graph.outputs:
            node.outputs = {n: graph.shapes[n] for n in graph.outputs}
            node.output_locs = dict(graph.outputs)
            node.output = next(iter(graph.outputs))
        else:
            node.output = graph.output or graph.prev
        if node.output is None:
            raise DlspecError(f"model {node.name} has inputs but no output", node.loc,
                              hint="end with a chain, or declare one: output NAME = ...")
        if node.output in graph.params:
            raise DlspecError("the output of a body must be a tensor, not a param", node.loc)
        node.out_shape = graph.shapes[node.output]
        node.shapes = graph.shapes
        kind = "block" if node.block else "model" if not stack else "this repeat body"
        warn_unreachable(node, f"{kind} {node.name}" if kind != "this repeat body" else kind)


@dataclass(frozen=True)
class _Iteration:
    """One pass of a repeat whose body is a graph, planned as an inline block."""

    body: ir.Body
    env: Env
    loc: Loc


@dataclass(frozen=True)
class _Deferred:
    """A block parameter default, evaluated when the block is expanded."""

    expr: object


# ---- helpers -----------------------------------------------------------


def _is_graph(statements) -> bool:
    for st in statements:
        if isinstance(st, (ir.Binding, ir.ParamDecl, ir.OutputDecl)):
            return True
        if not isinstance(st, ir.Chain):
            continue  # a repeat is planned on its own (one step of this body); `input` is refused by _unroll
        for step in st.steps:
            t = step.target
            if isinstance(t, ir.InputRef) or (isinstance(t, ir.Call) and t.callee in MERGES):
                return True
    return False


def _plain(value):
    if isinstance(value, Symbol):
        return str(value)
    if isinstance(value, CallValue):
        raise ArgumentError(f"'{value.callee}(...)' cannot be passed to a torch module", value.loc)
    return value




def _count_steps(statements) -> int:
    """Steps written in a body (nested repeats counted once): a lower bound on its size."""
    return sum(len(st.steps) if isinstance(st, ir.Chain) else len(st.chain.steps) if isinstance(st, ir.Binding)
               else _count_steps(st.body.statements) if isinstance(st, ir.Repeat) else 0 for st in statements)


def _callee(target) -> str:
    if isinstance(target, ir.InputRef):
        return "input"
    return target.callee if isinstance(target, ir.Call) else target.name

