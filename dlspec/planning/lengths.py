"""How the padding lengths of a token model follow its layers: a plan tree in, each layer's length rule
out (for the compiler), or a located error where a layer loses them before a step that needs them.

A token model measures each sentence's real length once, from the ids (pads are 0, on the right).
Recurrent layers, attention and last / mean_time / max_time read those lengths. A channels-first layer
on a [T, F] sequence that changes the number of steps (a conv without padding, a strided conv,
pooling, upsampling) gets a rule saying what a real length L becomes (`time_rule`), applied at run time
by runtime/hooks.py's ChannelsFirst:

- conv / maxpool / avgpool: the layer's own window arithmetic applied to L (floor, or ceil with
  ceil_mode), so a step is real when its window starts on a real step;
- global_*pool: 1 step, taken over the real steps only (exact);
- adaptive_*pool to n steps: ceil(L * n / T), the windows holding at least one real step (a window
  that straddles the end still pools the pads inside it, zeros for avg, ignored for max: approximate);
- upsample: ceil(L * scale) (scale = T' / T when a size is given).

A layer that changes the steps with no such rule (reshape, permute, conv_transpose, a torch.nn or
plugin layer) leaves no way to tell the pads, so a length-aware step after it is refused at that
layer's line (`check_lengths`). Pure Python.
"""
from __future__ import annotations

from typing import Optional

from ..errors import DlspecError
from ..shapes import Shape, as_tuple
from .nodes import MERGES, BodyNode, LayerNode

# layers that read the lengths: packing, masks, real-step selection
LENGTH_AWARE = frozenset({"rnn", "lstm", "gru", "lstm_cell", "gru_cell", "last", "mean_time", "max_time",
                          "attention", "transformer_encoder"})
_WINDOWS = {"conv": False, "conv1d": False, "maxpool": True, "avgpool": False}
_ADAPTIVE = {"adaptive_avgpool": False, "adaptive_maxpool": True}
_GLOBAL = {"global_avgpool": False, "global_maxpool": True}


def time_rule(node: LayerNode) -> Optional[tuple]:
    """The rule a channels-first layer on a [T, F] sequence applies to the real lengths, or None:
    ("window", kernel, stride, padding, dilation, ceil, max), ("adaptive", n, max), ("global", max),
    ("scale", factor). `max` marks a max pooling (pads are left out as -inf, not zeros)."""
    if not node.channel_axis or node.in_shape.layout != "TF" or node.layer.source != "built-in":
        return None
    name, a = node.layer.name, node.args
    if name in _WINDOWS:
        padding = a.get("padding", 0)
        if padding == "same":
            return ("window", 1, 1, 0, 1, False, False)
        stride = a.get("stride") if a.get("stride") is not None else a["kernel"]
        return ("window", _one(a["kernel"]), _one(stride), 0 if padding == "valid" else _one(padding),
                _one(a.get("dilation", 1)), bool(a.get("ceil_mode", False)), _WINDOWS[name])
    if name in _ADAPTIVE:
        return ("adaptive", _one(a["size"]), _ADAPTIVE[name])
    if name in _GLOBAL:
        return ("global", _GLOBAL[name])
    if name == "upsample":
        factor = a["scale"] if a.get("scale") is not None else node.out_shape.dims[0] / node.in_shape.dims[0]
        return ("scale", float(factor))
    return None


def _one(value) -> int:
    return as_tuple(value, 1)[0]


class _Lost:
    """Where the lengths were lost: the layer's line, its name, and the steps before and after it."""

    def __init__(self, loc, name: str, before, after):
        self.loc, self.name, self.before, self.after = loc, name, before, after


def check_lengths(plan: BodyNode) -> None:
    """Refuse a token model where a layer changes the time steps with no length rule and a
    length-aware step follows it (the error is at the changing layer's line)."""
    if plan.in_shape.integer:
        _flow(plan, None)


