"""Built-in layers beyond convolution and pooling: normalisation, linear,
embedding, dropout, activations and reshaping. Shape rules are pure Python;
builders import torch lazily.
"""
from __future__ import annotations

from ..shapes import Shape
from .builtin import ShapeProblem, _need_features, _nn, layer
from .registry import Arg, positive, probability


def _same(shape: Shape, a: dict) -> Shape:
    return shape


def _features(what):
    def infer(shape: Shape, a: dict) -> Shape:
        _need_features(shape, what)
        return shape
    return infer


# ---- normalisation -----------------------------------------------------


def _bn_build(shape: Shape, a: dict):
    n = {1: 1, 2: 1, 3: 2, 4: 3}.get(shape.rank)
    return getattr(_nn(), f"BatchNorm{n}d")(shape.dims[0], eps=a["eps"], momentum=a["momentum"], affine=a["affine"])


def _norm_macs(i: Shape, o: Shape, a: dict) -> int:
    return i.numel  # one scale-and-shift per element


def _bn_infer(shape: Shape, a: dict) -> Shape:
    _need_features(shape, "batchnorm")
    if shape.rank not in (1, 2, 3, 4):
        raise ShapeProblem("batchnorm needs [N], [C, L], [C, H, W] or [C, D, H, W]")
    return shape


