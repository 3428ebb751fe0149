"""Registering plugin datasets, transforms, losses, metrics and optimizers:
a decorated Python object in, an entry in the matching registry out.

Arguments come from each object's signature, as for plugin layers.
"""
from __future__ import annotations

import functools
import inspect
from typing import Optional

from ..data.sources.base import SourceData, SourceDef, register_source
from ..data.transforms import TransformDef, register_transform
from ..errors import DataError
from .signatures import own_doc, plugin_source, signature_args
from ..train.losses import LOSSES
from ..train.optimizers import OPTIMIZERS
from ..train.entries import LOSS_OUTPUTS, LOSS_TARGETS, Component, register
from ..train.metrics import MetricDef, Metric, register_metric

_PATH_NAMES = ("path", "root", "file", "folder", "dir", "directory")


def register_dataset(name: str, cls, override: bool = False) -> None:
    """A Dataset class (or factory) whose instances give (x, y) pairs."""
    args = signature_args(cls)
    paths = tuple(a.name for a in args if a.name in _PATH_NAMES or a.name.endswith(("_path", "_dir", "_file")))

    def load(a: dict, loc) -> SourceData:
        try:
            ds = cls(**a)
        except Exception as exc:
            raise DataError(f"data set {name} ({plugin_source(cls)}) failed: {type(exc).__name__}: {exc}", loc) from None
        targets = getattr(ds, "targets", None)
        classes = getattr(ds, "classes", None)
        task = getattr(ds, "task", "classification" if classes is not None else "regression")
        return SourceData(ds, targets=list(targets) if targets is not None else None,
                          classes=list(classes) if classes is not None else None, task=task)

    register_source(SourceDef(name, args, load, own_doc(cls) or f"Plugin data set {name}.", paths,
                              source=plugin_source(cls)), override=override)


def register_transform_plugin(name: str, obj, override: bool = False, resizes: bool = False) -> None:
    """A transform class (instantiated with the spec's arguments) or factory returning a callable."""
    register_transform(TransformDef(name, signature_args(obj), lambda a: obj(**a),
                                    own_doc(obj) or f"Plugin transform {name}.", resizes,
                                    source=plugin_source(obj)), override=override)


def register_loss(name: str, obj, override: bool = False, target: Optional[str] = None,
                  soft_targets: bool = False, expects: Optional[str] = None) -> None:
    """An nn.Module loss class, or a function loss(output, target, **options). `target` says what it
    takes ("class": class indices as int64, "binary": 0/1 floats shaped like the output, "value": numbers
    shaped like the output; unsaid: floats as for "value"), `soft_targets=True` that it also takes class
    probabilities (mixup, cutmix), `expects` what the model must give it ("logits", "log_probs", "values")."""
    _check_declared(name, "target", target, LOSS_TARGETS)
    _check_declared(name, "expects", expects, LOSS_OUTPUTS)
    if inspect.isclass(obj):
        build, args = (lambda a: obj(**a)), signature_args(obj)
    else:
        params = list(inspect.signature(obj).parameters)
        build, args = (lambda a: functools.partial(obj, **a)), signature_args(obj, skip=params[:2])
    register(LOSSES, Component(name, args, build, own_doc(obj) or f"Plugin loss {name}.",
                               plugin_source(obj), target=target, soft_targets=bool(soft_targets),
                               expects=expects), override)


def _check_declared(name: str, key: str, value, allowed: tuple) -> None:
    """A plugin's declaration is one of the allowed words (or left out): refused at registration otherwise."""
    if value is not None and value not in allowed:
        raise ValueError(f"loss {name}: {key}={value!r} is not one of {', '.join(map(repr, allowed))}")


class _FunctionMetric(Metric):
    """Wraps fn(output, target) -> batch mean, weighting each batch by its size, on the device."""

    def __init__(self, fn, options):
        super().__init__()
        self.fn, self.options = fn, options

    def update(self, out, y):
        value = self.fn(out, y, **self.options)
        self._add(value * y.shape[0], y.shape[0])


def register_metric_plugin(name: str, obj, override: bool = False, higher_is_better: bool = True) -> None:
    """A function metric(output, target, **options) giving a batch mean, or a class with update/compute."""
    if inspect.isclass(obj):
        make, args = (lambda a: obj(**a)), signature_args(obj)
    else:
        params = list(inspect.signature(obj).parameters)
        make, args = (lambda a: _FunctionMetric(obj, a)), signature_args(obj, skip=params[:2])
    register_metric(MetricDef(name, args, make, own_doc(obj) or f"Plugin metric {name}.",
                              higher_is_better, plugin_source(obj)), override)


def register_optimizer(name: str, obj, override: bool = False) -> None:
    """A torch.optim.Optimizer subclass or a factory(params, **options)."""
    params = list(inspect.signature(obj.__init__ if inspect.isclass(obj) else obj).parameters)
    skip = params[1:2] if inspect.isclass(obj) else params[:1]
    register(OPTIMIZERS, Component(name, signature_args(obj, skip=skip),
                                   lambda p, a: obj(p, **a), own_doc(obj) or f"Plugin optimizer {name}.",
                                   plugin_source(obj)), override)