def _flow(node, state):
    """The state after `node` (None: the lengths are known; a _Lost: they are not)."""
    if isinstance(node, LayerNode):
        return _through_layer(node, state)
    if not node.graph:
        for child in node.children:
            state = _flow(child, state)
        return state
    children = {child.name: child for child in node.children}
    states = {"input": state}
    for op in node.ops:
        ins = [states.get(name) for name in op.inputs if isinstance(name, str)]
        lost = next((s for s in ins if s is not None), None)
        if op.kind == "module":
            states[op.target] = _flow(children[op.module], lost)
        elif op.kind in MERGES:
            states[op.target] = lost or _concat_in_time(op, node.shapes)
        else:
            states[op.target] = lost
    return states.get(node.output)


def _concat_in_time(op, shapes: dict):
    """Sequences joined along time put the first one's pads in the middle: no lengths after that."""
    shape, first = shapes.get(op.target), shapes.get(op.inputs[0])
    if op.kind == "concat" and shape is not None and _time_axis(shape) == op.dim - 1:
        return _Lost(op.loc, "concat", first.dims[op.dim - 1] if first is not None else None, shape.dims[op.dim - 1])
    return None


def _time_axis(shape: Shape) -> Optional[int]:
    return shape.roles.index("T") if shape.roles and "T" in shape.roles else None


def _through_layer(node: LayerNode, state):
    if node.layer.name in LENGTH_AWARE and state is not None:
        raise DlspecError(
            f"{state.name} {'moves' if state.before == state.after else 'changes'} the time axis "
            f"({_steps(state.before)} -> {_steps(state.after)}) "
            f"in a way that does not say which of the new steps are padding, so {node.layer.name} after it "
            f"(line {node.loc.line if node.loc else '?'}) cannot leave out the pads of the token input",
            state.loc, hint="put the step that reads the sequence lengths before it, or change the steps with "
                            "conv, maxpool, avgpool, upsample or global pooling, whose lengths dlspec follows")
    if state is not None or time_rule(node) is not None:
        return state
    before, after = _time_axis(node.in_shape), _time_axis(node.out_shape)
    if after is None and before is not None and node.out_shape.roles is None \
            and node.out_shape.rank == node.in_shape.rank:
        after = before  # roles unknown (a torch.nn layer): the axis is where it was
    if before is None and after is None:
        return None  # no time axis on either side: nothing to follow
    if before is not None and after is None and node.out_shape.roles is not None:
        return None  # the time axis is reduced away (last, flatten...)
    steps_in = node.in_shape.dims[before] if before is not None else None
    steps_out = node.out_shape.dims[after] if after is not None else None
    if before == after and steps_in == steps_out:
        return None
    return _Lost(node.loc, node.name, steps_in, steps_out)


def _steps(count) -> str:
    return "no time axis" if count is None else f"{count} steps"


# ---- padding each batch to its longest sentence ---------------------------------------------------

# layers that read the real lengths, or reduce the time axis over the real steps only (exact)
_PER_BATCH_SAFE = LENGTH_AWARE | {"positional"}
_TIME_REDUCERS = frozenset({"last", "mean_time", "max_time", "hidden"})  # hidden: the packed run's final state


class FullSteps:
    """Why a token model needs every one of its input's steps: the layer (or merge) and its line."""

    def __init__(self, loc, name: str, why: str):
        self.loc, self.name, self.why = loc, name, why

    def describe(self) -> str:
        line = f" at line {self.loc.line}" if self.loc is not None and self.loc.line else ""
        return f"{self.name}{line} {self.why}"


def full_steps_needed(plan: BodyNode) -> Optional[FullSteps]:
    """None when a token model gives the same results whatever number of pad steps follow the longest
    sentence of a batch (so batches may be padded to their own longest sentence); else the first layer
    whose result depends on the padded length T (flatten, a conv or pooling along time, batchnorm, a
    torch.nn or plugin layer, an output with one value per step). Pure Python, from the plan's shapes."""
    if not plan.in_shape.integer:
        return None
    if len(plan.inputs) > 1:
        return FullSteps(plan.loc, "the model", "takes several inputs, whose batches are not cut")
    timed, blocker = _steps_flow(plan, True)
    if blocker is None and timed:
        return FullSteps(plan.loc, "the output", "has one value per input step, as the targets do")
    return blocker


