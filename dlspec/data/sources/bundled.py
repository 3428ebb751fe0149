"""Named sources for the data sets bundled with dlspec (`dlspec/data/bundled/`): settings in, `SourceData` out.

`labelled_sentences`, `airline_passengers` and `digit_images` read the
bundled files with the `text`, `timeseries` and `image_folder` loaders, so
they behave exactly like those sources pointed at the same files (predict,
export and the checks included), with no path to get wrong and no download.
"""
from __future__ import annotations

from ...errors import DataError, Loc
from ...schema.args import Arg, positive
from ..bundled import bundled_path
from .base import SOURCES, SourceData, source

SENTENCE_PARTS = {"imdb": "imdb_labelled.txt", "amazon": "amazon_cells_labelled.txt"}


def _parts(value, loc: Loc) -> list:
    """The sentence files of the parts named (a name or a list of names)."""
    names = [value] if isinstance(value, str) else list(value or [])
    unknown = [n for n in names if n not in SENTENCE_PARTS]
    if unknown or not names:
        raise DataError(f"labelled_sentences: unknown part {', '.join(map(repr, unknown)) or '(none given)'}", loc,
                        hint=f"parts: {', '.join(SENTENCE_PARTS)}, e.g. parts=[\"imdb\", \"amazon\"]")
    return [bundled_path(f"labelled_sentences/{SENTENCE_PARTS[n]}", loc) for n in names]


@source("labelled_sentences", (Arg("parts", "any", ["imdb", "amazon"]), Arg("max_len", "int", 40, positive),
                               Arg("max_vocab", "int", 20000, positive), Arg("min_freq", "int", 1, positive)),
        input_kind="text",
        doc="Bundled UCI labelled sentences (Kotzias et al., KDD 2015; CC BY 4.0; no download): 1000 IMDb and "
            "1000 Amazon review sentences labelled 0/1. labelled_sentences(parts=[\"imdb\", \"amazon\"], "
            "max_len=40, max_vocab=20000, min_freq=1).")
def _labelled_sentences(a: dict, loc: Loc) -> SourceData:
    args = {"path": _parts(a["parts"], loc), "sep": "\t", "header": False, "text": 0, "label": 1,
            "max_len": a["max_len"], "max_vocab": a["max_vocab"], "min_freq": a["min_freq"], "encoding": "utf-8"}
    return SOURCES.lookup("text").load(args, loc)


@source("airline_passengers", (Arg("window", "int", 12, positive), Arg("horizon", "int", 1, positive),
                               Arg("step", "int", 1, positive)),
        input_kind="series",
        doc="Bundled monthly airline passengers in thousands, 1949-1960 (Box & Jenkins; public domain; no "
            "download) as a series: airline_passengers(window=12, horizon=1, step=1).")
def _airline_passengers(a: dict, loc: Loc) -> SourceData:
    args = {"path": bundled_path("airline_passengers/airline-passengers.csv", loc), "column": "Passengers",
            "window": a["window"], "horizon": a["horizon"], "step": a["step"], "encoding": "utf-8"}
    return SOURCES.lookup("timeseries").load(args, loc)


@source("digit_images", (Arg("mode", "str", "L", choices=("RGB", "L")),), input_kind="image",
        doc="Bundled folder of 300 MNIST digits, 28x28 PNG files in one folder per class (LeCun, Cortes, "
            "Burges; CC BY-SA 3.0; no download); the same files as image_folder(\"bundled:digit_images\"). "
            "digit_images(mode=L|RGB).")
def _digit_images(a: dict, loc: Loc) -> SourceData:
    return SOURCES.lookup("image_folder").load({"path": bundled_path("digit_images", loc), "mode": a["mode"]}, loc)

