"""A csv feeding several named inputs and targets (Ludwig style): `csv(..., inputs={...}, target=...)` in,
a `SourceData` whose samples are `(x, y)` with x a dict input name -> sample (one input: the sample) and y a
dict output name -> target (one target: the target) out.

The MODEL decides how a column is read (`ModelSide`, put on the data block by the train block that links
them, data/model_inputs.py): an `image(C, H, W)` input takes one column of image paths, read relative to
the csv's folder (every file decoded once here, so an unreadable one is named with its row); a
`tokens(T)` input one text column, tokenised as the text source does, its vocabulary built on the
training split only and padded to T; a `vector(N|auto)` input numbers and categories encoded as a
csv's features are (data/encoding.py, fitted on the training split). Each target is a class or a
number (decided as a csv target is: data/sources/tables.decide_task). Images stay Pillow images here:
data/named_pipeline.py turns them into tensors through that input's transform steps.
"""
from __future__ import annotations

import os
from collections import Counter

from ...errors import DataError, Loc, did_you_mean, warn
from ...runtime.inputs import MAX_PIXELS, InputError, open_image
from ...runtime.tables import TableEncoder, is_missing
from ..encoding import ONEHOT_LEVELS, TEXT_SHARE, column_kinds, feature_names, fit_columns, is_number
from .base import SourceData, natural, number
from .images import IMAGE_EXTENSIONS, _decoded_size
from .tables import (_check_label, _check_stray_target, column_splits, declared_categories, decide_task, read_table,
                     written_at)
from .text import PAD, UNK, encode, tokenize

IMAGE_MODES = {1: "L", 3: "RGB", 4: "RGBA"}
UNNAMED_OUTPUT = "output"  # the key of a model's one unnamed output in targets_info
READABLE = ("image", "tokens", "vector")  # the input kinds a csv column can feed


def is_named_csv(a: dict) -> bool:
    """Whether a csv call feeds named inputs or several targets (else it is the classic one-table csv)."""
    return a.get("inputs") is not None or not isinstance(a.get("target"), str)


def load_named_table(a: dict, loc: Loc) -> SourceData:
    side, path = a.get("model_side"), a["path"]
    if side is None:
        raise DataError("csv(..., inputs=...) reads each column by the kind of the model input it feeds, and this "
                        "data block is not linked to a model", written_at(a, "inputs", loc),
                        hint="link it to its model in a train block: train { model M  data D }")
    header, rows = read_table(path, a["encoding"], loc)
    feeds = input_columns(a, side, header, loc)
    targets = target_columns(a, side, header, feeds, loc)
    row_index, total = {line: i for i, (line, _) in enumerate(rows)}, len(rows)  # line -> index in the file
    rows = _drop_missing(rows, header, feeds, side, targets, a["missing"], path, loc)
    read = [c for cols in feeds.values() for c in ([cols] if isinstance(cols, str) else cols)] + list(targets.values())
    given = column_splits(header, rows, read, a, loc) if a.get("split") else None
    y, info = {}, {}
    for output, column in targets.items():
        y[output], info[output] = _target(a, header, rows, output, column, loc)
    data = NamedTable(a, side, header, rows, feeds, y, loc)
    if len(rows) < total:  # split files name rows by their index in the file, not among the kept rows
        data.source_rows, data.source_row_count = [row_index[line] for line, _ in rows], total
    several = len(targets) > 1
    first = next(iter(info.values()))
    labels = y[next(iter(y))].tolist() if not several and first["task"] == "classification" else None
    return SourceData(data, targets=labels, classes=None if several else first["classes"],
                      task="several" if several else first["task"],
                      target_column=None if several else first["column"], fit_on_train=data.fit,
                      targets_info=info, given_splits=given)


# ---- which columns feed what --------------------------------------------


def input_columns(a: dict, side, header: list, loc: Loc) -> dict:
    """input name -> its columns, checked against the model's inputs and the csv's header."""
    given, at = a.get("inputs"), written_at(a, "inputs", loc)
    names = side.names
    if given is None:
        if len(names) > 1:
            example = ", ".join(f'{n}: "..."' for n in names)
            raise DataError(f"model {side.model} has {len(names)} inputs ({', '.join(names)}): say which columns "
                            "feed each", loc, hint=f"csv(..., inputs={{{example}}})")
        others = [h for h in header if h not in _target_names(a) and h != a.get("split")]
        given = {names[0]: a.get("features") or others}
    if not isinstance(given, dict) or not given:
        raise DataError(f"csv: inputs= maps each input of the model to its columns, received {given!r}", at,
                        hint='e.g. inputs={photo: "photo", facts: ["sqm", "rooms"]}')
    for name in given:
        if name not in names:
            raise DataError(f"csv: inputs= names '{name}', which is not an input of model {side.model}."
                            + did_you_mean(name, names) + f" Its inputs: {', '.join(names)}", at)
    unfed = [n for n in names if n not in given]
    if unfed:
        raise DataError(f"csv: inputs= feeds no column to input{'s' if len(unfed) > 1 else ''} "
                        f"{', '.join(repr(n) for n in unfed)} of model {side.model}", at,
                        hint="give each input its columns: " + ", ".join(f'{n}: "..."' for n in unfed))
    feeds = {}
    for name in names:  # declaration order: the order the model takes them in
        feeds[name] = _columns_of(name, given[name], side.input(name), header, a["path"], at)
    return feeds


