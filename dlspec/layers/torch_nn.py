"""`torch.nn.NAME(...)` as a layer: any torch module, arguments passed as written.

Its output shape comes from a forward pass on meta tensors (no memory, no
device), since no shape rule is known ahead of time. Arguments are explicit:
nothing is inferred for such a module. A module that returns a tuple (nn.LSTM,
nn.GRU, nn.MultiheadAttention) passes on its first element, at shape
inference and at run time alike (a forward hook, so state_dict keys are the
module's own).
"""
from __future__ import annotations

import functools

from ..shapes import Shape
from ..shapes import ShapeProblem
from .registry import LayerDef


def meta_output_shape(module, shape: Shape, what: str) -> Shape:
    """Run `module` on a meta tensor of `shape` (batch of 2) and read the output shape."""
    import torch
    dtype = torch.long if shape.integer else torch.float32
    try:
        module = module.to("meta")
        with torch.no_grad():
            out = module(torch.zeros((2,) + tuple(shape.dims), dtype=dtype, device="meta"))
    except Exception as exc:  # the module's own message says what is wrong
        raise ShapeProblem(f"{what} cannot take an input of shape {shape}: {exc}") from None
    if isinstance(out, (tuple, list)):
        out = out[0]
    if not hasattr(out, "shape") or len(out.shape) == 0:
        raise ShapeProblem(f"{what} does not return a batched tensor")
    return Shape(tuple(out.shape[1:]), integer=not out.dtype.is_floating_point)


def _check_vocabulary(module, shape: Shape, what: str) -> None:
    """A lookup table (nn.Embedding, nn.EmbeddingBag) must hold a row for every token id the input can have:
    a meta tensor of zeros never looks one up, so only the vocabulary the input declares tells."""
    from .linear import too_few_embeddings
    rows = getattr(module, "num_embeddings", None)
    if shape.integer and shape.vocab is not None and isinstance(rows, int) and rows < shape.vocab:
        raise ShapeProblem(too_few_embeddings(what, rows, shape.vocab))


def _module_class(qualified: str):
    import torch.nn as nn
    attr = qualified.split(".")[-1]
    cls = getattr(nn, attr, None)
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        return None
    return cls


@functools.lru_cache(maxsize=None)
def torch_module_layer(qualified: str):
    """A LayerDef wrapping torch.nn.NAME, or None when torch has no such module."""
    cls = _module_class(qualified)
    if cls is None:
        return None

    def build(shape: Shape, a: dict):
        from ..runtime.hooks import first_output
        module = cls(*a["args"], **a["kwargs"])
        module.register_forward_hook(first_output)
        return module

    def infer(shape: Shape, a: dict) -> Shape:
        import torch
        try:
            with torch.device("meta"):
                module = build(shape, a)
        except Exception as exc:
            raise ShapeProblem(f"torch.nn.{cls.__name__}: {exc}") from None
        _check_vocabulary(module, shape, f"torch.nn.{cls.__name__}")
        return meta_output_shape(module, shape, f"torch.nn.{cls.__name__}")

    return LayerDef(name=qualified, args=(), infer=infer, build=build,
                    doc=(cls.__doc__ or "").strip(), source="torch", passthrough=True)

