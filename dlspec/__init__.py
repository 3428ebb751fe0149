"""dlspec: a declarative model-spec language for PyTorch.

    spec = dlspec.load("specs/lenet5.dlspec")
    model = spec.build("LeNet5")          # a torch.nn.Module

Importing dlspec does not import torch; building a model does.
"""
from .errors import (ArgumentError, DataError, DlspecError, DlspecErrors, DlspecWarning, PluginError, ShapeError,
                     SpecSyntaxError, TrainError, UnknownNameError)
from .api import diagnose, evaluate, export, fit, list_runs, predict, tune, tune_show
from .spec import Spec, load, loads

__version__ = "0.1.0"

_REGISTRATION = ("layer", "dataset", "transform", "loss", "metric", "optimizer")


def __getattr__(name):
    # The plugin decorators import torch; load them only when a plugin asks.
    if name in _REGISTRATION:
        from .plugins import decorators
        return getattr(decorators, name)
    raise AttributeError(f"module 'dlspec' has no attribute {name!r}")

__all__ = ["load", "loads", "Spec", "fit", "evaluate", "predict", "export", "tune", "tune_show", "list_runs", "layer",
           "dataset", "transform", "loss", "metric", "optimizer", "DlspecError", "DlspecWarning", "SpecSyntaxError",
           "UnknownNameError", "ArgumentError", "ShapeError", "DataError", "TrainError", "PluginError", "DlspecErrors",
           "diagnose"]