def _columns_of(name: str, value, declared, header: list, path: str, at: Loc) -> list:
    columns = [value] if isinstance(value, str) else value
    if not isinstance(columns, (list, tuple)) or not columns or not all(isinstance(c, str) for c in columns):
        raise DataError(f"csv: inputs= gives input '{name}' {value!r}; expected a column name or a list of them", at)
    for c in columns:
        if c not in header:
            raise DataError(f"{path} has no column '{c}' (for input '{name}')." + did_you_mean(c, header)
                            + f" Columns: {', '.join(header)}", at)
    twice = next((c for i, c in enumerate(columns) if c in columns[:i]), None)
    if twice is not None:  # it would be encoded, and weigh, twice: a slip for another column
        raise DataError(f"csv: inputs= gives input '{name}' the column '{twice}' twice", at,
                        hint="list each column once")
    if declared.kind not in READABLE:
        raise DataError(f"csv cannot feed input '{name}': it is {declared.kind}(...), and a csv column feeds an "
                        "image, tokens or vector input", at, hint=f"declare it at line {declared.loc.line} as one "
                                                                  "of image(C, H, W), tokens(T), vector(N|auto)")
    if declared.kind in ("image", "tokens") and not declared.sizes:
        raise DataError(f"input '{name}' must write its sizes for a csv to read it into them, e.g. "
                        + ("image(3, 64, 64)" if declared.kind == "image" else "tokens(40)"), declared.loc)
    if declared.kind != "vector" and len(columns) != 1:
        what = "image paths" if declared.kind == "image" else "text"
        raise DataError(f"csv: input '{name}' is {declared.kind}(...), which reads one column of {what}; "
                        f"inputs= gives it {len(columns)}", at, hint=f'give one column: {name}: "{columns[0]}"')
    return list(columns)


def _target_names(a: dict) -> list:
    t = a.get("target")
    return [t] if isinstance(t, str) else list(t.values()) if isinstance(t, dict) else list(t or [])


def target_columns(a: dict, side, header: list, feeds: dict, loc: Loc) -> dict:
    """output name -> target column (one unnamed output: the key UNNAMED_OUTPUT), checked against the model's outputs."""
    given, at, outputs = a["target"], written_at(a, "target", loc), list(side.outputs)
    if isinstance(given, str):
        if len(outputs) > 1:
            example = ", ".join(f'{o}: "..."' for o in outputs)
            raise DataError(f"model {side.model} has {len(outputs)} outputs ({', '.join(outputs)}): name a target "
                            "column for each", at, hint=f"target={{{example}}}, or a list of columns named like "
                                                        "the outputs")
        mapping = {outputs[0] if outputs else UNNAMED_OUTPUT: given}
    else:
        if not outputs:
            raise DataError(f"model {side.model} has one output, so target= takes one column, received {given!r}",
                            at, hint='e.g. target="price"; several targets need `output NAME = ...` lines')
        mapping = dict(given) if isinstance(given, dict) else {c: c for c in given}
        for output in mapping:
            if output not in outputs:
                what = "column" if not isinstance(given, dict) else "name"
                raise DataError(f"csv: target= {what} '{output}' is not an output of model {side.model}."
                                + did_you_mean(str(output), outputs) + f" Its outputs: {', '.join(outputs)}", at,
                                hint='map outputs to columns: target={price: "price_usd"}')
        missing = [o for o in outputs if o not in mapping]
        if missing:
            raise DataError(f"csv: target= gives no column for output{'s' if len(missing) > 1 else ''} "
                            f"{', '.join(repr(o) for o in missing)} of model {side.model}", at)
    fed = {c: n for n, cs in feeds.items() for c in cs}
    for output, column in mapping.items():
        if not isinstance(column, str):
            raise DataError(f"csv: target= gives output '{output}' {column!r}; expected a column name", at)
        if column not in header:
            raise DataError(f"{a['path']} has no column '{column}'." + did_you_mean(column, header)
                            + f" Columns: {', '.join(header)}", at)
        if column in fed:
            raise DataError(f"csv: column '{column}' is both a target and fed to input '{fed[column]}': the model "
                            "would be given the answer it is to predict", at)
    return mapping