def _steps_flow(node, timed: bool) -> tuple:
    """(whether the value after `node` still has the token input's time axis, the first FullSteps or None)."""
    if isinstance(node, LayerNode):
        return _layer_steps(node, timed)
    if not node.graph:
        for child in node.children:
            timed, blocker = _steps_flow(child, timed)
            if blocker is not None:
                return timed, blocker
        return timed, None
    children = {child.name: child for child in node.children}
    states = {"input": timed, **{name: timed for name in node.inputs}}  # a named input is the token input
    for op in node.ops:
        names = [name for name in op.inputs if isinstance(name, str)]
        ins = [states.get(name, False) for name in names]
        if not any(ins):  # a value the token input's steps never reach
            states[op.target] = False
            continue
        if op.kind == "module":
            states[op.target], blocker = _steps_flow(children[op.module], True)
            if blocker is not None:
                return True, blocker
        elif op.kind == "ref" or (op.kind in ("add", "mul") and all(ins)) or \
                (op.kind == "concat" and all(ins) and not _concat_in_time(op, node.shapes)):
            states[op.target] = True
        else:
            return True, FullSteps(op.loc, op.kind, "meets a value without the input's time steps (a param or "
                                                    "another input), or joins sequences along time")
    return states.get(node.output, False), None


def _layer_steps(node: LayerNode, timed: bool) -> tuple:
    if not timed:
        return False, None
    name = node.layer.name if node.layer.source == "built-in" else None
    if name in _TIME_REDUCERS:
        return False, None
    rule = time_rule(node)
    if rule is not None and rule[0] == "global":
        return False, None  # pooled over the real steps only
    if _keeps_every_step(rule):
        return True, None  # pads masked out of its windows, and any number of steps fits it
    before, after = _time_axis(node.in_shape), _time_axis(node.out_shape)
    same_steps = before is not None and before == after and \
        node.in_shape.dims[before] == node.out_shape.dims[after]
    if name in _PER_BATCH_SAFE and (same_steps or after is None):
        return after is not None, None
    if name is not None and not node.channel_axis and same_steps and not _along_time(node, before):
        return True, None  # one step at a time (embedding, linear, dropout, an activation, layernorm)
    return True, FullSteps(node.loc, node.name, _needs_why(name, node, rule))


def _needs_why(name: Optional[str], node: LayerNode, rule: Optional[tuple]) -> str:
    if name is None:
        return "is a torch.nn or plugin layer, whose result may depend on the padded length"
    if rule is not None and rule[0] == "window":
        return "needs at least its window of steps, which a batch of short sentences may not have"
    if rule is not None:
        return "scales its windows with the padded length"
    if node.channel_axis:
        return "mixes the pads into its statistics or windows"
    return "reads every time step as a position of its input"


def _along_time(node: LayerNode, time_axis: int) -> bool:
    """Whether a softmax-like layer's `dim` (counted with the batch dim, or from the end) is the time axis."""
    dim = node.args.get("dim") if node.layer.name != "embedding" else None
    if not isinstance(dim, int):
        return False
    return (dim + node.in_shape.rank if dim < 0 else dim - 1) == time_axis


def _keeps_every_step(rule: Optional[tuple]) -> bool:
    """A window rule of stride 1 whose padding covers its reach (conv with padding=same or kernel // 2):
    no fewer steps out than in, so a batch of short sentences is never too short for it."""
    if rule is None or rule[0] != "window":
        return False
    _, kernel, stride, padding, dilation, _, _ = rule
    return stride == 1 and 2 * padding >= dilation * (kernel - 1)
