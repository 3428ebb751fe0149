"""Export a finished run: a run directory in, a model file that needs no dlspec out.

- python: `model.py`, a readable PyTorch module (plain nn.Sequential and
  nn.Module classes with an explicit forward) plus `weights.pt`; it imports
  only torch (and torchvision for torchvision backbones).
- torchscript: `model.pt`, traced from the trained model.
- onnx: `model.onnx`, with the `onnx` extra installed (runs/export_onnx.py).

Every format also writes metadata.json (class names, vocabulary and tokenizer
rule, table encoding and scalers, image transform and normalisation: see
runs/meta.py); the python export adds predict.py, whose `predict(inputs)`
answers as `dlspec predict` does (runs/export_predict.py).

Each export is checked before it is reported done: the exported model must
give the same outputs as the trained one on a random batch.
"""
from __future__ import annotations

import importlib.util
import os

import torch

from ..errors import DlspecError
from ..planning.nodes import BodyNode
from ..runtime.units import OriginalUnits
from .export_onnx import export_onnx, require_onnx
from .export_predict import write_metadata, write_predict_py
from .meta import run_meta
from .python_source import PythonWriter

FORMATS = ("python", "torchscript", "onnx")


def export_run(run_dir: str, fmt: str = "python", out: str = None, trust: bool = False,
               checkpoint: str = "best") -> str:
    """Export the trained model of `run_dir` (its best or last weights); returns the path of the main file."""
    from .loaded import LoadedRun
    check_format(fmt)
    run = LoadedRun(run_dir, trust=trust, checkpoint=checkpoint)
    out = out or os.path.join(run_dir, "export")
    os.makedirs(out, exist_ok=True)
    plan = run.spec.plan(run.cfg.model)
    example = example_input(plan)
    model = run.model.cpu().eval()
    scale = run.state.get("target_scale") if run.state.get("task") == "regression" else None
    meta = run_meta(run)  # before writing anything: a step predict cannot apply is an error here
    if fmt == "python":
        path = export_python(model, plan, example, out, scale)
        write_predict_py(out)
    else:
        if scale:  # the exported model answers in the data's units, like `dlspec predict`
            model = OriginalUnits(model, scale["center"], scale["spread"], bool(scale.get("inputs"))).eval()
        path = {"torchscript": export_torchscript, "onnx": export_onnx}[fmt](model, plan, example, out)
    write_metadata(meta, out)
    return path


def check_format(fmt: str) -> None:
    """A known format whose packages are installed (asked before anything is written)."""
    if fmt not in FORMATS:
        raise DlspecError(f"unknown export format '{fmt}'; choose one of {', '.join(FORMATS)}")
    if fmt == "onnx":
        require_onnx()


def example_input(plan: BodyNode) -> torch.Tensor:
    shape = (2,) + tuple(plan.in_shape.dims)
    if plan.in_shape.integer:
        tokens = torch.randint(1, max(plan.in_shape.vocab or 2, 2), shape, generator=torch.Generator().manual_seed(0))
        tokens[0, max(1, shape[1] // 2):] = 0  # some padding, so a trace records the padding-aware path
        return tokens
    return torch.randn(shape, generator=torch.Generator().manual_seed(0))


def _check_same(model, exported, example, what: str) -> None:
    with torch.no_grad():
        expected, got = model(example), exported(example)
    if not torch.allclose(expected, got, atol=1e-5, rtol=1e-4):
        raise DlspecError(f"the {what} export does not reproduce the model's outputs")


def export_torchscript(model, plan, example, out: str) -> str:
    path = os.path.join(out, "model.pt")
    import warnings
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracing warns about deprecation and Python-level branches
        traced = torch.jit.trace(model, example, check_trace=False)
    traced.save(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _check_same(model, torch.jit.load(path), example, "torchscript")
    return path


# ---- python source ----------------------------------------------------------


def export_python(model, plan, example, out: str, scale: dict = None) -> str:
    """model.py and weights.pt; with `scale`, build() wraps the model in OriginalUnits."""
    source = PythonWriter(plan, model, scale).source()
    path = os.path.join(out, "model.py")
    with open(path, "w", encoding="utf-8") as f:
        f.write(source)
    torch.save(model.state_dict(), os.path.join(out, "weights.pt"))
    if scale:
        model = OriginalUnits(model, scale["center"], scale["spread"], bool(scale.get("inputs"))).eval()
    _check_same(model, _load_generated(path, out), example, "python")
    return path


def _load_generated(path: str, out: str):
    spec = importlib.util.spec_from_file_location("_dlspec_exported_model", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.build(os.path.join(out, "weights.pt")).eval()
