"""The segmentation source: an image folder and a mask folder beside it in, (image, mask) samples out.

`segmentation("shapes/images", masks="shapes/masks", classes=["background", "circle", "square"])`
pairs each image with the mask of the same file stem (`cat.jpg` with `cat.png`). A mask is a
single-channel image (mode L, P, I or 1) whose pixel values are class indices, so a sample's target
is a `[H, W]` class map (dense targets). The scan decodes every image and mask once and refuses, at
the source's line, an unreadable image or mask, an image without a mask, a mask without an image, a
mask whose size differs from its image's, a mask that is not single-channel, and a pixel value that
is not one of the classes. Samples are a
PIL image and a `torchvision.tv_tensors.Mask`, so the pipeline's steps (data/dense.py) move the mask
with its image: geometric steps apply to both, photometric ones to the image only.
"""
from __future__ import annotations

import os
from typing import Optional

from ...errors import DataError, Loc, did_you_mean
from ...runtime.inputs import MAX_PIXELS, InputError, open_image
from ...schema.args import Arg, positive
from .base import SourceData, require_path, source
from .images import IMAGE_EXTENSIONS

MASK_MODES = ("1", "L", "P", "I", "I;16")  # single-channel modes whose values are the class indices
MAX_CLASSES = 256  # masks are read as 8-bit class maps


def _check_classes(value) -> Optional[str]:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return None if 2 <= value <= MAX_CLASSES else f"must be between 2 and {MAX_CLASSES}"
    if isinstance(value, (list, tuple)) and 2 <= len(value) <= MAX_CLASSES and all(isinstance(v, str) for v in value):
        return None if len(set(value)) == len(value) else "names each class once"
    return f"must be a list of 2 to {MAX_CLASSES} class names (index 0 first), or their number"


class MaskedImages:
    """Images with the class map of each pixel: (PIL image in `mode`, tv_tensors.Mask [H, W] uint8)."""

    def __init__(self, files: list, masks: list, mode: str, sizes: list, max_pixels: int = MAX_PIXELS):
        self.files, self.masks, self.mode, self.sizes, self.max_pixels = files, masks, mode, sizes, max_pixels

    def __len__(self):
        return len(self.files)

    def __getitem__(self, i):
        import torch
        from torchvision import tv_tensors
        try:
            with open_image(self.files[i], self.max_pixels) as img:
                image = img.convert(self.mode)
            mask = torch.from_numpy(_mask_values(self.masks[i], self.max_pixels).astype("uint8"))
        except InputError as exc:  # changed on disk since the scan
            raise DataError(exc.message, hint=exc.hint) from None
        except Exception as exc:  # changed on disk since the scan; Pillow raises many kinds
            raise DataError(f"cannot read {self.files[i]} or its mask: {exc}") from None
        return image, tv_tensors.Mask(mask)


class ColourMask(ValueError):
    """A mask with colour channels: its pixels are not class indices."""


def _mask_values(path: str, max_pixels: int):
    """The mask's pixel values as a numpy array [H, W]; ColourMask for a mask with colour channels."""
    import numpy as np
    with open_image(path, max_pixels) as img:
        if img.mode not in MASK_MODES:
            raise ColourMask(f"mask {path} has mode {img.mode} ({len(img.getbands())} channels); a mask holds one "
                             f"class index per pixel (a single-channel PNG, mode L or P)")
        return np.asarray(img)


def _stems(folder: str, what: str, loc: Loc) -> dict:
    """{file stem: path} of the images in a folder (no subfolders); two files of one stem are refused."""
    found = {}
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        if name.startswith(".") or not name.lower().endswith(IMAGE_EXTENSIONS) or not os.path.isfile(path):
            continue
        stem = os.path.splitext(name)[0]
        if stem in found:
            raise DataError(f"{what} folder {folder} holds two files named {stem} ({os.path.basename(found[stem])} "
                            f"and {name}); each image and its mask are paired by file stem", loc)
        found[stem] = path
    if not found:
        raise DataError(f"{what} folder {folder} holds no images", loc,
                        hint="the images lie in the folder itself, not in subfolders")
    return found


def pair_masks(images: str, masks: str, loc: Loc) -> list:
    """(image path, mask path) per image, paired by file stem; an image or a mask without its partner is an
    error naming it and the nearest stems of the other folder."""
    image_files, mask_files = _stems(images, "image", loc), _stems(masks, "mask", loc)
    for stem, path in image_files.items():
        if stem not in mask_files:
            raise DataError(f"image {path} has no mask in {masks} (looked for {stem}.png or another image file "
                            f"named {stem})." + _nearest(stem, mask_files, "mask"), loc,
                            hint="every image needs a mask of the same file stem; remove the image or add its mask")
    extra = sorted(set(mask_files) - set(image_files))
    if extra:
        raise DataError(f"mask {mask_files[extra[0]]} has no image in {images}"
                        + (f" ({len(extra)} masks without images)" if len(extra) > 1 else "") + "."
                        + _nearest(extra[0], image_files, "image"), loc,
                        hint="remove the mask or add its image: a mask without an image would be silently ignored")
    return [(image_files[s], mask_files[s]) for s in sorted(image_files)]


