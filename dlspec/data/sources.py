"""Data sources: a `source` setting in, a `SourceData` (samples, labels, classes) out.

Each source is registered with typed arguments, so `dlspec compile` checks a
source without loading it. Loading happens only when training starts.
Relative paths are resolved against the spec's folder by the caller.
"""
from __future__ import annotations

import gzip
import importlib
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from ..errors import DataError, Loc, warn
from ..schema.args import Arg
from ..schema.registry import register_entry

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


@dataclass
class SourceData:
    """What a source provides: a train part, maybe its own test part, and labels."""

    train: Any  # a Dataset of (x, y)
    test: Any = None
    targets: Optional[list] = None  # train labels, for stratified splits
    classes: Optional[list] = None
    task: str = "classification"  # or "regression"
    extra: dict = field(default_factory=dict)
    fit_on_train: Optional[Callable] = None  # called with the training indices (e.g. to build a vocabulary)
    chronological: bool = False  # split in time order, never shuffled across time
    shared_scale: bool = False  # inputs and targets are the same quantity (a series): scale both alike


@dataclass(frozen=True)
class SourceDef:
    name: str
    args: tuple
    load: Callable[[dict, Loc], SourceData]
    doc: str
    paths: tuple = ()  # argument names holding file paths (resolved against the spec)


SOURCES: dict = {}


def register_source(source: SourceDef, override: bool = False) -> SourceDef:
    return register_entry(SOURCES, source, "data source", override)


def source(name, args=(), doc="", paths=()):
    def wrap(fn):
        register_source(SourceDef(name, tuple(args), fn, doc or (fn.__doc__ or "").strip(), tuple(paths)))
        return fn
    return wrap


# ---- in-memory tensors --------------------------------------------------


class TensorData:
    """A dataset of pre-made tensors; `x[i], y[i]` per sample."""

    def __init__(self, x, y):
        self.x, self.y = x, y

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i], self.y[i]


@source("sklearn_digits", doc="scikit-learn's bundled 8x8 digits as [1, 8, 8] images in [0, 1], labels 0-9 "
                              "(1,797 samples; no download).")
def _digits(a: dict, loc: Loc) -> SourceData:
    import torch
    from sklearn.datasets import load_digits
    d = load_digits()
    x = torch.tensor(d.images, dtype=torch.float32).unsqueeze(1) / 16.0
    y = torch.tensor(d.target, dtype=torch.long)
    return SourceData(TensorData(x, y), targets=d.target.tolist(), classes=[str(c) for c in range(10)])


# ---- image folders ------------------------------------------------------


class ImageFiles:
    """Images on disk with class indices; opened with Pillow and converted to `mode`."""

    def __init__(self, files: list, labels: list, mode: str, sizes: Optional[list] = None):
        self.files, self.labels, self.mode = files, labels, mode
        self.sizes = sizes  # (width, height) per file, measured by the scan

    def __len__(self):
        return len(self.files)

    def __getitem__(self, i):
        from PIL import Image
        try:
            with Image.open(self.files[i]) as img:
                return img.convert(self.mode), self.labels[i]
        except OSError as exc:  # changed on disk since the scan
            raise DataError(f"cannot read image {self.files[i]}: {exc}") from None


def require_path(path: str, loc: Loc, what: str = "file") -> str:
    """`path` if it exists (a folder when what ends in 'folder'); else a DataError that says where it was looked for."""
    exists = os.path.isdir(path) if what.endswith("folder") else os.path.exists(path)
    if not exists:
        raise DataError(f"{what} not found: {path}", loc,
                        hint="relative paths in a spec are resolved against the spec's own folder; "
                             "fix the path, or override a `let` holding it with --set NAME=\"path\"")
    return path


def scan_images(root: str, loc: Loc) -> tuple:
    """(files, labels, classes, skipped, sizes) of a folder with one subfolder per class.

    Every image is decoded (`load()`, not just `verify()`, which passes truncated
    files; JPEGs in draft mode at 1/8 scale, which still reads every byte):
    about 3 ms an image (0.7 s for 245 photos on a busy 2-core machine), so a
    broken file is found here and skipped with one warning naming it, instead
    of crashing an epoch.
    """
    require_path(root, loc, "image folder")
    classes = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)) and not d.startswith("."))
    if not classes:
        raise DataError(f"{root} has no class subfolders; expected one folder per class (e.g. {root}/cats/*.jpg)", loc)
    files, labels, bad, sizes = [], [], [], []
    for index, cls in enumerate(classes):
        folder = os.path.join(root, cls)
        found = sorted(os.path.join(folder, f) for f in os.listdir(folder) if f.lower().endswith(IMAGE_EXTENSIONS))
        if not found:
            raise DataError(f"class folder {folder} holds no images", loc)
        readable = 0
        for path in found:
            size = _decoded_size(path)
            if size is None:
                bad.append(path)
                warn(f"skipping unreadable or corrupt image: {path}", loc)
                continue
            files.append(path)
            labels.append(index)
            sizes.append(size)
            readable += 1
        if not readable:
            raise DataError(f"class folder {folder} holds no readable image ({len(found)} unreadable)", loc)
    return files, labels, classes, bad, sizes


