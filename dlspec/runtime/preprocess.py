"""Predicting from raw inputs: a model, the run's `meta` (plain JSON data) and inputs in, answers out.

`meta` holds everything between a file and the model: the kind of input, class
names, the vocabulary and tokenizer rule, a table's column encoding (levels,
fill values) and feature statistics, the image mode, transform and
normalisation, a series' window and tail. `dlspec predict` and the predict.py
that `dlspec export --format python` writes both run this file, so they give
the same answers (runtime/answers.py words them). Imports only torch (torchvision and Pillow, which
torchvision installs, for images) and the standard library: export copies it
whole.
"""
import os
import re

import torch

from .inputs import (MAX_PIXELS, FolderFile, InputError, Sentence, TooManyPixels, expand_inputs, not_utf8,
                     open_image, skip, skip_or_raise)
from .answers import predict_batch
from .tables import TableEncoder, finite, read_csv

def table_rows(path, meta):
    """(names, feature tensors) of the rows of a CSV given to predict, encoded like the training table."""
    table = meta["table"]
    columns = [c["name"] for c in table["columns"]]
    header, rows = read_csv(path, table.get("encoding", "utf-8"))
    absent = [c for c in columns if c not in header]
    if absent:
        raise InputError(f"{path} has no column {', '.join(absent)}; the model was trained on columns "
                         f"{', '.join(columns)} (header of {path}: {', '.join(header) or 'none'})",
                         "give a CSV whose header names those columns (extra columns are ignored)")
    encoder, at = TableEncoder(table["columns"]), [header.index(c) for c in columns]
    names, samples = [], []
    for line, cells in rows:
        if len(cells) != len(header):
            raise InputError(f"{path}, line {line}: {len(cells)} values where the header has {len(header)}")
        values = encoder.encode([cells[i] for i in at], lambda name: f"{path}, line {line}, column '{name}'")
        samples.append(standardize(torch.tensor(values, dtype=torch.float32), meta.get("normalize")))
        names.append(f"{path}:{line}")
    if encoder.unseen:  # not an error (as in training, an unseen level reads as none), but worth a word
        import warnings
        listed = "; ".join(f"{name}: {', '.join(sorted(levels)[:5])}" + (" ..." if len(levels) > 5 else "")
                           for name, levels in encoder.unseen.items())
        warnings.warn(UnseenLevels(f"{path}: levels the training rows never had, read as no level (an all-zero "
                                   f"one-hot, a zero embedding): {listed}"))
    return names, samples


class UnseenLevels(UserWarning):
    """Rows given to predict hold category levels the model never saw in training."""


def standardize(x, stats):
    """(x - mean) / std with one statistic per channel (the first dim), as training applied it."""
    if not stats:
        return x
    mean = torch.as_tensor(stats["mean"], dtype=torch.float32)
    std = torch.as_tensor(stats["std"], dtype=torch.float32)
    shape = (-1,) + (1,) * (x.dim() - 1) if x.dim() > 1 else (-1,)
    return (x - mean.view(shape)) / std.view(shape)


# ---- images -----------------------------------------------------------------


def _steps():
    from torchvision.transforms import v2
    size = lambda v: list(v) if isinstance(v, (tuple, list)) else v  # noqa: E731
    return {"resize": lambda a: v2.Resize(size(a["size"]), antialias=True),
            "center_crop": lambda a: v2.CenterCrop(size(a["size"])),
            "grayscale": lambda a: v2.Grayscale(num_output_channels=a.get("channels", 1))}


def load_image(path, meta):
    """An image file as the model's input: decoded in the run's mode, transformed, normalised, sized."""
    from torchvision.transforms import v2
    image_meta = meta["image"]
    try:
        with open_image(path, image_meta.get("max_pixels", MAX_PIXELS)) as img:
            image = img.convert(image_meta["mode"])
    except TooManyPixels as exc:
        raise TooManyPixels(exc.message, "shrink the image, or raise the cap: --max-pixels N (dlspec predict, or "
                                         "an export's predict.py)") from None
    except InputError:
        raise
    except Exception as exc:  # Pillow raises many kinds for corrupt files (OSError, SyntaxError, ValueError, ...)
        raise InputError(f"cannot read image {path}: {exc}") from None
    steps, known = [v2.ToImage(), v2.ToDtype(torch.float32, scale=True)], _steps()
    for name, args in image_meta.get("steps", []):
        if name not in known:
            raise InputError(f"the transform step {name} cannot be applied to a single image for prediction",
                             "predict applies resize, center_crop, grayscale and normalize")
        steps.append(known[name](args))
    x = standardize(v2.Compose(steps)(image), meta.get("normalize"))
    return fit_to_shape(x, meta["input_shape"])


