"""A train block's `layer_init` rule: the setting in, {layer name: initialiser} out, and a plan with it applied.

`layer_init conv=kaiming_normal, linear=xavier_uniform` starts the weights of every layer of those
kinds (a key is a layer name or alias; `conv` also covers conv1d, conv2d and conv3d). A layer's own
init= wins. The rule is written into a copy of the plan's layers (`with_layer_init`), so the
compiler and an export read one init= per layer and build the same starting weights.
"""
from __future__ import annotations

import copy
from dataclasses import replace

from ..errors import ArgumentError, UnknownNameError, did_you_mean, warn
from ..language import ir
from ..language.resolve import Env
from ..layers.init import INITIALISERS, bind_initialiser
from ..layers.registry import find_layer, list_layers
from .nodes import BodyNode, LayerNode, iter_nodes


def read_layer_init(s: ir.Setting, env: Env) -> dict:
    """`layer_init KIND=INITIALISER, ...` checked: {layer name: bound initialiser call}."""
    if s.body is not None or s.args or not s.kwargs:
        raise ArgumentError("'layer_init' takes layer kinds and initialisers, e.g. "
                            "layer_init conv=kaiming_normal, linear=xavier_uniform", s.loc)
    rule: dict = {}
    for k in s.kwargs:
        names = _kinds(k.name, k.loc)
        call = bind_initialiser(env.eval(k.value), k.value.loc, "layer_init", k.name)
        call = replace(call, loc=k.loc, arg_locs={"kind": k.name})  # where the kind is written, for warn_unused
        entry = INITIALISERS[call.callee]
        if entry.embedding_only:
            raise ArgumentError(f"{call.callee}() aligns rows to a vocabulary: write it on the embedding itself, "
                                f"embedding(..., init={call.callee}(...))", k.value.loc)
        for name in names:
            if name in rule:
                raise ArgumentError(f"layer_init: {name} is given twice", k.loc)
            if entry.fan and find_layer(name).weights == "scale":
                raise ArgumentError(f"{call.callee} reads the fan in and out of a weight of at least 2 dimensions; "
                                    f"{name}'s weight is a 1-d scale", k.value.loc,
                                    hint="use ones, constant, normal or uniform for a norm")
            rule[name] = call
    return rule


def _kinds(key: str, loc) -> list:
    """The layer names a rule key covers: the layer it names (or aliases), and conv its 1-3d forms."""
    weighted = {layer.name for layer in list_layers() if layer.weights}
    layer = find_layer(key)
    if layer is None or "." in key:
        raise UnknownNameError(f"layer_init: unknown layer '{key}'." + did_you_mean(key, sorted(weighted)), loc,
                               hint=f"layers with weights: {', '.join(sorted(weighted))}")
    if not layer.weights:
        raise ArgumentError(f"layer_init: {layer.name} has no weights to initialise", loc,
                            hint=f"layers with weights: {', '.join(sorted(weighted))}")
    return [layer.name] + sorted(n for n in weighted if n[:-2] == layer.name and n[-2:] in ("1d", "2d", "3d"))


def with_layer_init(plan: BodyNode, rule: dict) -> BodyNode:
    """`plan` with the rule's initialiser on every layer of a kind it names and no init= of its own
    (a copy: the spec's cached plan keeps what the model says); `plan` itself without a rule."""
    if not rule:
        return plan
    plan = copy.copy(plan)
    _apply(plan, rule)
    return plan


def _apply(node: BodyNode, rule: dict) -> None:
    node.children = [copy.copy(c) for c in node.children]
    for child in node.children:
        if isinstance(child, LayerNode):
            call = rule.get(child.layer.name)
            if call is not None and child.args.get("init") is None and _has_weights(child):
                child.args = {**child.args, "init": call}
        else:
            _apply(child, rule)


def _has_weights(node: LayerNode) -> bool:
    """Whether a layer of a ruled kind has weights here (batchnorm(affine=false) has none)."""
    return node.args.get("affine") is not False and node.args.get("kind") != "sinusoidal"


def warn_unused(rule: dict, plan: BodyNode, model: str) -> None:
    """Warn at each kind of the rule that no layer of `model` is (a typo of intent: `conv=` on a model of
    conv2d layers is covered, `lstm=` on a gru model starts nothing)."""
    present = {node.layer.name for _, node, _ in iter_nodes(plan) if isinstance(node, LayerNode)}
    kinds: dict = {}  # the written kind -> (its loc, the layer names it covers)
    for name, call in rule.items():
        kinds.setdefault(call.arg_locs["kind"], (call.loc, set()))[1].add(name)
    for kind, (loc, names) in kinds.items():
        if not names & present:
            warn(f"layer_init: model {model} has no {kind} layer, so {kind}= starts nothing", loc,
                 hint="name a kind of layer the model has, or drop it")
