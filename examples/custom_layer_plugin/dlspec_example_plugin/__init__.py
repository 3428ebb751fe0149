"""An example dlspec plugin package.

Installed (`pip install examples/custom_layer_plugin`), it registers through
the `dlspec.plugins` entry point, so any spec can use `scaled_linear` and
`two_moons` without a `use` line.
"""
import torch
from torch import nn
from torch.utils.data import Dataset

import dlspec


# accepts: the roles of its input, a vector [F] or a sequence [T, F] (it acts on the features); any other
# input is refused at its spec line
@dlspec.layer("scaled_linear", examples=[((6,), {"out": 3}), ((4, 5), {"out": 2, "init": 0.5})],
              accepts=("vector", "sequence"))
class ScaledLinear(nn.Module):
    """A linear layer followed by a learnable per-feature scale (an nn.Parameter).

    scaled_linear(out, init=1.0); in_features is inferred from the input.
    """

    def __init__(self, in_features: int, out: int, init: float = 1.0):
        super().__init__()
        self.linear = nn.Linear(in_features, out)
        self.scale = nn.Parameter(torch.full((out,), float(init)))

    def forward(self, x):
        return self.linear(x) * self.scale

    def output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.scale.shape[0],)


@dlspec.dataset("two_moons")
class TwoMoons(Dataset):
    """Two interleaving half circles (scikit-learn's make_moons): two_moons(samples=500, noise=0.1, seed=0)."""

    def __init__(self, samples: int = 500, noise: float = 0.1, seed: int = 0):
        from sklearn.datasets import make_moons
        x, y = make_moons(n_samples=samples, noise=noise, random_state=seed)
        self.x = torch.tensor(x, dtype=torch.float32)
        self.y = torch.tensor(y, dtype=torch.long)
        self.targets = y.tolist()
        self.classes = ["upper", "lower"]

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i], self.y[i]
