"""What an export needs to answer like `dlspec predict`: a loaded run's meta in, the texts of
metadata.json and (for the python export) predict.py out; runs/export.py writes them.

predict.py is dlspec's own runtime/inputs.py, tables.py, answers.py and preprocess.py copied
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


def predict(inputs, top=1, steps=1, batch=64, device="cpu", max_pixels=None):
    """Answers for `inputs`, as `dlspec predict` gives them: image files, CSV files of feature rows,
    folders or globs; sentences or .txt files for a text model; for a series, [] (continue the
    training series) or a CSV to continue, `steps` values ahead. An image declaring more than
    `max_pixels` pixels (default: metadata.json's image.max_pixels) is refused unread. A list of dicts
    per input."""
    model, meta = load(device=device)
    if max_pixels is not None and "image" in meta:
        meta = dict(meta, image=dict(meta["image"], max_pixels=max_pixels))
    return run_predictions(model, meta, list(inputs), top, steps, batch, device)


USAGE = """usage: python predict.py [--top K] [--steps N] [--max-pixels N] [--] INPUT...

Predict with the exported model; one JSON line per answer on stdout.
INPUT: image files, CSV files of feature rows, folders or globs; sentences or .txt
files for a text model; for a series, nothing (continue the training series) or a CSV.
Files found in a folder or by a glob that cannot be read are skipped with a warning.

  --top K          the K most likely classes of each answer (default 1)
  --steps N        values to forecast, for a series (default 1)
  --max-pixels N   refuse images declaring more than N pixels (default: metadata.json)
  --               the words after it are inputs, even if they start with -
  -h, --help       this text"""

_OPTIONS = {"--top": "top", "--steps": "steps", "--max-pixels": "max_pixels"}


def parse_args(argv):
    """(inputs, options) of the command line; a bad option is an InputError that names it."""
    inputs, options, words = [], {}, list(argv)
    while words:
        word = words.pop(0)
        if word == "--":
            inputs.extend(words)
            break
        name, _, value = word.partition("=")
        if name in _OPTIONS:
            if not value:
                if not words:
                    raise InputError(f"{name} needs a value", "see python predict.py --help")
                value = words.pop(0)
            if not value.isdigit() or int(value) < 1:
                raise InputError(f"{name} must be a positive whole number, received {value!r}",
                                 "see python predict.py --help")
            options[_OPTIONS[name]] = int(value)
        elif word.startswith("--") or (word.startswith("-") and len(word) == 2 and not word[1].isdigit()):
            raise InputError(f"unknown option {word}", "options: " + ", ".join([*_OPTIONS, "--help"])
                             + "; put -- before inputs that start with -")
        else:
            inputs.append(word)
    return inputs, options


def _show_warning(message, category, filename, lineno, file=None, line=None):
    """Warnings (skipped inputs, unseen levels) as one plain line each on stderr."""
    import sys
    print(f"warning: {message}", file=sys.stderr)


def main(argv):
    """`python predict.py INPUT...`: one JSON line per answer; an input that cannot be read is one
    error line (with what to do) on stderr and exit status 1, not a traceback."""
    import sys
    import warnings
    if any(word in ("-h", "--help") for word in argv[:argv.index("--") if "--" in argv else len(argv)]):
        print(USAGE)
        return 0
    warnings.showwarning = _show_warning
    try:
        inputs, options = parse_args(argv)
        answers = predict(inputs, **options)
    except InputError as exc:
        where = "{}:{}:{}: ".format(*exc.where[:3]) if exc.where else ""
        print(f"{where}error: {exc.message}" + (f"\\nhint: {exc.hint}" if exc.hint else ""), file=sys.stderr)
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
              'or `python predict.py INPUT...` (one JSON line per answer; --help for the options).\n"""')
    parts = [header, runtime_source("inputs"), runtime_source("tables"), runtime_source("answers"),
             runtime_source("preprocess"), _FOOTER]
    return "\n\n".join(p.strip("\n") for p in parts) + "\n"

