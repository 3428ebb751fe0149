"""High-level calls behind the CLI verbs: paths and options in, results out.

Each CLI command is one function here, so everything a user can do from the
command line is also a Python call.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from .spec import load


@dataclass
class CompileResult:
    """What `compile_spec` found: model names, and summaries/modules when asked."""

    model_names: list
    summaries: list = field(default_factory=list)
    modules: dict = field(default_factory=dict)


def compile_spec(path, model: Optional[str] = None, overrides: Optional[dict] = None,
                 describe: bool = False) -> CompileResult:
    """Check a spec (every model, or `model`); with describe=True also summarise them."""
    spec = load(path, overrides)
    names = [spec._model_name(model)] if model else spec.model_names
    for name in names:
        spec.plan(name)
    result = CompileResult(names)
    if describe:
        import torch
        from .summary import model_summary
        for name in names:
            result.summaries.append(model_summary(spec, name))
            with torch.device("meta"):
                result.modules[name] = spec.build(name)
    return result