def _nearest(stem: str, stems: dict, what: str) -> str:
    """' Did you mean ...?' among the other folder's stems: the close spellings, else the stems sharing the
    longest start with `stem` (s2 and s2_mask are far apart as spellings)."""
    close = did_you_mean(stem, list(stems))
    if not close:
        shared = sorted(stems, key=lambda s: (-len(os.path.commonprefix([s, stem])), s))[:3]
        close = " Did you mean " + " or ".join(f"'{s}'" for s in shared) + "?"
    return f"{close} (the {what} folder holds {len(stems)} files)"


# a binary mask saved as a black-and-white picture (0 and 255), the most common way masks come
BLACK_AND_WHITE = "; it holds only 0 and 255, a black-and-white mask, where class 1 should be the value 1"
BLACK_AND_WHITE_HINT = ("save the masks with the values 0 and 1 (e.g. Image.fromarray((m > 127).astype('uint8'))), "
                        "as class indices")


def _only_black_and_white(values) -> bool:
    import numpy as np
    return bool(np.isin(values, (0, 255)).all())


def scan_masks(pairs: list, classes, loc: Loc, max_pixels: int) -> tuple:
    """(sizes, class names) after checking every pair: sizes equal, masks single-channel, values in range."""
    sizes, highest, every_black_and_white = [], 0, True
    limit = classes if isinstance(classes, int) else len(classes) if classes else MAX_CLASSES
    for image, mask in pairs:
        try:
            with open_image(image, max_pixels) as img:
                size = img.size
                img.load()  # decoded once here, so a truncated file is named now rather than mid-epoch
            values = _mask_values(mask, max_pixels)
        except InputError as exc:
            raise DataError(exc.message, loc, hint=exc.hint) from None
        except ColourMask as exc:
            raise DataError(str(exc), loc, hint="save the mask as a grayscale PNG whose pixel values are class "
                                                "indices 0, 1, 2, ...") from None
        except Exception as exc:  # Pillow raises many kinds for corrupt files
            raise DataError(f"cannot read {image} or its mask {mask}: {exc}", loc) from None
        if (values.shape[1], values.shape[0]) != size:
            raise DataError(f"mask {mask} is {values.shape[1]}x{values.shape[0]} but its image {image} is "
                            f"{size[0]}x{size[1]}; a mask gives the class of each pixel of its image", loc,
                            hint="save the mask at the image's size")
        top = int(values.max()) if values.size else 0
        black_and_white = top == 255 and _only_black_and_white(values)
        if top >= limit:
            names = f"{limit} classes" + (f" ({', '.join(classes)})" if isinstance(classes, (list, tuple)) else "")
            raise DataError(f"mask {mask} holds the value {top}, but the data has {names}, so a mask value must "
                            f"be 0 to {limit - 1}" + (BLACK_AND_WHITE if black_and_white else ""), loc,
                            hint=BLACK_AND_WHITE_HINT if black_and_white else
                            "list every class in classes=[...] (the class of value v at position v), or fix the mask")
        every_black_and_white = every_black_and_white and (top == 0 or black_and_white)
        highest = max(highest, top)
        sizes.append(size)
    if classes is None and highest == 255 and every_black_and_white:  # not 256 classes, 254 of them never seen
        raise DataError(f"the masks in {os.path.dirname(pairs[0][1])} hold only the values 0 and 255 (black-and-white "
                        f"masks), and a mask value is a class index: they would make 256 classes, 254 of them never "
                        f"seen", loc, hint=BLACK_AND_WHITE_HINT)
    if classes is None:
        names = [str(c) for c in range(max(highest + 1, 2))]
    elif isinstance(classes, int):
        names = [str(c) for c in range(classes)]
    else:
        names = list(classes)
    return sizes, names


@source("segmentation", (Arg("images", "str"), Arg("masks", "str"), Arg("classes", "any", None, _check_classes),
                         Arg("mode", "str", "RGB", choices=("RGB", "L")), Arg("max_pixels", "int", MAX_PIXELS, positive)),
        paths=("images", "masks"), input_kind="image", dense=True,
        doc="Images with a mask each (dense, per-pixel class targets): segmentation(\"shapes/images\", "
            "masks=\"shapes/masks\", classes=[\"background\", \"circle\", \"square\"], mode=RGB|L); a mask is a "
            "single-channel PNG of the image's size and file stem whose pixel values are class indices.")
def _segmentation(a: dict, loc: Loc) -> SourceData:
    images, masks = (require_path(a[key], loc, f"{key[:-1]} folder") for key in ("images", "masks"))
    cap = a["max_pixels"]
    pairs = pair_masks(images, masks, loc)
    sizes, names = scan_masks(pairs, a["classes"], loc, cap)
    data = MaskedImages([p for p, _ in pairs], [m for _, m in pairs], a["mode"], sizes, cap)
    return SourceData(data, classes=names, dense=True)
