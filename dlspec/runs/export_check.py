"""Checking an export without running anything its folder holds: generated source text and weight
bytes in, the model they build out.

The python export is verified from the text dlspec generated, compiled in
memory: nothing is imported from the export folder, so a `.pyc` planted in
its `__pycache__` (Python's loader takes an unchecked-hash one without
reading the source) or any other file there never runs. Stale compiled copies
of the files an export replaces are removed, so a later `import model` in that
folder reads the new source.
"""
from __future__ import annotations

import contextlib
import io
import os
import sys
import types

_MODULE = "_dlspec_exported_model"


def build_from_source(source: str, weights: bytes, filename: str):
    """`build(weights)` of the generated model.py text, with the state_dict serialised in `weights`."""
    module = types.ModuleType(_MODULE)
    module.__file__ = filename  # for tracebacks only: nothing is read from it
    code = compile(source, filename, "exec", dont_inherit=True)
    sys.modules[_MODULE] = module  # dataclasses and pickling look classes up by module name while it runs
    try:
        exec(code, module.__dict__)  # noqa: S102 - dlspec's own generated text, never a file's
        return module.build(io.BytesIO(weights)).eval()
    finally:
        sys.modules.pop(_MODULE, None)


def remove_stale_bytecode(folder: str, stems) -> None:
    """Remove `__pycache__/STEM.*.pyc` for the modules an export rewrites; a `__pycache__` that is a
    link (not dlspec's to clean) is unlinked itself."""
    cache = os.path.join(folder, "__pycache__")
    if os.path.islink(cache):
        with contextlib.suppress(OSError):
            os.remove(cache)
        return
    if not os.path.isdir(cache):
        return
    for name in os.listdir(cache):
        if name.endswith(".pyc") and name.split(".", 1)[0] in stems:
            with contextlib.suppress(OSError):
                os.remove(os.path.join(cache, name))