def _drop_missing(rows, header, feeds, side, targets, missing, path, loc) -> list:
    """missing=drop: rows with a missing vector cell or target go; a filling policy drops rows whose target is
    missing (targets are never guessed)."""
    if missing == "error":
        return rows
    check = [header.index(c) for c in targets.values()]
    if missing == "drop":
        check += [header.index(c) for n, cs in feeds.items() if side.input(n).kind == "vector" for c in cs]
    kept = [(line, r) for line, r in rows if not any(is_missing(r[i]) for i in check)]
    if len(kept) < len(rows):
        warn(f"{path}: {len(rows) - len(kept)} of {len(rows)} rows with a missing cell left out", loc)
    if not kept:
        raise DataError(f"{path}: no row is left after leaving out rows with missing cells", loc)
    return kept


# ---- targets ------------------------------------------------------------


def _target(a: dict, header: list, rows: list, output, column: str, loc: Loc) -> tuple:
    """(the target tensor, {"column", "task", "classes"}) of one target column."""
    import torch
    path, t = a["path"], header.index(column)
    raw = [row[t].strip() for _, row in rows]
    loss_task = a.get("loss_task")
    if isinstance(loss_task, dict):
        loss_task = loss_task.get(output)
    if a["task"] != "classification":
        _check_stray_target(header, column, rows, raw, path, loc)
    task = decide_task(raw, a["task"], loss_task)
    where = f"'{column}' (column {t + 1})"
    if task == "classification":
        for (line, _), value in zip(rows, raw):
            _check_label(value, path, line, where, loc)
        classes = sorted(set(raw), key=lambda v: (natural(v), v))
        if len(classes) < 2:
            raise DataError(f"{path}: target column '{column}' holds one class ('{classes[0]}') in all {len(raw)} "
                            "rows; a classifier needs two or more", written_at(a, "target", loc))
        index = {c: i for i, c in enumerate(classes)}
        return torch.tensor([index[v] for v in raw], dtype=torch.long), \
            {"column": column, "task": task, "classes": classes}
    values = [number(v, path, line, where, loc) for (line, _), v in zip(rows, raw)]
    return torch.tensor(values, dtype=torch.float32), {"column": column, "task": task, "classes": None}


# ---- the samples --------------------------------------------------------


