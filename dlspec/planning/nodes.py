"""Plan nodes: the tree the planner makes and the compiler reads (pure Python, no torch).

Also the helpers every planning module needs: evaluating a call's arguments
with their locations, checking a size, and walking a plan tree (`iter_nodes`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from ..language import ir
from ..errors import ArgumentError, Loc
from ..layers.registry import LayerDef
from ..language.resolve import Env
from ..shapes import Shape

# steps that take bound tensors (chunk takes the chain's value and gives parts; see latent.py)
MERGES = ("add", "mul", "concat", "matmul", "chunk", "sample_normal", "kl_normal", "add_loss")

# Graph temporaries start with a character a spec name cannot hold, so a user
# binding can never be mistaken for one.
TEMP_PREFIX = "%"

# Names a submodule or param cannot take: they are attributes of torch's nn.Module
# and of the nn.Sequential and GraphModule dlspec emits (append, pop, ...), and
# torch refuses a submodule of that name. Kept here as data so planning needs
# no torch; a test compares it with dir() of those modules.
RESERVED_NAMES = frozenset("""
T_destination call_super_init dump_patches forward training add_module apply bfloat16 buffers children compile
cpu cuda double eval extra_repr float get_buffer get_extra_state get_parameter get_submodule half ipu
load_state_dict modules mtia named_buffers named_children named_modules named_parameters parameters
register_backward_hook register_buffer register_forward_hook register_forward_pre_hook
register_full_backward_hook register_full_backward_pre_hook register_load_state_dict_post_hook
register_load_state_dict_pre_hook register_module register_parameter register_state_dict_post_hook
register_state_dict_pre_hook requires_grad_ set_extra_state set_submodule share_memory state_dict
to to_empty train type xpu zero_grad
append extend insert pop
added_losses
""".split())


@dataclass(frozen=True)
class Op:
    """One operation of a graph body.

    kind "module" calls submodule `module` on `inputs[0]`; "add"/"mul"/"concat"
    merge `inputs` (result names, param names or float constants; concat along
    `dim`, counted with the batch dim); "ref" binds
    a name to a result. latent.py's steps: "chunk" cuts `inputs[0]` into `expand[0]` parts along
    `dim`, "part" takes part `dim` of a chunk; "sample_normal"/"kl_normal" take (mu, logvar);
    "add_loss" adds the batch mean of `inputs[0]` times `expand[0]` to the loss as term `module`.
    `loc` is the spec position the operation came from.
    """

    target: str
    kind: str
    module: Optional[str]
    inputs: tuple
    dim: int
    loc: Loc
    # add/mul: per input, the batched axes to insert before broadcasting (an [F] against a [T, F] becomes
    # [B, 1, F]), so one sample meets one sample and never the batch; () when nothing is inserted
    expand: tuple = ()

    def as_tuple(self) -> tuple:
        """The (target, kind, module, inputs, dim, expand) form the runtime GraphModule executes."""
        return (self.target, self.kind, self.module, self.inputs, self.dim, self.expand)


@dataclass
class LayerNode:
    """One layer with its bound arguments and shapes."""

    name: str
    layer: LayerDef
    args: dict
    in_shape: Shape
    out_shape: Shape
    loc: Loc
    # a channels-first layer on an input whose channel axis is not the first (a [T, F] sequence's F is
    # axis 1): that axis is moved to the front around the module, and the output moved back
    channel_axis: int = 0

    @property
    def module_shapes(self) -> tuple:
        """(input, output) as the built module sees them: channels first."""
        if not self.channel_axis:
            return self.in_shape, self.out_shape
        return self.in_shape.channels_first(), self.out_shape.channels_first()


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
    ops: list = field(default_factory=list)  # of Op, for graph bodies
    output: str = "input"
    shapes: dict = field(default_factory=dict)  # graph bodies: result name -> Shape
    # a model with named inputs (`input photo: image(...)`): name -> Shape in declaration order, which is the
    # order its forward takes them; empty for a model with one unnamed `input`, and for blocks
    inputs: dict = field(default_factory=dict)
    # a model with `output NAME = ...` lines: name -> Shape in declaration order (several: forward returns a
    # dict of them); empty when the output is the last unbound chain
    outputs: dict = field(default_factory=dict)
    output_locs: dict = field(default_factory=dict)  # output name -> its `output` line


def evaluate_args(node, env: Env):
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


def int_dim(value, loc: Loc) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ArgumentError(f"a size must be a positive integer, received {value!r}", loc)
    return value


def iter_nodes(node, prefix: str = "", depth: int = 0):
    """Walk a plan tree: (qualified name, node, depth) for every body and layer."""
    for child in getattr(node, "children", []):
        name = f"{prefix}{child.name}"
        yield name, child, depth
        if isinstance(child, BodyNode):
            yield from iter_nodes(child, name + ".", depth + 1)
