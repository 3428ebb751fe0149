"""Small public data sets shipped inside the package: a name in, the path of its files out.

Like scikit-learn's `load_digits` and torchvision's data sets, these let the
shipped specs and examples run from a plain clone or a pip install, with no
download. Each folder holds the data unchanged (or as its SOURCE.txt says),
a SOURCE.txt with the citation, and a LICENSE.txt where the licence asks for one.

A path written `bundled:NAME` or `bundled:NAME/FILE` in a spec (any path
argument of a source, e.g. `image_folder("bundled:digit_images")`) means
the bundled copy, wherever dlspec is installed.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional

from ...errors import DataError, Loc, did_you_mean

HERE = os.path.dirname(os.path.abspath(__file__))
PREFIX = "bundled:"


@dataclass(frozen=True)
class Bundled:
    """One bundled data set: its folder name, what it is, and its licence."""

    name: str
    what: str
    licence: str


BUNDLED = {b.name: b for b in (
    Bundled("labelled_sentences", "UCI Sentiment Labelled Sentences, IMDb and Amazon parts (Kotzias et al., KDD "
                                  "2015): 2 x 1000 sentences labelled 0/1", "CC BY 4.0"),
    Bundled("airline_passengers", "monthly international airline passengers in thousands, 1949-1960 (Box & "
                                  "Jenkins series G): 144 values", "public domain"),
    Bundled("digit_images", "300 MNIST digits (LeCun, Cortes, Burges) as 28x28 grey-scale PNG files in one "
                            "folder per class", "CC BY-SA 3.0"),
)}


def bundled_path(name: str, loc: Optional[Loc] = None) -> str:
    """The folder (or, for NAME/FILE, the file) of a bundled data set; an unknown name is a DataError."""
    folder, _, rest = name.partition("/")
    if folder not in BUNDLED:
        raise DataError(f"no bundled data set '{folder}'." + did_you_mean(folder, BUNDLED), loc,
                        hint=f"bundled data sets: {', '.join(BUNDLED)}")
    path = os.path.join(HERE, folder, *[p for p in rest.split("/") if p])
    if not os.path.exists(path):
        raise DataError(f"bundled data set '{folder}' has no file '{rest}'", loc,
                        hint=f"its files: {', '.join(sorted(os.listdir(os.path.join(HERE, folder))))}")
    return path


def resolve_bundled(path: str, loc: Optional[Loc] = None) -> Optional[str]:
    """The real path of a `bundled:...` path written in a spec, or None for any other path."""
    if not isinstance(path, str) or not path.startswith(PREFIX):
        return None
    return bundled_path(path[len(PREFIX):], loc)
