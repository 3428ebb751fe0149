"""Temporary: ShapeProblem moved to dlspec.shapes (removed once every caller imports from there)."""
from ..shapes import ShapeProblem  # noqa: F401
