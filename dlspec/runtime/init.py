"""How a layer's weights start: a built module and its initialisers in, the same module initialised out.

`initialised(module, weight, bias)` takes (name, arguments) pairs as dlspec's layers/init.py bound
them. `weight` sets every weight of at least 2 dimensions (a linear's matrix, a conv kernel, an
rnn's weight_ih and weight_hh, an attention's projections); on a layer whose weights are all 1-d
(a norm's scale) it sets those. `bias` sets every bias. Parameters are visited in
named_parameters order, so the same seed gives the same weights. Imports only torch: an exported
model.py copies this file whole and starts from the same weights.
"""
import torch
from torch import nn


def initialised(module, weight=None, bias=None):
    """`module` with its weights and biases started as asked; an embedding's padding row stays 0."""
    params = list(module.named_parameters())
    weights = [(n, p) for n, p in params if "weight" in n.rsplit(".", 1)[-1]]
    matrices = [(n, p) for n, p in weights if p.dim() >= 2]
    biases = [(n, p) for n, p in params if "bias" in n.rsplit(".", 1)[-1]]
    with torch.no_grad():
        for rule, chosen in ((weight, matrices or weights), (bias, biases)):
            if rule is None:
                continue
            if not chosen:
                part = "weights" if rule is weight else "bias"
                raise ValueError(f"{type(module).__name__} has no {part} to initialise")
            for _, tensor in chosen:
                start(tensor, rule[0], rule[1])
        if weight is not None and isinstance(module, nn.Embedding) and module.padding_idx is not None:
            module.weight[module.padding_idx].zero_()
    return module


def start(tensor, name, a):
    """Fill `tensor` in place by the initialiser `name` with arguments `a`."""
    init = nn.init
    if name in ("kaiming_normal", "kaiming_uniform"):
        getattr(init, name + "_")(tensor, a=a["a"], mode=a["mode"], nonlinearity=a["nonlinearity"])
    elif name in ("xavier_normal", "xavier_uniform", "orthogonal"):
        getattr(init, name + "_")(tensor, gain=a["gain"])
    elif name == "normal":
        init.normal_(tensor, mean=a["mean"], std=a["std"])
    elif name == "uniform":
        init.uniform_(tensor, a=a["a"], b=a["b"])
    elif name in ("zeros", "ones"):
        getattr(init, name + "_")(tensor)
    elif name == "constant":
        init.constant_(tensor, a["value"])
    else:
        raise ValueError(f"unknown initialiser {name}")
