"""Image sources: sklearn_digits, image_folder (every file decoded once while scanning, after its
header passed the pixel cap), mnist/fashion_mnist/cifar10/cifar100 through torchvision, and
MNIST-format idx files."""
from __future__ import annotations

import gzip
import os
from typing import Optional

from ...errors import DataError, Loc, did_you_mean, warn
from ...runtime.inputs import MAX_PIXELS, InputError, TooManyPixels, open_image
from ...schema.args import Arg, positive
from .base import SourceData, SourceDef, TensorData, register_source, require_path, source

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


@source("sklearn_digits", input_kind="grayscale image",


doc="scikit-learn's bundled 8x8 digits as [1, 8, 8] images in [0, 1], labels 0-9 "
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
    """Images on disk with class indices; opened with Pillow (within the pixel cap) and converted to `mode`."""

    def __init__(self, files: list, labels: list, mode: str, sizes: Optional[list] = None,
                 max_pixels: int = MAX_PIXELS, root: Optional[str] = None):
        self.files, self.labels, self.mode, self.max_pixels = files, labels, mode, max_pixels
        self.sizes = sizes  # (width, height) per file, measured by the scan
        self.root = root  # the folder scanned; split list files name images relative to it

    def __len__(self):
        return len(self.files)

    def __getitem__(self, i):
        try:
            with open_image(self.files[i], self.max_pixels) as img:
                return img.convert(self.mode), self.labels[i]
        except InputError as exc:  # changed on disk since the scan
            raise DataError(exc.message, hint=exc.hint) from None
        except Exception as exc:  # changed on disk since the scan; Pillow raises many kinds
            raise DataError(f"cannot read image {self.files[i]}: {exc}") from None


def scan_images(root: str, loc: Loc, max_pixels: int = MAX_PIXELS) -> tuple:
    """(files, labels, classes, skipped, sizes) of a folder with one subfolder per class.

    Every image is decoded (`load()`, not just `verify()`, which passes truncated
    files; JPEGs in draft mode at 1/8 scale, which still reads every byte):
    about 3 ms an image (0.7 s for 245 photos on a busy 2-core machine), so a
    broken file is found here and skipped with one warning naming it, instead
    of crashing an epoch. An image whose header declares more than `max_pixels`
    pixels (a decompression bomb, or a photo far larger than any model input)
    and a path that is not a regular file (a link to a device) are skipped
    with a warning before anything of them is decoded or read.
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
            try:
                size = _decoded_size(path, max_pixels)
            except InputError as exc:
                bad.append(path)
                warn(f"skipping image: {exc.message}", loc, hint=exc.hint)
                continue
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


def _decoded_size(path: str, max_pixels: int) -> Optional[tuple]:
    """The image's (width, height) after a full decode, or None when it cannot be decoded; an InputError
    (nothing decoded) for a path that is not a regular file or an image past `max_pixels`."""
    try:
        with open_image(path, max_pixels) as img:
            size = img.size
            if img.format == "JPEG":  # decode at 1/8 scale: every byte is still read, half the time
                img.draft(img.mode, (max(1, size[0] // 8), max(1, size[1] // 8)))
            img.load()
            return size
    except TooManyPixels as exc:
        raise TooManyPixels(exc.message, "shrink the image, or raise the cap: image_folder(..., max_pixels=N)") \
            from None
    except InputError:  # not a regular file: never opened
        raise
    except Exception:  # Pillow raises many kinds for corrupt files (OSError, SyntaxError, ValueError, ...)
        return None


@source("image_folder", (Arg("path", "str", None), Arg("mode", "str", "RGB", choices=("RGB", "L")),
                         Arg("max_pixels", "int", MAX_PIXELS, positive), Arg("train", "str", None),
                         Arg("val", "str", None), Arg("test", "str", None)),
        paths=("path", "train", "val", "test"), split_args=("train", "val", "test"), input_kind="image",
        doc=f"Images in one subfolder per class: image_folder(\"data/images\", mode=RGB|L, "
            f"max_pixels={MAX_PIXELS}), split by the data block; or a folder per split, kept as given: "
            "image_folder(train=\"data/train\", val=\"data/val\", test=\"data/test\") (ImageNet-style; the classes "
            "are train's subfolders), inside a folder when one is given: image_folder(\"data\", train=\"train\", val=\"val\"). An image declaring more than max_pixels pixels (width x height, read from its "
            "header) is skipped with a warning, never decoded.")
def _image_folder(a: dict, loc: Loc) -> SourceData:
    cap = a.get("max_pixels", MAX_PIXELS)  # digit_images passes only path and mode
    folders = {k: a[k] for k in ("train", "val", "test") if a.get(k) is not None}
    if not folders:
        if a.get("path") is None:
            raise DataError("image_folder needs a folder: image_folder(\"data/images\"), or one per split "
                            "(train=\"data/train\", val=\"data/val\")", loc)
        files, labels, classes, bad, sizes = scan_images(a["path"], loc, cap)
        return SourceData(ImageFiles(files, labels, a["mode"], sizes, cap, root=a["path"]), targets=labels,
                          classes=classes, skipped=tuple(bad))
    return _split_folders(a, folders, cap, loc)


def _split_folders(a: dict, folders: dict, cap: int, loc: Loc) -> SourceData:
    """image_folder(train=..., val=..., test=...): each split's folder scanned, kept as given; the classes are
    the training folder's, and a class folder of val or test that train lacks is an error naming the nearest."""
    at = a.get("arg_locs") or {}
    if "train" not in folders:
        raise DataError("image_folder: per-split folders need train=\"...\" (the model learns from it)",
                        at.get(next(iter(folders)), loc))
    files, labels, sizes, bad, given, classes = [], [], [], [], {}, None
    for split, folder in folders.items():
        where = at.get(split, loc)
        f, lab, found, skipped, sz = scan_images(folder, where, cap)
        if classes is None:
            classes = found
        for name in found:
            if name not in classes:
                raise DataError(f"image_folder: {split} folder {folder} has a class folder '{name}' that the train "
                                f"folder lacks." + did_you_mean(name, classes) + f" Classes: {', '.join(classes)}",
                                where, hint="every split uses the training folder's classes")
        start = len(files)
        files += f
        labels += [classes.index(found[i]) for i in lab]
        sizes += sz
        bad += skipped
        given[split] = list(range(start, len(files)))
    return SourceData(ImageFiles(files, labels, a["mode"], sizes, cap), targets=labels, classes=classes,
                      skipped=tuple(bad), given_splits=given)


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
                                                f"split: {name}(root=\"data\", download=false).", ("root",),
                              input_kind="grayscale image" if cls_name in ("MNIST", "FashionMNIST") else "image"))


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
            if os.path.isfile(path):  # a regular file: a link to a device is never read
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


@source("idx", (Arg("images", "str"), Arg("labels", "str")), paths=("images", "labels"), input_kind="grayscale image",
        doc="MNIST-format IDX files (gzipped or not): idx(images=\"...-images-idx3-ubyte.gz\", labels=\"...\").")
def _idx(a: dict, loc: Loc) -> SourceData:
    for key in ("images", "labels"):
        require_path(a[key], loc)
    data = _idx_data(a["images"], a["labels"])
    return SourceData(data, targets=data.y.tolist(), classes=sorted({str(int(v)) for v in data.y}))
