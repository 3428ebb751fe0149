"""Temporary: moved to dlspec.runtime.graph (removed once every caller imports from there)."""
from .runtime.graph import GraphModule, Permute, Reshape  # noqa: F401