class Resized(UserWarning):
    """An image given to predict is not the model's input shape: it is resized (its channels averaged)."""


def fit_to_shape(x, shape):
    """An image of another size resized (and its channels averaged) to the model's input shape, and said once
    per shape met (the warning names no file: a folder of photos gives one line, not one per photo)."""
    want = tuple(shape)
    if tuple(x.shape) != want and len(want) == 3:
        import warnings
        channels = f", its {x.shape[0]} channels averaged to {want[0]}" if x.shape[0] != want[0] else ""
        warnings.warn(Resized(f"images of shape {list(x.shape)} (channels, height, width, after the run's transform "
                              f"steps) are resized to the model's input {list(want)}{channels}"))
        x = torch.nn.functional.interpolate(x.unsqueeze(0), size=want[1:], mode="bilinear",
                                            antialias=True, align_corners=False)[0]
        if x.shape[0] != want[0]:
            x = x.mean(0, keepdim=True).expand(want[0], -1, -1)
    if tuple(x.shape) != want:
        raise InputError(f"input of shape {list(x.shape)} does not fit the model's {list(want)}")
    return x


# ---- text -------------------------------------------------------------------


def sentences(items):
    """(names, sentences): typed sentences, and the non-blank lines of text files. A file found in a
    folder or by a glob that cannot be read (not UTF-8, unreadable) is skipped with a warning; one
    named on its own is an error."""
    names, texts = [], []
    for item in items:
        if isinstance(item, Sentence):
            names.append(str(item))
            texts.append(str(item))
            continue
        try:
            lines = text_lines(item)
            if not lines:
                raise InputError(f"{item} holds no line of text (it is empty or blank)",
                                 "give a .txt file with a sentence a line")
        except InputError as exc:
            skip_or_raise(item, exc)
            continue
        for number, line in lines:
            names.append(f"{item}:{number}")
            texts.append(line)
    return names, texts


def text_lines(path):
    """[(line number, line)] of the non-blank lines of a UTF-8 text file (a BOM is dropped)."""
    try:
        with open(path, "rb") as f:  # bytes, so a decoding error's offset counts from the file's start
            data = f.read()
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise not_utf8(path, exc) from None
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    return [(number, line.rstrip("\r")) for number, line in enumerate(text.split("\n"), 1) if line.strip()]


def token_ids(texts, meta):
    """Sentences as padded token ids: the run's tokenizer rule and vocabulary (0 pads, 1 is unknown)."""
    text = meta["text"]
    pattern, stoi = re.compile(text["pattern"]), {w: i for i, w in enumerate(text["vocab"])}
    ids = torch.zeros(len(texts), text["max_len"], dtype=torch.long)
    for row, sentence in enumerate(texts):
        words = pattern.findall(sentence.lower() if text.get("lower", True) else sentence)
        seq = [stoi.get(w, text.get("unk", 1)) for w in words[: text["max_len"]]]
        if seq:
            ids[row, : len(seq)] = torch.tensor(seq)
    return ids


# ---- series -----------------------------------------------------------------


def series_values(path, meta):
    """The values of a CSV column to forecast from (the column the run was trained on)."""
    header, rows = read_csv(path, meta["series"].get("encoding", "utf-8"))
    column = meta["series"].get("column")
    if column is None:
        col = len(header) - 1
    elif isinstance(column, int):
        col = column
    elif column in header:
        col = header.index(column)
    else:
        raise InputError(f"{path} has no column '{column}' (header: {', '.join(header)})")
    name = header[col] if col < len(header) else str(col)
    values = []
    for line, cells in rows:
        if col >= len(cells):
            raise InputError(f"{path}, line {line}: {len(cells)} values, no column {col + 1} ('{name}')")
        values.append(finite(cells[col].strip(), f"{path}, line {line}, column '{name}'"))
    return values


