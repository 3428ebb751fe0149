"""The layer registry: layer names in, `LayerDef`s (arguments, shape rule, builder) out.

A `LayerDef` says which arguments a layer takes (typed, with defaults and range
checks), how it maps an input `Shape` to an output `Shape` (pure Python, so
shapes are known before any weight exists), and how to build the torch module.
Built-in layers and plugins register here; `get_layer` resolves a name or an
alias and suggests the nearest names on a miss.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional

from ..errors import Loc
from ..schema.args import Arg  # noqa: F401 - the type of LayerDef.args
from ..schema.registry import Registry
from ..shapes import Shape


@dataclass(frozen=True)
class LayerDef:
    """A layer the language knows: its arguments, shape rule and builder."""

    name: str
    args: tuple
    infer: Callable[[Shape, dict], Shape]
    build: Callable[[Shape, dict], Any]
    doc: str
    aliases: tuple = ()
    macs: Optional[Callable[[Shape, Shape, dict], int]] = None
    examples: tuple = ()  # (input dims, {arg: value}) pairs used by the tests
    source: str = "built-in"
    # how the planner treats it:
    # acts on a channel axis and the spatial (or time) axes: it sees its input channels first, the channel
    # axis moved to the front wherever the roles put it ([T, F] -> [F, T]), and the output is moved back
    channels_first: bool = False
    accepts: tuple = ()  # layouts it takes ("CHW", "TF", ...); empty: any (plugins declare theirs)
    produces: Optional[str] = None  # the layout of its output, when its shape rule does not set the roles
    varargs: Optional[str] = None  # positional values gather into this argument: reshape(2, 3)
    paths: tuple = ()  # arguments that may be files, resolved against the spec's folder
    follows: Optional[str] = None  # what must come right before it, for docs and tests (hidden: a recurrent layer)
    passthrough: bool = False  # torch.nn.NAME: arguments go to torch as written, none are checked
    plugin: bool = False  # registered by a plugin: its forward is guarded and its declared shape checked
    # what `init=` starts (layers/init.py): "matrix" (a kernel, at least 2-d), "scale" (a norm's 1-d weight),
    # "" (no weights: no init= argument)
    weights: str = ""


LAYERS = Registry("layer or block", hint="`dlspec layers` lists every layer")


def register_layer(layer: LayerDef, override: bool = False) -> LayerDef:
    """Add a layer; a name or alias already taken is refused unless override=True."""
    return LAYERS.register(layer, override)


def find_layer(name: str) -> Optional[LayerDef]:
    """The layer called `name` (or with that alias), or None."""
    _ensure_builtins()
    found = LAYERS.find(name)
    if found is not None:
        return found
    if name.startswith(("torch.nn.", "nn.")):
        from .torch_nn import torch_module_layer
        return torch_module_layer(name)
    if name.startswith("torchvision."):
        from .torchvision_models import torchvision_layer
        return torchvision_layer(name)
    return None


def list_layers() -> list[LayerDef]:
    _ensure_builtins()
    return LAYERS.entries()


def layer_names() -> list[str]:
    _ensure_builtins()
    return LAYERS.names(with_aliases=True)


def get_layer(name: str, loc: Optional[Loc], other_names=()) -> LayerDef:
    """Like `find_layer`, but an unknown name is an error with suggestions."""
    layer = find_layer(name)
    if layer is None:
        LAYERS.lookup(name, loc, other_names)  # raises, with did-you-mean over layers and blocks
    return layer


def _ensure_builtins() -> None:
    # importing the package registers every built-in family (its __init__ lists them in order)
    import dlspec.layers  # noqa: F401

