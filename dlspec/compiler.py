"""The compiler: a plan tree in, a torch `nn.Module` out.

A sequential body becomes `nn.Sequential` with named children; a body with
bindings becomes a `GraphModule` whose forward follows the spec. Blocks become
submodules named by their labels or automatic names; `param`s become
`nn.Parameter`s of the enclosing module. No shape work happens here: the
planner has already checked everything.
"""
from __future__ import annotations

import math
import torch
from torch import nn

from .errors import DlspecError, PluginError
from .layers.init import as_runtime
from .runtime.graph import GraphModule, NamedGraphModule
from .runtime.init import initialised
from .runtime.hooks import ChannelsFirst
from .runtime.recurrent import current_context
from .planning.lengths import time_rule
from .planning.memory import check_activations
from .planning.nodes import BodyNode, LayerNode, ParamNode, iter_nodes
from .shapes import Shape


def build_model(plan: BodyNode) -> nn.Module:
    """Build a whole model; token inputs get their sequence lengths measured for padding-aware layers.

    The parameter memory, then one sample's activation memory, are checked
    against the machine before anything is allocated: the parameters on the
    meta device first, unless the build is on meta already.
    """
    if not _building_on_meta():
        with torch.device("meta"):
            check_memory(plan, _build_model(plan))
        check_activations(plan, memory_limit())
        return _build_model(plan)
    module = _build_model(plan)
    check_memory(plan, module)
    check_activations(plan, memory_limit())  # after the parameters, as on the real build: their error comes first
    return module


def _build_model(plan: BodyNode) -> nn.Module:
    from .runtime.recurrent import SequenceContext, building_with
    context = SequenceContext()
    with building_with(context):
        module = build_module(plan)
    tokens = [name for name, shape in plan.inputs.items() if shape.integer]
    if plan.inputs and tokens and context.users:  # named inputs: the model measures its one tokens input itself
        module.measure, module.tokens_input = context.measure_lengths, tokens[0]
    elif plan.in_shape.integer and context.users:
        module.register_forward_pre_hook(context.measure_lengths)
    return module


def build_module(node) -> nn.Module:
    """Build the torch module for a plan node (a body or a single layer)."""
    if isinstance(node, LayerNode):
        return _build_layer(node)
    if node.graph:
        ops = [op.as_tuple() for op in node.ops]
        module = (NamedGraphModule(ops, node.output, node.inputs, node.outputs) if node.inputs
                  else GraphModule(ops, node.output))
        for p in node.params:
            _check_free(module, p.name, p.loc)
            module.register_parameter(p.name, _make_param(p))
    else:
        module = nn.Sequential()
    for child in node.children:
        _check_free(module, child.name, child.loc)
        module.add_module(child.name, build_module(child))
    return module


def _check_free(module: nn.Module, name: str, loc) -> None:
    """A located error where torch would refuse `name` (planning/nodes.py's RESERVED_NAMES keeps planned
    names clear of every attribute this torch has; a later torch may add one)."""
    if hasattr(module, name):
        raise DlspecError(f"'{name}' cannot name a part of this model: torch {torch.__version__}'s "
                          f"{type(module).__name__} has an attribute of that name", loc,
                          hint=f"label the step with another name, e.g. {name.strip('_')}_part: ...")


def _build_layer(node: LayerNode) -> nn.Module:
    shape = node.module_shapes[0]  # a channels-first layer on a [T, F] sequence sees [F, T]
    try:
        module = node.layer.build(shape, node.args)
    except DlspecError as exc:
        raise exc.at(node.loc)
    except Exception as exc:  # a plugin or torch refusing its arguments
        raise DlspecError(f"{node.layer.name} could not be built: {exc}", node.loc) from None
    _initialise(module, node)
    if node.layer.plugin:
        _check_declared_shape(module, node, shape)
        _guard_forward(module, node)
    if node.channel_axis:
        rule = time_rule(node)
        ChannelsFirst(node.channel_axis, rule, current_context() if rule else None).attach(module)
    return module


def _initialise(module: nn.Module, node: LayerNode) -> None:
    """Start the layer's weights and biases as its init= and bias_init= say (the rule of a train block's
    layer_init is already in them); nothing is drawn for a layer without them, so its start is torch's."""
    weight, bias = (as_runtime(node.args.get(key)) for key in ("init", "bias_init")) if node.layer.weights \
        else (None, None)
    if (weight is None and bias is None) or _building_on_meta():  # the meta build only measures memory
        return
    try:
        initialised(module, weight, bias)
    except ValueError as exc:  # a module without the parameters asked for
        raise DlspecError(f"{node.layer.name}: {exc}", node.loc) from None


