"""The graph steps of a variational autoencoder: a GraphBuilder and a call in, planned operations out.

- `chunk(n, dim=)` cuts the chain's value into n equal parts; only a binding of n names takes them
  (`mu, logvar = h -> linear(2 * z) -> chunk(2)`), so a part is always named.
- `sample_normal(mu, logvar)` draws `mu + exp(0.5 * logvar) * eps` (eps ~ N(0, 1)) in training and is
  `mu` in evaluation: the reparameterisation trick.
- `kl_normal(mu, logvar)` is KL(N(mu, exp(logvar)) || N(0, 1)) of each sample, summed over its axes:
  one value per sample, `[1]`.
- `add_loss(term, weight=1, name=)` adds the batch mean of a one-value-per-sample term, times weight,
  to the training and evaluation loss; the trainer logs it as its own metrics.csv column, `name`
  (default: the bound name, or `kl` for an unnamed `kl_normal`).

Shapes are checked here, before any weight exists, with the operands as the user wrote them.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from ..errors import ArgumentError, DlspecError, ShapeError
from ..language import ir
from ..shapes import Shape
from .nodes import TEMP_PREFIX, Op

if TYPE_CHECKING:  # only for annotations: graph imports this module
    from .graph import GraphBuilder

LATENT_STEPS = ("chunk", "sample_normal", "kl_normal", "add_loss")

# metrics.csv columns a loss term cannot take (train/metrics.py's FIXED_COLUMNS; planning imports no train code)
_TAKEN_COLUMNS = ("epoch", "lr", "loss", "samples_per_second", "time")

# the column an unnamed term gets from the step that made it
_DEFAULT_TERM_NAMES = {"kl_normal": "kl"}


def plan_latent(builder: GraphBuilder, call: ir.Call, current: Optional[str]) -> str:
    """Plan one of LATENT_STEPS; `current` is the chain's value when the step continues a chain."""
    return {"chunk": _chunk, "sample_normal": _pair, "kl_normal": _pair, "add_loss": _add_loss}[call.callee](
        builder, call, current)


def _kwargs(builder: GraphBuilder, call: ir.Call, allowed: tuple) -> dict:
    """The call's keyword arguments evaluated; an unknown or doubled one is an error at it."""
    values = {}
    for kw in call.kwargs:
        if kw.name not in allowed:
            shown = ", ".join(f"{a}=" for a in allowed) or "no keyword arguments"
            raise ArgumentError(f"{call.callee} has no argument '{kw.name}'", kw.loc, hint=f"{call.callee} takes {shown}")
        if kw.name in values:
            raise ArgumentError(f"argument '{kw.name}' given twice", kw.loc)
        values[kw.name] = (builder.env.eval(kw.value), kw.loc)
    return values


def _chunk(builder: GraphBuilder, call: ir.Call, current: Optional[str]) -> str:
    """`-> chunk(n, dim=)`: one op holding the n parts; the binding names them (bind_parts)."""
    if current is None or call.args[1:]:
        raise ArgumentError("chunk cuts the chain's value into parts: write it as a step, "
                            "e.g. mu, logvar = h -> linear(40) -> chunk(2)", call.loc)
    if not call.args:
        raise ArgumentError("chunk needs the number of parts, e.g. chunk(2)", call.loc)
    n = builder.env.eval(call.args[0])
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise ArgumentError(f"chunk: the number of parts must be an integer of at least 2, received {n!r}",
                            call.args[0].loc, hint="e.g. mu, logvar = h -> chunk(2)")
    shape = builder.shapes[current]
    dim_kw = _kwargs(builder, call, ("dim",)).get("dim")
    axis = _axis(call, shape, dim_kw)
    size = shape.dims[axis]
    if size % n:
        raise ShapeError(f"chunk({n}) of {shape.labelled()}: axis {_axis_name(shape, axis)} of size {size} does not "
                         f"divide into {n} equal parts", call.loc,
                         hint=f"make that axis a multiple of {n}, e.g. linear({n} * {max(size // n, 1)}) before it")
    dims = list(shape.dims)
    dims[axis] = size // n
    out = builder.fresh()
    builder.node.ops.append(Op(out, "chunk", None, (current,), axis + 1, call.loc, (n,)))
    builder.shapes[out] = Shape(tuple(dims), integer=shape.integer, vocab=shape.vocab, roles=shape.roles)
    builder.parts[out] = (n, call.loc)
    return out


