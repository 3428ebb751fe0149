"""A tiny two-input, two-target data set for the several-outputs tests, used as a dotted source:
`source tests.helpers.multitask_data.Listing(n=48)`.

What it assumes (the contract with the data side of issue 25): each sample is (x, y) with x a dict
input name -> tensor and y a dict target name -> tensor (class indices as int64, numbers as float32);
the data set declares each target's task and classes as `target_info` (train/targets.py reads it until
the data stage carries the same mapping on its bundle). Deterministic: sample i depends on i only.
"""
import torch
from torch.utils.data import Dataset

KINDS = ["flat", "house", "loft"]

# a two-input, two-output model and a data block reading Listing: a test adds its train block
LISTING_SPEC = """model Listing {
    input photo: vector(6)
    input facts: vector(2)
    h = concat(photo, facts) -> linear(16) -> relu
    output price = h -> linear(1)
    output kind = h -> linear(3)
}
data d {
    source tests.helpers.multitask_data.Listing(n=48)
    split train=0.5 val=0.25 test=0.25
    batch 8
}
"""


class Listing(Dataset):
    """photo: 6 numbers, facts: 2 numbers; price (regression) and kind (3 classes) follow from them."""

    target_info = {"price": {"task": "regression", "classes": None, "scale": None},
                   "kind": {"task": "classification", "classes": KINDS, "scale": None}}

    def __init__(self, n: int = 48, only: str = ""):
        g = torch.Generator().manual_seed(7)
        self.photo = torch.randn(n, 6, generator=g)
        self.facts = torch.randn(n, 2, generator=g)
        self.price = (self.photo[:, :3].sum(1) + 2 * self.facts[:, 0]).float()
        self.kind = (self.photo[:, 3] > 0).long() + (self.facts[:, 1] > 0.5).long()
        self.targets = self.kind.tolist()
        self.only = only  # "kind": one target, as a tensor (a model with several inputs and one output)

    def __len__(self):
        return len(self.price)

    def __getitem__(self, i):
        x = {"photo": self.photo[i], "facts": self.facts[i]}
        if self.only:
            return x, getattr(self, self.only)[i]
        return x, {"price": self.price[i], "kind": self.kind[i]}
