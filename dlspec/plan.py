"""Temporary: the planner moved to dlspec.planning (removed once every caller imports from there)."""
from .planning.nodes import BodyNode, LayerNode, ParamNode  # noqa: F401
from .planning.planner import Planner  # noqa: F401