def forecast(model, history, meta, steps, device="cpu", source=None):
    """The next `steps` values after `history` (read from the file `source`, or the training series'
    tail), fed back window by window (model in the data's units)."""
    window = meta["series"]["window"]
    if len(history) < window:
        where = f"{source} has {len(history)} values" if source else f"got {len(history)}"
        raise InputError(f"the series needs at least {window} values to forecast from; {where}",
                         f"give a CSV with at least {window} rows" if source else "")
    values, out = [float(v) for v in history[-window:]], []
    with torch.no_grad():
        while len(out) < steps:
            x = torch.tensor(values[-window:], dtype=torch.float32).view(1, -1, 1).to(device)
            predicted = model(x).float().cpu().flatten().tolist()
            values.extend(predicted)
            out.extend(predicted)
    return [{"input": f"t+{i + 1}", "prediction": v} for i, v in enumerate(out[:steps])]


# ---- rows of several inputs -------------------------------------------------


def named_rows(path, meta, confined=False):
    """(names, samples) of a CSV's rows for a run whose data read named columns (a csv with inputs= or several
    targets): each sample a dict input name -> tensor (one input: its tensor), each input read as
    meta["inputs_encoding"] recorded it: image paths relative to the CSV's folder, text through the run's
    vocabulary, numbers and categories through its column encoding; then each input's normalisation.
    `confined`: an image path may not leave the CSV's folder (a server reads no file a request names)."""
    encoding = meta.get("inputs_encoding")
    if not encoding:
        raise InputError(f"{path}: this run's model takes several inputs ({', '.join(meta['inputs'])}) and its "
                         "data recorded no way to read them from CSV rows",
                         "call the model from Python with a dict of tensors, one per input")
    header, rows = read_csv(path, next(iter(encoding.values())).get("encoding", "utf-8"))
    wanted = [(name, c) for name, info in encoding.items() for c in info["columns"]]
    absent = [f"'{c}' (for input '{name}')" for name, c in wanted if c not in header]
    if absent:
        raise InputError(f"{path} has no column {', '.join(absent)}; the model reads columns "
                         f"{', '.join(c for _, c in wanted)} (header of {path}: {', '.join(header) or 'none'})",
                         "give a CSV whose header names those columns (extra columns, targets among them, are "
                         "ignored)")
    folder = os.path.dirname(os.path.abspath(path))
    readers = {name: _cell_reader(info, folder, confined) for name, info in encoding.items()}
    names, samples = [], []
    for line, cells in rows:
        if len(cells) != len(header):
            raise InputError(f"{path}, line {line}: {len(cells)} values where the header has {len(header)}")
        sample = {name: read([cells[header.index(c)] for c in encoding[name]["columns"]],
                             lambda c, line=line: f"{path}, line {line}, column '{c}'")
                  for name, read in readers.items()}
        samples.append(sample if len(sample) > 1 else next(iter(sample.values())))
        names.append(f"{path}:{line}")
    _warn_unseen(path, [getattr(read, "encoder", None) for read in readers.values()])
    return names, samples


def _warn_unseen(path, encoders):
    """Category levels the training rows never had: not an error (as in training, an unseen level reads as
    none), but worth a word."""
    unseen = {name: levels for e in encoders if e is not None for name, levels in e.unseen.items()}
    if unseen:
        import warnings
        listed = "; ".join(f"{name}: {', '.join(sorted(levels)[:5])}" + (" ..." if len(levels) > 5 else "")
                           for name, levels in unseen.items())
        warnings.warn(UnseenLevels(f"{path}: levels the training rows never had, read as no level (an all-zero "
                                   f"one-hot, a zero embedding): {listed}"))


def _cell_reader(info, folder, confined=False):
    """fn(cells, where) -> the tensor of one input from its columns' cells in a row (`where(column)` names the
    cell for errors); `confined`: image paths must stay inside `folder`."""
    column = info["columns"][0]
    if info["kind"] == "image":
        def read_image(cells, where):
            file = os.path.join(folder, cells[0].strip())
            if confined and not _inside(file, folder):
                raise InputError(f"{where(column)}: the image path '{cells[0].strip()[:100]}' leaves the rows' "
                                 "folder; a server reads no file a request names",
                                 "send the images with the rows (as files of the same request) and name them "
                                 "by file name")
            if not cells[0].strip() or not os.path.isfile(file):
                raise InputError(f"{where(column)}: image file not found: {file}",
                                 "image paths are read relative to the CSV file's folder")
            try:
                return load_image(file, {"image": info["image"], "normalize": info.get("normalize"),
                                         "input_shape": info["shape"]})
            except InputError as exc:
                raise InputError(f"{where(column)}: {exc.message}", exc.hint) from None
        return read_image
    if info["kind"] == "tokens":
        return lambda cells, where: token_ids([cells[0]], {"text": info["text"]})[0]
    encoder = TableEncoder(info["table"]["columns"])

    def read_vector(cells, where):
        values = encoder.encode(cells, where)
        return standardize(torch.tensor(values, dtype=torch.float32), info.get("normalize"))
    read_vector.encoder = encoder  # its unseen levels are reported once the rows are read
    return read_vector