def _decoded_size(path: str) -> Optional[tuple]:
    """The image's (width, height) after a full decode, or None when it cannot be decoded."""
    from PIL import Image
    try:
        with Image.open(path) as img:
            size = img.size
            if img.format == "JPEG":  # decode at 1/8 scale: every byte is still read, half the time
                img.draft(img.mode, (max(1, size[0] // 8), max(1, size[1] // 8)))
            img.load()
            return size
    except Exception:  # Pillow raises many kinds for corrupt files (OSError, SyntaxError, ValueError, ...)
        return None


@source("image_folder", (Arg("path", "str"), Arg("mode", "str", "RGB", choices=("RGB", "L"))), paths=("path",),
        doc="Images in one subfolder per class: image_folder(\"data/train\", mode=RGB|L).")
def _image_folder(a: dict, loc: Loc) -> SourceData:
    files, labels, classes, bad, sizes = scan_images(a["path"], loc)
    return SourceData(ImageFiles(files, labels, a["mode"], sizes), targets=labels, classes=classes,
                      extra={"skipped": bad})


# ---- torchvision data sets ----------------------------------------------


def _torchvision_source(name: str, cls_name: str, classes: int):
    args = (Arg("root", "str", "data"), Arg("download", "bool", False))

    def load(a: dict, loc: Loc) -> SourceData:
        import torchvision.datasets as tvd
        cls = getattr(tvd, cls_name)
        try:
            train = cls(a["root"], train=True, download=a["download"])
            test = cls(a["root"], train=False, download=a["download"])
        except Exception as exc:  # torchvision raises RuntimeError or URLError
            fallback = _idx_fallback(a["root"], loc) if cls_name in ("MNIST", "FashionMNIST") else None
            if fallback is not None:
                return fallback
            raise DataError(f"{name}: cannot load from {a['root']}: {exc}", loc,
                            hint=f"download=true fetches it (needs internet), or place torchvision's {cls_name} "
                                 f"files under {a['root']}") from None
        return SourceData(train, test, targets=[int(t) for t in train.targets], classes=list(train.classes))

    register_source(SourceDef(name, args, load, f"torchvision's {cls_name} ({classes} classes) with its own test "
                                                f"split: {name}(root=\"data\", download=false).", ("root",)))


for _name, _cls, _n in (("mnist", "MNIST", 10), ("fashion_mnist", "FashionMNIST", 10),
                        ("cifar10", "CIFAR10", 10), ("cifar100", "CIFAR100", 100)):
    _torchvision_source(_name, _cls, _n)


def read_idx(path: str):
    """Read an IDX file (optionally gzipped) as a numpy array."""
    import numpy as np
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def _find(root: str, stem: str) -> Optional[str]:
    for folder in (root, os.path.join(root, "raw"), os.path.join(root, "MNIST", "raw")):
        for ext in ("", ".gz"):
            path = os.path.join(folder, stem + ext)
            if os.path.exists(path):
                return path
    return None


def _idx_fallback(root: str, loc: Optional[Loc] = None) -> Optional[SourceData]:
    """Raw MNIST-format IDX files in `root`, when torchvision's own layout is incomplete."""
    parts = {}
    for split, prefix in (("train", "train"), ("test", "t10k")):
        images, labels = _find(root, f"{prefix}-images-idx3-ubyte"), _find(root, f"{prefix}-labels-idx1-ubyte")
        if images and labels:
            parts[split] = _idx_data(images, labels)
    if not parts:
        return None
    if "train" not in parts:
        warn(f"only the test files are in {root}; using them as the whole data set", loc)
        train, test = parts["test"], None
    else:
        train, test = parts["train"], parts.get("test")
    return SourceData(train, test, targets=train.y.tolist(), classes=[str(i) for i in range(10)])


def _idx_data(images: str, labels: str) -> TensorData:
    import torch
    x = torch.from_numpy(read_idx(images).copy()).float().div_(255).unsqueeze(1)
    y = torch.from_numpy(read_idx(labels).astype("int64"))
    return TensorData(x, y)


@source("idx", (Arg("images", "str"), Arg("labels", "str")), paths=("images", "labels"),
        doc="MNIST-format IDX files (gzipped or not): idx(images=\"...-images-idx3-ubyte.gz\", labels=\"...\").")
def _idx(a: dict, loc: Loc) -> SourceData:
    for key in ("images", "labels"):
        require_path(a[key], loc)
    data = _idx_data(a["images"], a["labels"])
    return SourceData(data, targets=data.y.tolist(), classes=sorted({str(int(v)) for v in data.y}))


# ---- Python classes named by dotted path --------------------------------


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


from . import tables, sequences  # noqa: E402,F401 - register csv, then text, timeseries and sine