class NamedTable:
    """The rows of a csv as named samples. Image columns are checked and decoded once at load; token and
    vector columns are encoded once the training split is known (`fit`), since vocabularies, category
    levels and fill values come from the training rows only."""

    def __init__(self, a: dict, side, header: list, rows: list, feeds: dict, y: dict, loc: Loc):
        self.a, self.side, self.header, self.rows, self.feeds, self.loc = a, side, header, rows, feeds, loc
        self.y = y  # output name -> tensor over rows
        self.kinds = {n: side.input(n).kind for n in feeds}
        self.mode: dict = {}  # image input -> Pillow mode (from its declared channels)
        self.sizes: dict = {}  # image input -> {(width, height): the first file of that size}
        self.images = {n: self._image_paths(n, cs[0]) for n, cs in feeds.items() if self.kinds[n] == "image"}
        self.tokens = {n: [tokenize(r[header.index(cs[0])]) for _, r in rows]
                       for n, cs in feeds.items() if self.kinds[n] == "tokens"}
        self.vectors = [n for n in feeds if self.kinds[n] == "vector"]
        for n in self.vectors:
            self._refuse_text(n)
        every = [c for n in self.vectors for c in feeds[n]]
        self.declared = declared_categories(a, every, loc) if every else ()
        self.encoded: dict = {}
        self.info: dict = {}
        self.data = self

    def _image_paths(self, name: str, column: str) -> list:
        """The image file of every row, relative to the csv's folder, each decoded once (a missing or
        unreadable file is named with its line)."""
        folder, i, path = os.path.dirname(os.path.abspath(self.a["path"])), self.header.index(column), self.a["path"]
        mode = IMAGE_MODES.get((self.side.input(name).sizes or (3,))[0], "RGB")
        files, sizes = [], {}  # (width, height) -> the first file of that size
        for line, row in self.rows:
            where = f"{path}, line {line}, column '{column}'"
            cell = row[i].strip()
            if is_missing(cell):
                raise DataError(f"{where}: no image path for input '{name}'", self.loc,
                                hint="fill in the path or remove the row (missing= does not guess images)")
            file = os.path.join(folder, cell)
            if not os.path.exists(file):
                raise DataError(f"{where}: image file not found: {file}", self.loc,
                                hint="image paths are read relative to the csv file's folder")
            try:
                size = _decoded_size(file, MAX_PIXELS)
            except InputError as exc:
                raise DataError(f"{where}: {exc.message}", self.loc, hint=exc.hint) from None
            if size is None:
                raise DataError(f"{where}: {file} cannot be read as an image", self.loc,
                                hint="replace the file or remove the row")
            files.append(file)
            sizes.setdefault(size, file)
        self.mode[name], self.sizes[name] = mode, sizes
        return files

    def _refuse_text(self, name: str) -> None:
        """A vector input reads numbers and categories: a column of free text or image paths fed to it is a
        mistake of inputs=, named with the input that would read it."""
        for column in self.feeds[name]:
            i = self.header.index(column)
            cells = [r[i].strip() for _, r in self.rows if not is_missing(r[i])]
            if cells and all(c.lower().endswith(IMAGE_EXTENSIONS) for c in cells):
                raise DataError(f"csv: column '{column}' holds image paths, and input '{name}' is a vector",
                                written_at(self.a, "inputs", self.loc),
                                hint="feed it to an image(C, H, W) input of the model")
            if all(is_number(c) for c in cells):
                continue
            levels = Counter(cells)
            words = sum(len(c.split()) for c in cells) / max(1, len(cells))
            if len(levels) > 1 and (words >= 3 or len(levels) > ONEHOT_LEVELS and len(levels) > TEXT_SHARE * len(cells)):
                raise DataError(f"csv: column '{column}' holds free text ({len(levels)} different values of several "
                                f"words), and input '{name}' is a vector, which reads numbers and categories",
                                written_at(self.a, "inputs", self.loc),
                                hint="feed it to a tokens(T) input of the model, or leave it out")

    def fit(self, train_indices: list, saved=None) -> None:
        """Encode token and vector columns by what `train_indices` hold, or by a run's saved `inputs` record."""
        import torch
        kept = (saved.inputs or {}) if saved is not None and getattr(saved, "inputs", None) else {}
        path, header = self.a["path"], self.header
        for name in self.feeds:
            kind, columns = self.kinds[name], self.feeds[name]
            if kind == "image":
                self.info[name] = {"kind": "image", "columns": columns, "mode": self.mode[name]}
            elif kind == "tokens":
                itos = kept.get(name, {}).get("vocab") or _vocabulary(self.tokens[name], train_indices)
                steps = self.side.input(name).sizes[0]
                self.encoded[name] = encode(self.tokens[name], itos, steps)
                self.info[name] = {"kind": "tokens", "columns": columns, "vocab": itos, "max_len": steps}
            else:
                table = kept.get(name, {}).get("table")
                encoding = table["columns"] if table else self._fit_vector(name, train_indices)
                encoder, at = TableEncoder(encoding), [header.index(c) for c in columns]
                try:
                    rows = [encoder.encode([row[i] for i in at], lambda c, line=line: f"{path}, line {line}, "
                                           f"column '{c}'") for line, row in self.rows]
                except InputError as exc:
                    raise DataError(exc.message, self.loc, hint=exc.hint) from None
                self.encoded[name] = torch.tensor(rows, dtype=torch.float32).reshape(len(rows), encoder.width)
                self.info[name] = {"kind": "vector", "columns": columns,
                                   "table": {"columns": encoding, "encoding": self.a["encoding"],
                                             "missing": self.a["missing"], "feature_names": feature_names(encoding)}}

    def _fit_vector(self, name: str, train_indices: list) -> list:
        columns = self.feeds[name]
        declared = tuple(c for c in self.declared if c in columns)
        kinds = column_kinds(self.header, self.rows, columns, declared, self.a["path"], self.loc)
        return fit_columns(self.header, self.rows, columns, kinds, train_indices, self.a["missing"], self.a["path"],
                           self.loc, self.a["onehot_max"], self.a["embedding_dim"])

    def sample_x(self, i: int):
        x = {}
        for name in self.feeds:
            if name in self.images:
                with open_image(self.images[name][i], MAX_PIXELS) as img:
                    x[name] = img.convert(self.mode[name])
            else:
                x[name] = self.encoded[name][i]
        return x if len(x) > 1 else next(iter(x.values()))

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, i):
        y = {k: v[i] for k, v in self.y.items()}
        return self.sample_x(i), (y if len(y) > 1 else next(iter(y.values())))


def _vocabulary(token_lists: list, train_indices: list) -> list:
    """id -> token, built on the training rows only (0 pads, 1 is unknown), most frequent first."""
    counts = Counter(t for i in train_indices for t in token_lists[i])
    return [PAD, UNK] + sorted(counts, key=lambda w: (-counts[w], w))
