"""What an export needs to answer like `dlspec predict`: a loaded run's meta in, the texts of
metadata.json and (for the python export) predict.py out; runs/export.py writes them.

predict.py is dlspec's own runtime/inputs.py, tables.py and preprocess.py copied
whole, plus `predict(inputs)`, which loads model.py, weights.pt and
metadata.json from its own folder; it imports only torch (and torchvision and
Pillow for images).
"""
from __future__ import annotations

import json

from .python_source import runtime_source

METADATA = "metadata.json"

_FOOTER = '''
# ---- the exported model --------------------------------------------------------

import importlib.util
import json

HERE = os.path.dirname(os.path.abspath(__file__))
_LOADED = {}


def load(folder=HERE, device="cpu"):
    """(model, meta): model.py built with weights.pt, and metadata.json, from `folder`."""
    key = (os.path.abspath(folder), str(device))
    if key not in _LOADED:
        spec = importlib.util.spec_from_file_location("_exported_model", os.path.join(folder, "model.py"))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        model = module.build(os.path.join(folder, "weights.pt")).to(device).eval()
        with open(os.path.join(folder, "metadata.json"), encoding="utf-8") as f:
            _LOADED[key] = (model, json.load(f))
    return _LOADED[key]


def predict(inputs, top=1, steps=1, batch=64, device="cpu"):
    """Answers for `inputs`, as `dlspec predict` gives them: image files, CSV files of feature rows,
    folders or globs; sentences or .txt files for a text model; for a series, [] (continue the
    training series) or a CSV to continue, `steps` values ahead. A list of dicts per input."""
    model, meta = load(device=device)
    return run_predictions(model, meta, list(inputs), top, steps, batch, device)


def main(argv):
    """`python predict.py INPUT...`: one JSON line per answer; an input that cannot be read is one
    error line (with what to do) on stderr and exit status 1, not a traceback."""
    import sys
    try:
        answers = predict(argv)
    except InputError as exc:
        print(f"error: {exc.message}" + (f"\\nhint: {exc.hint}" if exc.hint else ""), file=sys.stderr)
        return 1
    for answer in answers:
        print(json.dumps(answer))
    return 0


if __name__ == "__main__":
    import sys
    sys.exit(main(sys.argv[1:]))
'''


def metadata_text(meta: dict) -> str:
    """metadata.json's text: what reading inputs and answering needs (see runs/meta.py)."""
    return json.dumps(meta, indent=1)


def predict_py_text() -> str:
    """predict.py, written beside model.py (see the module docstring)."""
    header = ('"""Predict with the exported model as `dlspec predict` does: plain PyTorch, no dlspec needed.\n\n'
              '    from predict import predict\n    predict(["photo.jpg", "folder/"])   # a dict per input\n\n'
              'or `python predict.py INPUT...` (one JSON line per answer).\n"""')
    parts = [header, _without_relative_imports(runtime_source("inputs")), _without_relative_imports(runtime_source("tables")),
             _without_relative_imports(runtime_source("preprocess")), _FOOTER]
    return "\n\n".join(p.strip("\n") for p in parts) + "\n"


def _without_relative_imports(source: str) -> str:
    return "\n".join(line for line in source.splitlines() if not line.startswith("from ."))
