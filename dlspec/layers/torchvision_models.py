"""`torchvision.NAME(weights=..., head=true)`: torchvision's classification models as layers.

weights is `none`, a local file holding a state_dict (relative to the spec),
or a torchvision weights name such as DEFAULT or IMAGENET1K_V1 (downloaded
into torch's cache when online; offline, the error says which file to place
where). head=false drops the final classifier layer, so the output is the
feature vector; its size is found by a forward pass on meta tensors.
"""
from __future__ import annotations

import functools
import os

from ..errors import ArgumentError, DlspecError
from ..language.files import open_regular, require_regular
from ..shapes import Shape
from ..shapes import ShapeProblem
from ..schema.args import Arg, positive
from .registry import LayerDef

_FILE_SUFFIXES = (".pth", ".pt", ".ckpt", ".bin")


def is_weights_file(value) -> bool:
    return isinstance(value, str) and (value.endswith(_FILE_SUFFIXES) or os.sep in value or "/" in value)


def _models():
    import torchvision.models as models
    return models


def classification_models() -> list:
    return sorted(_models().list_models(module=_models()))


def drop_head(model):
    """Replace the last nn.Linear (the classifier) by Identity: the model gives its feature vector.

    Self-contained on purpose: `dlspec export` copies this function's source.
    """
    import torch.nn as nn
    linears = [name for name, module in model.named_modules() if isinstance(module, nn.Linear)]
    if not linears:
        raise ValueError(f"{type(model).__name__} has no linear classifier to drop")
    parent_name, _, attr = linears[-1].rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    if isinstance(parent, nn.Sequential):
        parent[int(attr)] = nn.Identity()
    else:
        setattr(parent, attr, nn.Identity())
    return model


def load_weights(name: str, weights: str):
    """A state_dict for `name`: from a local file, or torchvision's named weights (cached download)."""
    import torch
    if is_weights_file(weights):
        if not os.path.exists(weights):
            raise DlspecError(f"weights file not found: {weights}")
        with open_regular(weights, DlspecError, "weights file") as f:  # a pipe or /dev/zero is never read
            return torch.load(f, map_location="cpu", weights_only=True)
    enum = _models().get_model_weights(name)
    try:
        chosen = enum[weights] if weights != "DEFAULT" else enum.DEFAULT
    except KeyError:
        from ..errors import did_you_mean
        raise DlspecError(f"torchvision.{name} has no weights '{weights}'." +
                          did_you_mean(weights, [w.name for w in enum] + ["DEFAULT"])) from None
    cache = os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(chosen.url))
    try:
        return chosen.get_state_dict(progress=False)
    except Exception as exc:  # no network here, or a broken download
        file = os.path.basename(chosen.url)
        raise DlspecError(f"cannot download the {chosen} weights for torchvision.{name}: {exc}",
                          hint=f"offline? pass weights=\"path/to/{file}\" (a state_dict file; --set weights=... "
                               f"when a let holds it), place {file} at {cache}, or weights=none to train from "
                               "scratch") from None


@functools.lru_cache(maxsize=None)
def torchvision_layer(qualified: str):
    """A LayerDef for torchvision.NAME, or None when torchvision has no such classification model."""
    name = qualified.split(".", 1)[1]
    try:
        if name not in classification_models():
            return None
    except ImportError:
        return None

    def build(shape: Shape, a: dict):
        import torch
        models = _models()
        kwargs = {"num_classes": a["num_classes"]} if a["num_classes"] is not None else {}
        model = models.get_model(name, weights=None, **kwargs)
        on_meta = torch.empty(()).device.type == "meta"
        if a["weights"] not in (None, "none") and not on_meta:
            state = load_weights(name, a["weights"])
            try:
                model.load_state_dict(state)
            except RuntimeError as exc:
                raise DlspecError(f"the weights do not fit torchvision.{name}: {str(exc).splitlines()[0]}") from None
        return drop_head(model) if not a["head"] else model

    def infer(shape: Shape, a: dict) -> Shape:
        import torch
        from .torch_nn import meta_output_shape
        if shape.rank != 3 or shape.integer:
            raise ShapeProblem(f"torchvision.{name} needs an image input [C, H, W]")
        if is_weights_file(a["weights"]) and not os.path.exists(a["weights"]):
            raise ArgumentError(f"torchvision.{name}: weights file not found: {a['weights']}")
        if is_weights_file(a["weights"]):
            require_regular(a["weights"], ArgumentError, f"torchvision.{name}: weights file")
        with torch.device("meta"):
            model = build(shape, {**a, "weights": None})
        return meta_output_shape(model, shape, f"torchvision.{name}")

    return LayerDef(
        name=qualified, infer=infer, build=build, source="torchvision",
        args=(Arg("weights", "str", None, doc="none, a .pth file, or a weights name like DEFAULT"),
              Arg("head", "bool", True, doc="false drops the classifier: the output is the feature vector"),
              Arg("num_classes", "int", None, positive)),
        doc=f"torchvision's {name}: torchvision.{name}(weights=none|\"file.pth\"|DEFAULT, head=true).",
        paths=("weights",))