def _axis(call: ir.Call, shape: Shape, dim_kw) -> int:
    """The sample axis chunk cuts: `dim=` (counted with the batch dim, as concat's), else the channel axis."""
    if dim_kw is None:
        if shape.channel_axis is None:
            raise ShapeError(f"chunk cuts along the channel (feature) axis, and {shape.labelled()} has none",
                             call.loc, hint="write the dim, counted with the batch dim: chunk(2, dim=1)")
        return shape.channel_axis
    dim, loc = dim_kw
    if isinstance(dim, bool) or not isinstance(dim, int):
        raise ArgumentError(f"chunk: dim must be an integer, received {dim!r}", loc)
    d = dim + shape.rank + 1 if dim < 0 else dim
    if not 1 <= d <= shape.rank:
        raise ShapeError(f"chunk: dim={dim} is out of range for {shape.labelled()} (dims count the batch dim: "
                         f"1..{shape.rank})", loc)
    return d - 1


def _axis_name(shape: Shape, axis: int) -> str:
    return shape.roles[axis] if shape.roles else str(axis + 1)


def bind_parts(builder: GraphBuilder, st: ir.Binding, result: str) -> None:
    """`a, b = ... -> chunk(2)`: one op per name taking its part of the chunk op's result."""
    if result not in builder.parts:
        # a ShapeError: after a step was replaced by a stand-in (diagnostics.py) it is not the user's mistake
        raise ShapeError(f"{', '.join(st.names)} = ... binds {len(st.names)} names, and this chain gives one "
                          f"tensor", st.loc, hint=f"end the chain with chunk({len(st.names)}) to cut it into parts")
    n, loc = builder.parts[result]
    if n != len(st.names):
        raise ShapeError(f"chunk({n}) gives {n} parts and {len(st.names)} names take them "
                          f"({', '.join(st.names)})", loc, hint="write one name per part")
    for k, name in enumerate(st.names):
        if name in builder.shapes or st.names.index(name) != k:
            raise DlspecError(f"cannot bind '{name}': the name is already taken in this body", st.loc,
                              hint="give each part a name of its own")
        builder.node.ops.append(Op(name, "part", None, (result,), k, st.loc))
        builder.shapes[name] = builder.shapes[result]
    builder.consumed_parts.add(result)


def check_parts_bound(builder: GraphBuilder, result: str, loc) -> None:
    """A chunk's parts reach nothing but a binding of as many names: refused anywhere else."""
    if result in builder.parts and result not in builder.consumed_parts:
        n, chunk_loc = builder.parts[result]
        raise DlspecError(f"chunk({n}) gives {n} parts, which only a binding of {n} names can take", chunk_loc,
                          hint="end the chain with chunk and bind the parts: mu, logvar = h -> linear(40) -> chunk(2)")