def _inside(file, folder) -> bool:
    """Whether `file` resolves (links followed) inside `folder`."""
    root = os.path.realpath(folder)
    return os.path.commonpath([root, os.path.realpath(file)]) == root


def run_predictions(model, meta, inputs, top=1, steps=1, batch=64, device="cpu"):
    """Answers for `inputs` (files, folders, globs; sentences for a text run; for a series, nothing or a
    CSV to continue), predicted `batch` at a time; a forecast of `steps` values for a series."""
    kind = meta["kind"]
    if kind == "series":
        files = expand_inputs(inputs, "series")
        if not files:
            return forecast(model, meta["series"]["tail"], meta, steps, device)
        source, history = _series_history(files, meta)
        return forecast(model, history, meta, steps, device, source)
    items = expand_inputs(inputs, kind)
    if not items:
        raise InputError("give at least one input: " + {"text": 'a sentence, e.g. "a great film", or .txt files',
                                                         "table": "CSV files of feature rows"}.get(
            kind, "image files, folders or globs (or CSV files of feature rows)"))
    names, samples = _samples(items, meta)
    if not samples:  # every file found in a folder or by a glob was skipped
        raise InputError(f"no input could be read: all {len(items)} were skipped (the warnings say why)")
    answers = []
    with torch.no_grad():
        for start in range(0, len(samples), batch):
            chunk, chunk_names = samples[start:start + batch], names[start:start + batch]
            if kind == "text":
                x = token_ids(chunk, meta)
            else:
                chunk_names, tensors = _read_batch(chunk_names, chunk, meta)
                if not tensors:
                    continue
                x = {k: torch.stack([t[k] for t in tensors]) for k in tensors[0]} if isinstance(tensors[0], dict) \
                    else torch.stack(tensors)
            answers.extend(predict_batch(model, x, chunk_names, meta, top, device))
    if not answers:
        raise InputError(f"no input could be read: all {len(samples)} were skipped (the warnings say why)")
    return answers


def _series_history(files, meta):
    """(file, values) of the first file that reads; a file found in a folder or by a glob that does not
    (or holds too few values) is skipped with a warning, one named on its own is an error."""
    window = meta["series"]["window"]
    for path in files:
        try:
            values = series_values(path, meta)
            if len(values) >= window or not isinstance(path, FolderFile):
                return path, values  # a named file too short: forecast says so, naming it
        except InputError as exc:
            skip_or_raise(path, exc)
            continue
        skip(f"{path} has {len(values)} values; the series needs at least {window}")
    raise InputError(f"no input could be read: all {len(files)} were skipped (the warnings say why)")


def _read_batch(names, samples, meta):
    """(names, tensors) of one batch: encoded rows as they are, image paths read; an image found in a
    folder or by a glob that cannot be read (corrupt, or past the pixel cap) is skipped with a warning,
    so one bad file does not stop the others; an image named on its own is an error."""
    kept_names, tensors = [], []
    for name, sample in zip(names, samples):
        if isinstance(sample, str):
            try:
                sample = load_image(sample, meta)
            except InputError as exc:
                skip_or_raise(sample, exc)
                continue
        kept_names.append(name)
        tensors.append(sample)
    return kept_names, tensors


def _samples(items, meta):
    """(names, samples): sentences for text; encoded rows for CSV files; image paths (read per batch)."""
    if meta["kind"] == "text":
        return sentences(items)
    names, samples = [], []
    named = meta.get("inputs_encoding") or len(meta.get("inputs") or ()) > 1  # rows by the training csv's columns
    for item in items:
        if item.lower().endswith(".csv"):
            if not named and "table" not in meta:
                raise InputError(f"{item}: this run was not trained on a table; give image files")
            try:
                more_names, more = (named_rows if named else table_rows)(item, meta)
            except InputError as exc:  # a bad CSV found in a folder or by a glob: the others still answered
                skip_or_raise(item, exc)
                continue
            names.extend(more_names)
            samples.extend(more)
        elif "image" not in meta:
            raise InputError(f"{item}: this run was trained on a table; give CSV files of feature rows")
        else:
            names.append(item)
            samples.append(item)
    return names, samples
