"""Python data set classes as sources: a dotted path (`source my_pkg.MyDataset(root=...)`) or the name of
a class defined in a `use "file.py"` file (`source MyDataset(root=...)`) in, `SourceData` out.

A dotted module is looked for in the spec's own folder first (put on the import path while it is imported,
then taken off), so `my_pkg.py` beside the spec needs no PYTHONPATH. Loading a run still imports nothing
of either kind without --trust (train/trust.py lists dotted sources and `use` lines).
"""
from __future__ import annotations

import contextlib
import importlib
import os
import sys

from ...errors import DataError, Loc, did_you_mean
from ...plugins.discovery import loaded_files
from .base import SourceData

def load_class_source(dotted: str, args: tuple, kwargs: dict, loc: Loc) -> SourceData:
    """`source my_module.MyDataset(root="...")`: a torch Dataset subclass, checked before it is called.

    The module is imported because the spec names it (like `use`), but only a
    class deriving from torch.utils.data.Dataset is ever called: `source
    os.system("...")` or `source builtins.eval("...")` is refused at its line
    without running anything. Factory functions are registered with
    `@dlspec.dataset` and used by their registered name.
    """
    cls = _dataset_class(dotted, loc)
    try:
        dataset = cls(*args, **kwargs)
    except Exception as exc:
        raise DataError(f"{dotted}(...) failed: {type(exc).__name__}: {exc}", loc) from None
    if not (hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__")):
        raise DataError(f"{dotted} is not a data set: it needs __len__ and __getitem__", loc)
    targets = getattr(dataset, "targets", None)
    classes = getattr(dataset, "classes", None)
    task = getattr(dataset, "task", None) or ("classification" if classes is not None or targets is not None
                                              else "unknown")
    return SourceData(dataset, targets=list(targets) if targets is not None else None,
                      classes=list(classes) if classes is not None else None, task=task)


def use_file_classes(paths=None) -> dict:
    """{class name: class} of the torch Dataset subclasses defined in the `use` files at `paths` (default:
    every one loaded so far); a name two files define maps to None (ambiguous: rename one)."""
    modules = loaded_files(paths)
    if not modules:  # no torch import for a spec without `use` files
        return {}
    import inspect
    from torch.utils.data import Dataset
    found: dict = {}
    for module in modules:
        for name, obj in vars(module).items():
            if inspect.isclass(obj) and issubclass(obj, Dataset) and obj.__module__ == module.__name__:
                found[name] = None if name in found and found[name] is not obj else obj
    return found


@contextlib.contextmanager
def spec_folder_on_path(loc: Loc):
    """The folder of the spec `loc` is in, first on the import path while the body runs (none for a spec
    given as text, whose folder is the current one)."""
    folder = None if loc is None or loc.file.startswith("<") else os.path.dirname(os.path.abspath(loc.file))
    if folder is None or folder in sys.path:
        yield
        return
    sys.path.insert(0, folder)
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(folder)


def _dataset_class(dotted: str, loc: Loc):
    import inspect
    from torch.utils.data import Dataset, IterableDataset
    if "." not in dotted:
        obj = _use_file_class(dotted, loc)
    else:
        module_name, _, cls_name = dotted.rpartition(".")
        try:
            with spec_folder_on_path(loc):
                obj = getattr(importlib.import_module(module_name), cls_name)
        except (ImportError, AttributeError) as exc:
            where = "" if loc is None or loc.file.startswith("<") else \
                f" (looked for beside the spec, in {os.path.dirname(os.path.abspath(loc.file))}, and on the path)"
            raise DataError(f"cannot import data set class {dotted}: {exc}{where}", loc) from None
    hint = ("a dotted source must name a torch.utils.data.Dataset subclass (map-style: __len__ and __getitem__); "
            "register a factory function with @dlspec.dataset and use its name instead")
    if not inspect.isclass(obj) or not issubclass(obj, Dataset):
        what = "a class" if inspect.isclass(obj) else type(obj).__name__
        raise DataError(f"source {dotted} is not a torch Dataset class (it is {what}); it was not called", loc,
                        hint=hint)
    if issubclass(obj, IterableDataset):
        raise DataError(f"source {dotted} is an IterableDataset; splits and shuffling need a map-style Dataset "
                        "(__len__ and __getitem__)", loc, hint=hint)
    return obj


def _use_file_class(name: str, loc: Loc):
    classes = use_file_classes()
    if classes.get(name) is not None:
        return classes[name]
    if name in classes:
        raise DataError(f"source {name}: several `use` files define a Dataset class named {name}", loc,
                        hint="rename one of the classes")
    raise DataError(f"source {name}: no `use` file defines a Dataset class named {name}."
                    + did_you_mean(name, classes), loc)