def _pair(builder: GraphBuilder, call: ir.Call, current: Optional[str]) -> str:
    """sample_normal(mu, logvar) / kl_normal(mu, logvar): two tensors of one shape."""
    _kwargs(builder, call, ())
    operands = ([current] if current is not None else []) + [builder.operand(a, call.callee) for a in call.args]
    if any(not isinstance(o, str) for o in operands):
        raise ArgumentError(f"{call.callee} takes two tensors, the mean and the log-variance, not numbers",
                            call.loc, hint=f"e.g. {call.callee}(mu, logvar)")
    if len(operands) != 2:
        raise ArgumentError(f"{call.callee} takes two tensors, the mean and the log-variance, received "
                            f"{len(operands)}", call.loc, hint=f"e.g. {call.callee}(mu, logvar)")
    for o in operands:
        check_parts_bound(builder, o, call.loc)
    mu, logvar = (builder.shapes[o] for o in operands)
    shown = [builder.shown(o) for o in operands]
    if mu.integer or logvar.integer:
        raise ShapeError(f"{call.callee} of token ids: a mean and a log-variance are numbers", call.loc,
                         hint="put an embedding or linear layer first")
    if mu.dims != logvar.dims:
        raise ShapeError(f"{call.callee} of {shown[0]} {mu.labelled()} and {shown[1]} {logvar.labelled()}: the mean "
                         f"and the log-variance must have the same shape", call.loc,
                         hint="make both with the same layer size, e.g. mu, logvar = h -> linear(40) -> chunk(2)")
    out = builder.fresh()
    builder.node.ops.append(Op(out, call.callee, None, tuple(operands), 0, call.loc))
    builder.shapes[out] = mu if call.callee == "sample_normal" else Shape((1,), roles=("F",))
    return out


def _add_loss(builder: GraphBuilder, call: ir.Call, current: Optional[str]) -> str:
    """add_loss(term, weight=, name=): a term of one value per sample whose batch mean joins the loss."""
    if current is not None or len(call.args) != 1:
        raise ArgumentError("add_loss takes one term, e.g. add_loss(kl_normal(mu, logvar), weight=0.01), on a "
                            "line of its own", call.loc)
    kw = _kwargs(builder, call, ("weight", "name"))
    term_expr = call.args[0]
    term = builder.operand(term_expr, "add_loss")
    if not isinstance(term, str):
        raise ArgumentError("add_loss needs a tensor term, not a number", term_expr.loc,
                            hint="e.g. add_loss(kl_normal(mu, logvar))")
    check_parts_bound(builder, term, term_expr.loc)
    shape = builder.shapes[term]
    if shape.numel != 1:
        raise ShapeError(f"add_loss of {builder.shown(term)} {shape.labelled()}: a loss term is one value per "
                         f"sample, and this has {shape.numel}", term_expr.loc,
                         hint="reduce it first, e.g. kl_normal(mu, logvar) sums over the latent axes")
    weight, weight_loc = kw.get("weight", (1.0, call.loc))
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight < 0:
        raise ArgumentError(f"add_loss: weight must be a number of at least 0, received {weight!r}", weight_loc)
    name, name_loc = kw.get("name", (_default_name(builder, term, term_expr), call.loc))
    name = str(name)
    _check_term_name(builder, name, name_loc)
    target = TEMP_PREFIX + "loss:" + name
    builder.node.ops.append(Op(target, "add_loss", name, (term,), 0, call.loc, (float(weight),)))
    builder.shapes[target] = shape
    builder.loss_terms[name] = call.loc
    return term


def _default_name(builder: GraphBuilder, term: str, expr) -> str:
    if not term.startswith(TEMP_PREFIX):
        return term
    made = next((op.kind for op in builder.node.ops if op.target == term), None)
    if made in _DEFAULT_TERM_NAMES and isinstance(expr, ir.Call):
        return _DEFAULT_TERM_NAMES[made]
    raise ArgumentError("add_loss: name the term's metrics.csv column, e.g. add_loss(..., name=reg)", expr.loc)


def _check_term_name(builder: GraphBuilder, name: str, loc) -> None:
    if not name.isidentifier():
        raise ArgumentError(f"add_loss: name must be a plain name (a metrics.csv column), received {name!r}", loc)
    if name in _TAKEN_COLUMNS or name.startswith("val_"):
        raise ArgumentError(f"add_loss: '{name}' is already a metrics.csv column ({', '.join(_TAKEN_COLUMNS)} and "
                            f"val_ columns are taken)", loc, hint="name the term, e.g. add_loss(..., name=kl)")
    if name in builder.loss_terms:
        raise ArgumentError(f"add_loss: a term named '{name}' is already added (line {builder.loss_terms[name].line})",
                            loc, hint="give each term its own name=")
