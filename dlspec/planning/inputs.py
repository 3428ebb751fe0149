"""Model inputs: an `input KIND(...)` declaration in, one sample's `Shape` out.

image(C, H, W), vector(N), sequence(T, F), tokens(T, vocab=N) and tensor(d1, ...);
the batch dimension is never written. `vector(auto)` takes its width from the
data (a table's encoded columns), as `tokens(T)` takes the vocabulary size, and
puts a `category_embedding` layer first when the table has many-level category
columns (`category_embedding`, `with_first_layer`).
"""
from __future__ import annotations

from dataclasses import replace
from typing import Optional

from ..errors import ArgumentError, DlspecError, ShapeError, UnknownNameError, did_you_mean
from ..language import ir
from ..language.resolve import Env
from ..schema.args import Arg, bind_args, positive
from ..shapes import Shape, ShapeProblem, default_roles, parse_layout
from .nodes import BodyNode, LayerNode, evaluate_args, int_dim

INPUTS = {
    "image": ((Arg("channels", "int", check=positive), Arg("height", "int", check=positive),
               Arg("width", "int", check=positive)), lambda a: Shape((a["channels"], a["height"], a["width"]), roles=("C", "H", "W"))),
    "vector": ((Arg("features", "int", check=positive),), lambda a: Shape((a["features"],), roles=("F",))),
    "sequence": ((Arg("steps", "int", check=positive), Arg("features", "int", check=positive)),
                 lambda a: Shape((a["steps"], a["features"]), roles=("T", "F"))),
    "tokens": ((Arg("steps", "int", check=positive), Arg("vocab", "int", None, positive)),
               lambda a: Shape((a["steps"],), integer=True, vocab=a["vocab"], roles=("T",))),
}


def input_shape(decl: ir.InputDecl, env: Env, vocab: Optional[int], sample: Optional[tuple] = None,
                linked: bool = False) -> Shape:
    """One sample's shape from `input KIND(...)`; `vocab` is the linked data's vocabulary, for tokens(T);
    `sample` the linked data's sample shape (or None), read only by vector(auto); `linked` says a train
    block links the model to a data block (whose facts were then not given)."""
    args, kwargs, locs = evaluate_args(decl, env)
    if _is_auto_vector(decl, args, kwargs):
        return Shape((_auto_width(decl, sample, linked),), roles=("F",))
    if decl.kind == "tensor":
        return _tensor_shape(decl, args, kwargs, locs)
    if decl.kind not in INPUTS:
        raise UnknownNameError(f"unknown input kind '{decl.kind}'." + did_you_mean(decl.kind, list(INPUTS) + ["tensor"]),
                               decl.loc, hint="input kinds: image, vector, sequence, tokens, tensor")
    specs, make = INPUTS[decl.kind]
    shape = make(bind_args(decl.kind, specs, args, kwargs, decl.loc, locs))
    if shape.integer and shape.vocab is None and vocab is not None:
        shape = Shape(shape.dims, integer=True, vocab=vocab, roles=shape.roles)
    return shape


def _tensor_shape(decl: ir.InputDecl, args: list, kwargs: dict, locs: dict) -> Shape:
    """tensor(d1, d2, ...): channels first ([F], [C, L], [C, H, W], [C, D, H, W]) unless layout= names the roles."""
    dims = tuple(int_dim(v, locs.get(i, decl.loc)) for i, v in enumerate(args))
    extra = [k for k in kwargs if k != "layout"]
    if not dims or extra:
        raise ArgumentError("tensor(...) takes the sizes of one sample and optionally layout=, e.g. tensor(4, 10) "
                            "or tensor(10, 4, layout=\"TF\")", locs.get(extra[0], decl.loc) if extra else decl.loc)
    if "layout" not in kwargs:
        return Shape(dims, roles=default_roles(len(dims)))
    try:
        return Shape(dims, roles=parse_layout(kwargs["layout"], len(dims)))
    except ShapeProblem as problem:
        raise ArgumentError(f"tensor: {problem}", locs["layout"],
                            hint='e.g. layout="CL" (channels, length), "TF" (time, features), "HWC"') from None


def asks_data(decl: ir.InputDecl, env: Env) -> Optional[str]:
    """What an input declaration takes from the data: "vector" (vector(auto): the sample width),
    "tokens" (tokens(T) without vocab=: the vocabulary size) or None. An input whose arguments do not
    evaluate asks nothing: planning it reports the mistake."""
    try:
        args, kwargs, _ = evaluate_args(decl, env)
    except DlspecError:
        return None
    if _is_auto_vector(decl, args, kwargs):
        return "vector"
    if decl.kind == "tokens" and len(args) < 2 and "vocab" not in kwargs:
        return "tokens"
    return None


def _is_auto_vector(decl: ir.InputDecl, args: list, kwargs: dict) -> bool:
    return decl.kind == "vector" and (args == ["auto"] and not kwargs or not args and kwargs == {"features": "auto"})


def category_embedding(decl: ir.InputDecl, env: Env, shape: Shape, categories: tuple) -> Optional[LayerNode]:
    """The first layer of a `vector(auto)` model whose table has embedded category columns
    (`categories`: (position, levels, dim, name) each), or None. A model with a written width
    takes the level indices as they are: the trainer warns about it (train/task_checks.py)."""
    args, kwargs, _ = evaluate_args(decl, env)
    columns = tuple(categories) if _is_auto_vector(decl, args, kwargs) else ()
    if not columns:
        return None
    from ..layers.categories import CATEGORY_EMBEDDING
    bound = {"width": shape.dims[0], "columns": columns}
    return LayerNode("category_embedding", CATEGORY_EMBEDDING, bound, shape, CATEGORY_EMBEDDING.infer(shape, bound),
                     decl.loc)


def with_first_layer(body: BodyNode, first: LayerNode) -> BodyNode:
    """`body` (planned on `first`'s output) taking `first`'s input: a sequential body gets `first` as
    its first child (renamed if a label took its name); a graph body is wrapped as [first, body]."""
    if body.graph:
        inner = replace(body, name="body")
        return BodyNode(body.name, None, False, first.in_shape, body.out_shape, body.loc, [first, inner])
    taken = {c.name for c in body.children}
    while first.name in taken:
        first = replace(first, name=first.name + "_")
    body.children.insert(0, first)
    body.in_shape = first.in_shape
    return body


def _auto_width(decl: ir.InputDecl, shape: Optional[tuple], linked: bool) -> int:
    """vector(auto): the width of the one-dimensional samples of the data the model trains on."""
    if shape is None and linked:  # a library call planning without the data's facts
        raise ArgumentError("vector(auto) takes its width from the data the model trains on, and the model was "
                            "planned without that data's facts", decl.loc,
                            hint="plan or build it with the data's facts: `from dlspec.train.measure import measure; "
                                 "spec.build(model, facts=measure(spec, model).checked())`, or write vector(N)")
    if shape is None:
        raise ArgumentError("vector(auto) takes its width from the data the model trains on, and no train block "
                            "links this model to a data block", decl.loc,
                            hint="add a train block naming this model and its data, or write vector(N)")
    if len(shape) != 1:
        raise ShapeError(f"vector(auto) needs one-dimensional samples; the data gives samples of shape "
                         f"[{', '.join(map(str, shape))}]", decl.loc, hint="declare image(...), sequence(...) or tensor(...)")
    return int(shape[0])
