"""Multiply-accumulate counts: a planned layer and its built module in, MACs per sample (or None) out.

A layer that declares a `macs` rule is counted by it. Any other layer is run
once on a meta tensor under torch's FLOP counter (no memory, no device), which
covers `torch.nn.NAME`, torchvision backbones and plugins. Where that counter
cannot see the work (it counts matrix products and convolutions; a recurrent
kernel or a custom op is invisible to it), the count is None, shown as "n/a":
an unknown count is never printed as a wrong number.
"""
from __future__ import annotations

from typing import Optional

from ..shapes import Shape


def count_macs(node, module) -> Optional[int]:
    """MACs for one sample through `module`, the built form of plan `LayerNode` `node`."""
    layer = node.layer
    if layer.macs is not None:
        inp, out = node.module_shapes  # the rule sees what the module sees: [F, T] instead of [T, F]
        return int(layer.macs(inp, out, node.args))
    has_params = any(True for _ in module.parameters())
    if layer.source == "built-in" and not has_params:
        return 0  # activations, pooling, reshapes, selectors: no multiply-accumulates
    flops = _counted_flops(module, node.in_shape)
    if flops is None or (flops == 0 and has_params):
        return None
    return flops // 2


def _counted_flops(module, shape: Shape) -> Optional[int]:
    import copy

    import torch
    from torch.utils.flop_counter import FlopCounterMode
    try:
        on_meta = all(p.is_meta for p in module.parameters()) and all(b.is_meta for b in module.buffers())
        meta = module if on_meta else copy.deepcopy(module).to("meta")
        dtype = torch.long if shape.integer else torch.float32
        x = torch.zeros((1,) + tuple(shape.dims), dtype=dtype, device="meta")
        counter = FlopCounterMode(display=False)
        with counter, torch.no_grad():
            meta(x)
        return int(counter.get_total_flops())
    except Exception:  # a module that cannot run on meta: its work is unknown, not zero
        return None