def _building_on_meta() -> bool:
    return torch.empty(0).device.type == "meta"


def _check_declared_shape(module: nn.Module, node: LayerNode, shape: Shape) -> None:
    """A plugin's declared output shape must be what its forward returns (checked on meta builds only,
    where a forward pass costs nothing); a forward that cannot run on meta is not checked here."""
    if not _building_on_meta():
        return
    dtype = torch.long if shape.integer else torch.float32
    try:
        with torch.no_grad():
            out = module(torch.zeros((2,) + tuple(shape.dims), dtype=dtype, device="meta"))
    except Exception:  # an op without a meta kernel, or a forward that reads values: the run will tell
        return
    got = tuple(out.shape[1:]) if isinstance(out, torch.Tensor) else None
    if got != tuple(node.module_shapes[1].dims):
        shown = list(got) if got is not None else type(out).__name__
        raise PluginError(f"plugin layer {node.layer.name} ({node.layer.source}) declares the output shape "
                          f"{list(node.out_shape.dims)} for input {list(shape.dims)}, but its forward returns {shown}",
                          node.loc, hint="fix the plugin's output_shape function (it gets the input shape "
                                         "without the batch dim) or its forward")


_GUARDED: dict = {}


def _guard_forward(module: nn.Module, node: LayerNode) -> None:
    """Make an exception in a plugin's forward name the plugin and its spec line.

    A subclass (cached per class) replaces forward, so state_dict keys and
    parameters stay exactly as the plugin made them.
    """
    cls = type(module)
    if cls not in _GUARDED:
        def forward(self, *args, **kwargs):
            try:
                return cls.forward(self, *args, **kwargs)
            except DlspecError:
                raise
            except Exception as exc:
                name, source, loc = self._dlspec_origin
                raise PluginError(f"layer {name} ({source}) raised {type(exc).__name__}: {exc}", loc) from exc
        _GUARDED[cls] = type(cls.__name__, (cls,), {"forward": forward, "__module__": cls.__module__,
                                                    "__doc__": cls.__doc__})
    module.__class__ = _GUARDED[cls]
    module._dlspec_origin = (node.layer.name, node.layer.source, node.loc)


def memory_limit() -> int:
    """Bytes the largest device here can hold: the machine's RAM, or a bigger GPU's memory."""
    import os
    try:
        limit = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not a POSIX system: no check
        return 1 << 62
    if torch.cuda.is_available():
        limit = max([limit] + [torch.cuda.get_device_properties(i).total_memory
                               for i in range(torch.cuda.device_count())])
    return limit


def check_memory(plan: BodyNode, module: nn.Module) -> None:
    """Refuse a model whose parameters alone exceed `memory_limit()`, at the line of its largest part."""
    total = sum(p.numel() * p.element_size() for p in module.parameters())
    limit = memory_limit()
    if total <= limit:
        return
    parts = [(sum(p.numel() for p in module.get_submodule(q).parameters()), node.loc, q)
             for q, node, _ in iter_nodes(plan) if isinstance(node, LayerNode)]
    parts += [(math.prod(p.shape), p.loc, p.name) for p in _all_params(plan)]
    count, loc, name = max(parts, key=lambda part: part[0])
    raise DlspecError(f"the model's parameters need {total / 2**30:,.1f} GiB, more than the "
                      f"{limit / 2**30:,.1f} GiB this machine has; {name} alone holds {count:,} parameters", loc,
                      hint="check the sizes on this line (a missing flatten or pooling step makes linear huge)")


def _all_params(node):
    yield from getattr(node, "params", [])
    for child in getattr(node, "children", []):
        yield from _all_params(child)


def _make_param(p: ParamNode) -> nn.Parameter:
    data = torch.empty(p.shape)
    kind, a = p.init
    with torch.no_grad():
        if kind == "constant":
            data.fill_(a["value"])
        elif kind == "normal":
            data.normal_(a["mean"], a["std"])
        else:
            data.uniform_(a["a"], a["b"])
    return nn.Parameter(data)

