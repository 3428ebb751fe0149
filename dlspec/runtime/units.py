"""A model trained on scaled values, taking and giving values in the data's own units.

Imports only torch: the python export copies this file into model.py.
"""
from torch import nn


class OriginalUnits(nn.Module):
    """A model trained with `scale standard|minmax`, taking and giving values in the data's own units.

    Outputs are mapped back (y * spread + center); for a series, whose inputs were
    scaled alike, inputs are scaled first.
    """

    def __init__(self, model: nn.Module, center: float, spread: float, inputs: bool):
        super().__init__()
        self.model, self.center, self.spread, self.inputs = model, float(center), float(spread), inputs

    def forward(self, x):
        if self.inputs:
            x = (x - self.center) / self.spread
        return self.model(x) * self.spread + self.center
