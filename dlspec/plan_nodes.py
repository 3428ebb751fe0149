"""Temporary: moved to dlspec.planning.nodes (removed once every caller imports from there)."""
from .planning.nodes import TEMP_PREFIX  # noqa: F401
