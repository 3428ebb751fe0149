"""Temporary: moved to dlspec.runtime.recurrent (removed once every caller imports from there)."""
from .runtime.recurrent import *  # noqa: F401,F403
from .runtime.recurrent import _BUILDING  # noqa: F401
