"""Learnt vectors for a table's many-level categories: a feature vector in, a wider one out.

A csv column with more levels than `onehot_max` reaches the model as one feature
holding the level's index (position + 1 in the training levels, 0 for a level
never seen in training); `CategoryEmbedding`, the first module of a model whose
input is `vector(auto)`, looks each index up in a table of learnt vectors.
Imports only torch: `dlspec export --format python` copies the class into model.py.
"""
import torch
from torch import nn


class CategoryEmbedding(nn.Module):
    """[B, width] features -> [B, width - len(columns) + sum(dims)]: the other features first, in
    order, then one learnt vector per embedded column.

    `columns` holds (position, levels, dim) per embedded column; index 0 (a level the
    training rows never had) maps to a zero vector that is never trained (padding_idx).
    """

    def __init__(self, width, columns):
        super().__init__()
        positions = [int(c[0]) for c in columns]
        kept = [i for i in range(width) if i not in positions]
        # derived from the arguments, so not saved with the weights
        self.register_buffer("kept", torch.tensor(kept, dtype=torch.long), persistent=False)
        self.register_buffer("positions", torch.tensor(positions, dtype=torch.long), persistent=False)
        self.tables = nn.ModuleList(nn.Embedding(int(c[1]) + 1, int(c[2]), padding_idx=0) for c in columns)

    def forward(self, x):
        ids = x.index_select(1, self.positions).round().long()
        parts = [x.index_select(1, self.kept)]
        for i, table in enumerate(self.tables):
            parts.append(table(ids[:, i].clamp(0, table.num_embeddings - 1)))
        return torch.cat(parts, 1)
