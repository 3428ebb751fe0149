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
give the same outputs as the trained one on a random batch. The check runs
only what dlspec generated, from memory (runs/export_check.py): nothing in the
export folder is imported. The folder is checked writable first, every file is
serialised in memory, and all are written together through
train/safe_write.py: a full disk or a read-only folder is a one-line error
naming the path, with nothing partial left, and a symbolic link in the run
directory never redirects the export outside it.
"""
from __future__ import annotations

import io
import os
from typing import Optional

import torch

from ..errors import DlspecError
from ..planning.layer_init import with_layer_init
from ..planning.nodes import BodyNode
from ..runtime.units import OriginalUnits
from ..train.safe_write import make_folder, removing_if_empty, write_files
from .export_check import build_from_source, remove_stale_bytecode
from .export_onnx import onnx_files, require_onnx
from .export_predict import METADATA, metadata_text, predict_py_text
from .meta import run_meta
from .python_source import PythonWriter

FORMATS = ("python", "torchscript", "onnx")


def export_run(run_dir: str, fmt: str = "python", out: str = None, trust: bool = False,
               checkpoint: Optional[str] = None) -> str:
    """Export the trained model of `run_dir` (its best or last weights); returns the path of the main file."""
    from .loaded import LoadedRun
    check_format(fmt)
    run = LoadedRun(run_dir, trust=trust, checkpoint=checkpoint)
    root = out or run_dir  # the default RUN_DIR/export must stay inside the run directory
    out = out or os.path.join(run_dir, "export")
    created = make_folder(root, out)  # writable, and no link on the way, before anything is computed
    with removing_if_empty(out, created):
        meta = run_meta(run)  # before the export: a step predict cannot apply is an error here
        path, files = _exported_files(run, fmt, out)
        files[os.path.join(out, METADATA)] = metadata_text(meta)
        write_files(root, files)  # all or nothing
    remove_stale_bytecode(out, ("model", "predict"))
    return path


def _exported_files(run, fmt: str, out: str) -> tuple:
    """(the main file's path, {path: content}) of the export, made and checked in memory."""
    plan = with_layer_init(run.spec.plan(run.cfg.model, run.facts), run.cfg.layer_init)  # model.py starts alike
    example = example_input(plan)
    model = run.model.cpu().eval()
    # several outputs: OriginalUnits wraps one tensor; each output's scale is in metadata.json (meta["outputs"])
    several = bool(run.record.spec.outputs)
    scale = run.record.data.target_scale if run.record.data.task == "regression" and not several else None
    if fmt == "python":
        files = python_files(model, plan, example, out, scale)
        files[os.path.join(out, "predict.py")] = predict_py_text()
        return os.path.join(out, "model.py"), files
    if scale:  # the exported model answers in the data's units, like `dlspec predict`
        model = OriginalUnits(model, scale["center"], scale["spread"], bool(scale.get("inputs"))).eval()
    if fmt == "torchscript":
        path, data = torchscript_file(model, example, out)
        return path, {path: data}
    return onnx_files(model, example, out)


def check_format(fmt: str) -> None:
    """A known format whose packages are installed (asked before anything is written)."""
    if fmt not in FORMATS:
        raise DlspecError(f"unknown export format '{fmt}'; choose one of {', '.join(FORMATS)}")
    if fmt == "onnx":
        require_onnx()


def example_input(plan: BodyNode):
    """A random batch of two for `plan`'s input; a dict input name -> batch for a model with several."""
    if len(plan.inputs) > 1:
        return {name: _example_of(shape, i) for i, (name, shape) in enumerate(plan.inputs.items())}
    return _example_of(plan.in_shape, 0)


def _example_of(in_shape, seed: int) -> torch.Tensor:
    shape = (2,) + tuple(in_shape.dims)
    if in_shape.integer:
        tokens = torch.randint(1, max(in_shape.vocab or 2, 2), shape, generator=torch.Generator().manual_seed(seed))
        tokens[0, max(1, shape[1] // 2):] = 0  # some padding, so a trace records the padding-aware path
        return tokens
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


def call_with(model, example):
    """model(example), with a dict of several inputs given in declaration order (as every export takes them)."""
    return model(*example.values()) if isinstance(example, dict) else model(example)


def same_outputs(expected, got) -> bool:
    """Equal outputs: tensors, or dicts of them with the same names (several outputs)."""
    if isinstance(expected, dict):
        return isinstance(got, dict) and list(got) == list(expected) and \
            all(same_outputs(expected[k], got[k]) for k in expected)
    return isinstance(got, torch.Tensor) and got.shape == expected.shape and \
        torch.allclose(expected, got, atol=1e-5, rtol=1e-4)


def _check_same(model, exported, example, what: str) -> None:
    with torch.no_grad():
        expected, got = call_with(model, example), call_with(exported, example)
    if not same_outputs(expected, got):
        raise DlspecError(f"the {what} export does not reproduce the model's outputs")


def torchscript_file(model, example, out: str) -> tuple:
    """(path, bytes) of model.pt, traced and checked in memory (a full disk cannot abort a C++ write)."""
    import warnings
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracing warns about deprecation and Python-level branches
        # several inputs: traced positionally, in declaration order; several outputs: a dict (strict=False)
        args = tuple(example.values()) if isinstance(example, dict) else example
        traced = torch.jit.trace(model, args, check_trace=False, strict=False)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit.save and load warn that TorchScript is deprecated
        torch.jit.save(traced, buffer)
        data = buffer.getvalue()
        _check_same(model, torch.jit.load(io.BytesIO(data)), example, "torchscript")
    return os.path.join(out, "model.pt"), data


# ---- python source ----------------------------------------------------------


def export_python(model, plan, example, out: str, scale: dict = None) -> str:
    """model.py and weights.pt; with `scale`, build() wraps the model in OriginalUnits."""
    os.makedirs(out, exist_ok=True)
    write_files(out, python_files(model, plan, example, out, scale))
    return os.path.join(out, "model.py")


def python_files(model, plan, example, out: str, scale: dict = None) -> dict:
    """{path: content} of model.py and weights.pt, checked from memory to reproduce `model`."""
    source = PythonWriter(plan, model, scale).source()
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    weights = buffer.getvalue()
    if scale:
        model = OriginalUnits(model, scale["center"], scale["spread"], bool(scale.get("inputs"))).eval()
    path = os.path.join(out, "model.py")
    _check_same(model, build_from_source(source, weights, path), example, "python")
    return {path: source, os.path.join(out, "weights.pt"): weights}
