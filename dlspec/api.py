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
                 describe: bool = False, train: Optional[str] = None) -> CompileResult:
    """Check a spec (every model, or `model`): plan it, check its blocks and build it on the meta
    device (no memory); with describe=True also summarise them.

    Summaries apply the freeze settings of the train block that trains each
    model (or of `train`), so trainable counts are what training will see.
    """
    spec = load(path, overrides)
    if train is not None and model is None:
        from .train.config import read_train
        model = read_train(spec, train).model
    names = [spec._model_name(model)] if model else spec.model_names
    for name in names:
        spec.plan(name)
    frozen = check_blocks(spec, train)
    result = CompileResult(names)
    import torch
    for name in names:  # a build on meta allocates nothing but checks memory and plugin layers' shapes
        with torch.device("meta"):
            result.modules[name] = spec.build(name)
    if describe:
        from .summary import model_summary
        for name in names:
            result.summaries.append(model_summary(spec, name, tuple(frozen.get(name, ())), result.modules[name]))
    return result


def check_blocks(spec, train: Optional[str] = None) -> dict:
    """Check every data and train block without loading any data; return model -> frozen labels."""
    from .data.config import read_data
    from .train.config import read_train
    env = spec.program.global_env()
    for decl in spec.program.data.values():
        read_data(decl, env)
    frozen = {}
    from .train.loggers import require_packages
    for name in spec.program.trains:
        cfg = read_train(spec, name)
        require_packages(cfg.log)
        if train is None or name == train:
            frozen.setdefault(cfg.model, cfg.freeze)
    return frozen


def fit(spec_or_path, train: Optional[str] = None, **options):
    """Train a spec's train block; see `dlspec.train.fit.fit` for the options."""
    from .train.fit import fit as _fit
    return _fit(spec_or_path, train, **options)


def evaluate(run_dir: str, split: str = "test", device: str = "cpu", trust: bool = False,
             checkpoint: str = "best") -> dict:
    """Loss and metrics of a finished run on a split, with its best weights (checkpoint="last": the final epoch's).

    Like every call that loads a run, it refuses a run whose stored spec would
    run Python code (`use` lines, dotted data sources, recorded plugins) unless
    trust=True: a run directory from elsewhere is untrusted input."""
    from .runs.predict import evaluate_run
    return evaluate_run(run_dir, split, device, trust, checkpoint)


def predict(run_dir: str, inputs: list, device: str = "cpu", top: int = 1, steps: int = 1,
            trust: bool = False, checkpoint: str = "best") -> list:
    """Predictions of a finished run: image files, CSV rows, sentences, or a forecast of `steps` values.
    trust=True allows a run whose spec runs code; checkpoint picks best or last weights (see `evaluate`)."""
    from .runs.predict import predict as _predict
    return _predict(run_dir, list(inputs), device, top, steps, trust, checkpoint)


def list_runs(root: str = "runs", sort: Optional[str] = None, reverse: bool = False) -> list:
    """One dict per run directory under `root` (model, data, epochs, monitor, best, test_* metrics,
    duration_s, status), sorted best first by `sort` (a column, e.g. test_accuracy; `accuracy` means
    test_accuracy) when given; reverse=True flips the order. `dlspec.runs.table.format_runs` prints them."""
    from .runs.table import list_runs as _list_runs
    return _list_runs(root, sort, reverse)


def export(run_dir: str, fmt: str = "python", out: Optional[str] = None, trust: bool = False,
           checkpoint: str = "best") -> str:
    """Export a finished run as python source + weights, torchscript or onnx; returns the file written.
    trust=True allows a run whose spec runs code; checkpoint picks best or last weights (see `evaluate`)."""
    from .runs.export import export_run
    if out is not None:  # an --out that cannot be a folder is the user's error, named as such
        import os
        from .train.rundir import writing
        with writing(out):
            os.makedirs(out, exist_ok=True)
    return export_run(run_dir, fmt, out, trust, checkpoint)