layer("batchnorm", (Arg("eps", "float", 1e-5, positive), Arg("momentum", "float", 0.1),
                    Arg("affine", "bool", True)),
      infer=_bn_infer, build=_bn_build, macs=_norm_macs, aliases=("BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "batch_norm"),
      channels_first=True,
      doc="Batch normalisation over the channel (first) dimension; features are inferred.",
      examples=[((6, 5, 5), {}), ((10,), {"momentum": 0.01}), ((4, 9), {})])


def _ln_infer(shape: Shape, a: dict) -> Shape:
    _need_features(shape, "layernorm")
    if shape.rank == 0:
        raise ShapeProblem("layernorm needs at least one feature dimension")
    return shape


layer("layernorm", (Arg("eps", "float", 1e-5, positive), Arg("affine", "bool", True)),
      infer=_ln_infer, macs=_norm_macs,
      build=lambda s, a: _nn().LayerNorm(s.dims[-1], eps=a["eps"], elementwise_affine=a["affine"]),
      aliases=("LayerNorm", "layer_norm"),
      doc="Layer normalisation over the last dimension (the features of each position).",
      examples=[((12,), {}), ((5, 8), {})])


def _gn_infer(shape: Shape, a: dict) -> Shape:
    _need_features(shape, "groupnorm")
    if shape.rank < 2 or shape.dims[0] % a["groups"]:
        raise ShapeProblem(f"groupnorm({a['groups']}) needs a channels-first input whose channels "
                           f"divide into {a['groups']} groups")
    return shape


layer("groupnorm", (Arg("groups", "int", check=positive), Arg("eps", "float", 1e-5, positive),
                    Arg("affine", "bool", True)),
      infer=_gn_infer, macs=_norm_macs, build=lambda s, a: _nn().GroupNorm(a["groups"], s.dims[0], eps=a["eps"], affine=a["affine"]),
      aliases=("GroupNorm", "group_norm"), doc="Group normalisation: groupnorm(groups) over channel groups.",
      examples=[((8, 4, 4), {"groups": 2})])

# ---- linear and embedding ----------------------------------------------


def _linear_infer(shape: Shape, a: dict) -> Shape:
    _need_features(shape, "linear")
    if shape.rank == 0:
        raise ShapeProblem("linear needs at least one feature dimension")
    if shape.rank > 2:
        raise ShapeProblem("linear acts on the last dimension; put flatten (or global_avgpool -> flatten) "
                           "before it to turn an image into a vector")
    return shape.with_dims(shape.dims[:-1] + (a["out"],))


layer("linear", (Arg("out", "int", check=positive, doc="output features"), Arg("bias", "bool", True)),
      infer=_linear_infer, build=lambda s, a: _nn().Linear(s.dims[-1], a["out"], bias=a["bias"]),
      macs=lambda i, o, a: i.numel * a["out"], aliases=("Linear", "dense"),
      doc="Fully connected layer on the last dimension: linear(out); in_features are inferred.",
      examples=[((20,), {"out": 7}), ((5, 6), {"out": 3, "bias": False})])


def _embedding_infer(shape: Shape, a: dict) -> Shape:
    if not shape.integer:
        raise ShapeProblem("embedding needs integer token ids, e.g. input tokens(T, vocab=N)")
    if a["num_embeddings"] is None and shape.vocab is None:
        raise ShapeProblem("embedding needs the vocabulary size: declare input tokens(T, vocab=N), "
                           "link a text data block in a train block, or pass num_embeddings=N")
    return Shape(shape.dims + (a["dim"],), sequence=shape.rank == 1)


def _embedding_build(shape: Shape, a: dict):
    n = a["num_embeddings"] or shape.vocab
    return _nn().Embedding(n, a["dim"], padding_idx=a["padding_idx"])


layer("embedding", (Arg("dim", "int", check=positive), Arg("num_embeddings", "int", None, positive),
                    Arg("padding_idx", "int", None)),
      infer=_embedding_infer, build=_embedding_build, aliases=("Embedding",), macs=lambda i, o, a: 0,  # a lookup
      doc="Token embedding: embedding(dim); the vocabulary size comes from tokens(T, vocab=N) or the data.",
      examples=[((7,), {"dim": 4, "num_embeddings": 30})])

# ---- dropout -----------------------------------------------------------

layer("dropout", (Arg("p", "float", 0.5, probability),), infer=_features("dropout"),
      build=lambda s, a: _nn().Dropout(a["p"]), aliases=("Dropout",),
      doc="Zero each element with probability p while training: dropout(p=0.5).",
      examples=[((10,), {"p": 0.2})])


def _dropout2d_infer(shape: Shape, a: dict) -> Shape:
    _need_features(shape, "dropout2d")
    if shape.rank != 3:
        raise ShapeProblem("dropout2d needs an image-like input [C, H, W]")
    return shape


layer("dropout2d", (Arg("p", "float", 0.5, probability),), infer=_dropout2d_infer,
      build=lambda s, a: _nn().Dropout2d(a["p"]), aliases=("Dropout2d",),
      doc="Zero whole channels with probability p while training: dropout2d(p=0.5).",
      examples=[((4, 5, 5), {"p": 0.1})])

# ---- activations -------------------------------------------------------


def _activation(name, cls, doc, args=(), kwargs_of=lambda a: {}, aliases=()):
    layer(name, args, infer=_features(name), build=lambda s, a: getattr(_nn(), cls)(**kwargs_of(a)),
          aliases=(cls,) + aliases, doc=doc, examples=[((3, 4), {})])


_activation("relu", "ReLU", "Rectified linear unit: max(x, 0).")
_activation("leaky_relu", "LeakyReLU", "Leaky ReLU: leaky_relu(slope=0.01).",
            (Arg("slope", "float", 0.01),), lambda a: {"negative_slope": a["slope"]})
_activation("elu", "ELU", "Exponential linear unit: elu(alpha=1.0).", (Arg("alpha", "float", 1.0),),
            lambda a: {"alpha": a["alpha"]})
_activation("gelu", "GELU", "Gaussian error linear unit.")
_activation("silu", "SiLU", "Sigmoid linear unit (swish): x * sigmoid(x).", aliases=("swish",))
_activation("sigmoid", "Sigmoid", "Logistic sigmoid.")
_activation("tanh", "Tanh", "Hyperbolic tangent.")


def _dim_activation(name, cls, doc):
    def infer(shape: Shape, a: dict) -> Shape:
        _need_features(shape, name)
        _check_dim(a["dim"], shape.rank + 1, name)
        return shape
    layer(name, (Arg("dim", "int", -1),), infer=infer, build=lambda s, a: getattr(_nn(), cls)(dim=a["dim"]),
          aliases=(cls,), doc=doc, examples=[((3, 4), {"dim": 1})])


def _check_dim(dim: int, rank: int, what: str) -> None:
    if not -rank <= dim < rank:
        raise ShapeProblem(f"{what}: dim={dim} is out of range for a {rank}-d batch (dims count the batch dim)")
    if dim in (0, -rank):  # normalising across the batch mixes samples: never what a model means
        raise ShapeProblem(f"{what}: dim={dim} is the batch dimension; dims count the batch dim, so the features "
                           f"of a sample are dim=1 (or -1 for the last)")


_dim_activation("softmax", "Softmax", "Softmax along dim (default -1; dims count the batch dim).")
_dim_activation("log_softmax", "LogSoftmax", "Log-softmax along dim (default -1; dims count the batch dim).")
