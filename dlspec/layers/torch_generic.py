"""Temporary: moved to dlspec.layers.torch_nn (removed once every caller imports from there)."""
from .torch_nn import meta_output_shape, torch_module_layer  # noqa: F401
