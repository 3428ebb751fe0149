"""Python data set classes named by dotted path: `source my_pkg.MyDataset(root=...)`."""
from __future__ import annotations

import importlib

from ...errors import DataError, Loc
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


def _dataset_class(dotted: str, loc: Loc):
    import inspect
    from torch.utils.data import Dataset, IterableDataset
    module_name, _, cls_name = dotted.rpartition(".")
    try:
        obj = getattr(importlib.import_module(module_name), cls_name)
    except (ImportError, AttributeError) as exc:
        raise DataError(f"cannot import data set class {dotted}: {exc}", loc) from None
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
