"""Data: sources, splits, transforms and loaders for `data` blocks."""
