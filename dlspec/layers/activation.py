"""Activations: relu, relu6, leaky_relu, prelu, elu, gelu, silu, mish, hardswish, softplus, sigmoid, tanh;
softmax and log_softmax along a dim."""
from __future__ import annotations

from ..schema.args import Arg, positive
from ..shapes import Shape, ShapeProblem
from ._base import features, need_features, nn, layer

def _activation(name, cls, doc, args=(), kwargs_of=lambda a: {}, aliases=()):
    layer(name, args, infer=features(name), build=lambda s, a: getattr(nn(), cls)(**kwargs_of(a)),
          aliases=(cls,) + aliases, doc=doc, examples=[((3, 4), {})],
          macs=lambda i, o, a: 0)  # elementwise (prelu's one slope too): no multiply-accumulates


_activation("relu", "ReLU", "Rectified linear unit: max(x, 0).")
_activation("leaky_relu", "LeakyReLU", "Leaky ReLU: leaky_relu(slope=0.01).",
            (Arg("slope", "float", 0.01),), lambda a: {"negative_slope": a["slope"]})
_activation("elu", "ELU", "Exponential linear unit: elu(alpha=1.0).", (Arg("alpha", "float", 1.0),),
            lambda a: {"alpha": a["alpha"]})
_activation("gelu", "GELU", "Gaussian error linear unit.")
_activation("silu", "SiLU", "Sigmoid linear unit (swish): x * sigmoid(x).", aliases=("swish",))
_activation("mish", "Mish", "Mish: x * tanh(softplus(x)).")
_activation("relu6", "ReLU6", "ReLU capped at 6: min(max(x, 0), 6) (MobileNet).")
_activation("hardswish", "Hardswish", "Hard swish: x * relu6(x + 3) / 6 (MobileNetV3).", aliases=("hard_swish",))
_activation("softplus", "Softplus", "Softplus: log(1 + exp(beta * x)) / beta; linear above threshold: "
            "softplus(beta=1, threshold=20).", (Arg("beta", "float", 1.0, positive), Arg("threshold", "float", 20.0)),
            lambda a: {"beta": a["beta"], "threshold": a["threshold"]})
_activation("prelu", "PReLU", "Parametric ReLU: max(x, 0) + a * min(x, 0) with one learned slope a shared by "
            "all features: prelu(init=0.25).", (Arg("init", "float", 0.25),), lambda a: {"init": a["init"]})
_activation("sigmoid", "Sigmoid", "Logistic sigmoid.")
_activation("tanh", "Tanh", "Hyperbolic tangent.")


def _dim_activation(name, cls, doc):
    def infer(shape: Shape, a: dict) -> Shape:
        need_features(shape, name)
        _check_dim(a["dim"], shape.rank + 1, name)
        return shape
    layer(name, (Arg("dim", "int", -1),), infer=infer, build=lambda s, a: getattr(nn(), cls)(dim=a["dim"]),
          aliases=(cls,), doc=doc, examples=[((3, 4), {"dim": 1})])


def _check_dim(dim: int, rank: int, what: str) -> None:
    if not -rank <= dim < rank:
        raise ShapeProblem(f"{what}: dim={dim} is out of range for a {rank}-d batch (dims count the batch dim)")
    if dim in (0, -rank):  # normalising across the batch mixes samples: never what a model means
        raise ShapeProblem(f"{what}: dim={dim} is the batch dimension; dims count the batch dim, so the features "
                           f"of a sample are dim=1 (or -1 for the last)")


_dim_activation("softmax", "Softmax", "Softmax along dim (default -1; dims count the batch dim).")
_dim_activation("log_softmax", "LogSoftmax", "Log-softmax along dim (default -1; dims count the batch dim).")
