"""ONNX export: a trained model (answering in the data's units) and an example batch in, model.onnx out.

torch's ONNX exporter (torch.export underneath) needs onnx and onnxscript, and the
export is checked with onnxruntime: the `onnx` extra installs all three, and
`require_onnx()` names it before anything is written. The batch dim stays
dynamic; the result is run on the example batch and on one of another size and
must give the model's outputs.
"""
from __future__ import annotations

import importlib.util
import inspect
import os
import tempfile
import warnings

import torch

from ..errors import DlspecError
from ..runtime.graph import NamedGraphModule

NEEDS = ("onnx", "onnxscript", "onnxruntime")
_ONE_FILE_LIMIT = 1 << 30  # weights past this go to model.onnx.data (protobuf stops at 2 GiB)


def require_onnx() -> None:
    """Refuse, in one line naming the extra, when a package the ONNX export needs is missing."""
    missing = [name for name in NEEDS if importlib.util.find_spec(name) is None]
    if missing:
        raise DlspecError(f"ONNX export needs {', '.join(missing)}, not installed: pip install 'dlspec[onnx]'")
    if "dynamo" not in inspect.signature(torch.onnx.export).parameters:
        raise DlspecError(f"ONNX export needs torch 2.5 or later (this is {torch.__version__}): "
                          "pip install -U torch, or use --format torchscript")


def onnx_files(model, example: torch.Tensor, out: str) -> tuple:
    """(out/model.onnx, {path: bytes}): the export (weights past 1 GiB beside it, in model.onnx.data),
    made and checked with onnxruntime in a private temporary folder, so the run's folder only ever
    receives whole files, written all at once by the caller."""
    require_onnx()
    with tempfile.TemporaryDirectory(prefix="dlspec-onnx-") as private:
        path = os.path.join(private, "model.onnx")
        _export(model, example, path)
        check_onnx(model, path, example)
        files = {}
        for name in sorted(os.listdir(private)):
            with open(os.path.join(private, name), "rb") as f:
                files[os.path.join(out, name)] = f.read()
    return os.path.join(out, "model.onnx"), files


class _OneInput(torch.nn.Module):
    """A model with one named input, seen through `forward(input)`: torch.export cannot give dynamic
    shapes to the `*inputs` of runtime/graph.py's NamedGraphModule."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input):  # noqa: A002 - the ONNX input's name
        return self.model(input)


class _Several(torch.nn.Module):
    """A model with several inputs or outputs, seen through `forward(*inputs)` returning a tuple of its
    outputs in declaration order: one ONNX graph input per model input, one graph output per output,
    each named like its input or output."""

    def __init__(self, model, outputs: tuple):
        super().__init__()
        self.model, self.outputs = model, outputs

    def forward(self, *inputs):
        out = self.model(*inputs)
        return tuple(out[name] for name in self.outputs) if self.outputs else out


def graph_names(model, example) -> tuple:
    """(input names, output names) of the ONNX graph: the model's own with several, else input/output."""
    inputs = list(example) if isinstance(example, dict) else ["input"]
    with torch.no_grad():
        out = model(*example.values()) if isinstance(example, dict) else model(example)
    return inputs, (list(out) if isinstance(out, dict) else ["output"])


def _export(model, example, path: str) -> None:
    inputs, outputs = graph_names(model, example)
    several = isinstance(example, dict) or outputs != ["output"]
    if several:
        model = _Several(model, tuple(outputs) if outputs != ["output"] else ())
    elif isinstance(model, NamedGraphModule):
        model = _OneInput(model)
    args = tuple(example.values()) if isinstance(example, dict) else (example,)
    batch = torch.export.Dim("batch")
    size = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    dynamic = ({"inputs": tuple({0: batch} for _ in args)},) if several else ({0: batch},)
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the exporter warns about its own deprecations
            torch.onnx.export(model, args, path, input_names=inputs, output_names=outputs,
                              dynamo=True, dynamic_shapes=dynamic[0] if several else dynamic, verbose=False,
                              external_data=size > _ONE_FILE_LIMIT)
    except Exception as exc:  # an operation the exporter does not know, in a plugin layer say
        raise DlspecError(f"the model could not be exported to ONNX: {exporter_reason(exc)}",
                          hint="--format torchscript or --format python export every dlspec model") from None


_EXPORTER_STEPS = ("Failed to export the model", "This is step", "Next steps", "Refer to", "Please ", "##",
                   "For more information", "Traceback", "File ", "torch.onnx", "The exported program")


def exporter_reason(exc: BaseException) -> str:
    """The line of an export failure that says what went wrong: torch.onnx wraps the real error (the
    torch.export one, kept as its cause) in a message whose first lines only say which step failed."""
    causes = []
    while exc is not None and len(causes) < 8:
        causes.append(exc)
        exc = exc.__cause__ or exc.__context__
    for cause in reversed(causes):  # the innermost error says most
        for line in str(cause).splitlines():
            text = line.strip()
            if text and not text.startswith(_EXPORTER_STEPS) and not text.startswith("- "):
                return text[:300]
    return type(causes[0]).__name__ if causes else "unknown error"


def check_onnx(model, path: str, example) -> None:
    """The .onnx file, run by onnxruntime, must answer as the model on `example` and on a batch of
    another size (the batch dim is dynamic); with several inputs or outputs, each by its name."""
    import onnxruntime
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    inputs, outputs = graph_names(model, example)
    named = example if isinstance(example, dict) else {"input": example}
    for feed in (named, {k: torch.cat([v, v[:1]]) for k, v in named.items()}):
        with torch.no_grad():
            expected = model(*feed.values()) if isinstance(example, dict) else model(feed["input"])
        expected = expected if isinstance(expected, dict) else {"output": expected}
        got = dict(zip(outputs, session.run(outputs, {k: v.numpy() for k, v in feed.items()})))
        for name, want in expected.items():
            have = torch.from_numpy(got[name])
            if have.shape != want.shape or not torch.allclose(want, have, atol=1e-5, rtol=1e-4):
                raise DlspecError("the onnx export does not reproduce the model's outputs"
                                  + (f" (output {name})" if name != "output" else ""),
                                  hint="--format torchscript or --format python reproduce it exactly")
