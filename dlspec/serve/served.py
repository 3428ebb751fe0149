"""A run ready to answer requests: a run directory in, encoded samples and answers out.

Request bodies (uploaded files, texts, table rows, a CSV body, a series) are written to a private
temporary folder and read by runtime/preprocess.py's own readers, the ones `dlspec predict` calls,
so a served answer is the CLI's answer. Errors are `BadInput` (one line and a hint), worded as the
CLI words them, with the temporary paths replaced by what the client sent.
"""
from __future__ import annotations

import csv
import io
import json
import os
import tempfile
import warnings
from typing import Optional

from ..errors import DlspecError
from ..runtime.inputs import IMAGE_FILES, InputError, TooManyPixels


class BadInput(DlspecError):
    """A request the run cannot answer: the client's mistake (a 4xx: `status`), never the server's."""

    def __init__(self, message: str, hint: str = "", status: int = 400):
        super().__init__(message, hint=hint)
        self.status = status


class ServedRun:
    """A loaded run (runs/loaded.py) with its meta (runs/meta.py) and model in the data's units."""

    def __init__(self, run_dir: str, checkpoint: Optional[str] = None, trust: bool = False, device: str = "cpu",
                 max_pixels: Optional[int] = None):
        from ..runs.predict import ready_run, units_model
        self.run_dir = run_dir
        self.run, self.meta = ready_run(run_dir, device, trust, checkpoint, max_pixels)  # as predict loads it
        self.model = units_model(self.run)
        self.kind = self.meta["kind"]

    # ---- requests in, samples out -------------------------------------------------------------

    def image_samples(self, files: list) -> tuple:
        """(names, tensors, notes) of uploaded files [(filename, bytes)]: images, or CSV files of rows for a
        run that reads both. Any file that cannot be read is an error naming it."""
        if not files:
            raise BadInput("give at least one file: upload images as multipart/form-data field 'file'")
        names, samples, notes = [], [], []
        shown_names = [_shown_name(filename, index) for index, (filename, _) in enumerate(files)]
        beside = self._image_columns() and any(n.lower().endswith(".csv") for n in shown_names)
        with tempfile.TemporaryDirectory(prefix="dlspec-serve-") as folder:
            if beside:  # rows naming image files, sent with them: the images kept by name beside the rows
                files = _write_beside(folder, files, shown_names)
            for index, (filename, data) in enumerate(files):
                shown = _shown_name(filename, index)
                is_csv = shown.lower().endswith(".csv")
                path = os.path.join(folder, f"{index}{'.csv' if is_csv else _image_suffix(shown)}")
                with open(path, "wb") as f:
                    f.write(data)
                with _renamed(path, shown):
                    if is_csv:
                        more_names, more, more_notes = self._rows_of(path, shown)
                        names.extend(more_names)
                        samples.extend(more)
                        notes.extend(more_notes)
                        continue
                    if "image" not in self.meta and self.kind == "table":
                        raise BadInput(f"{shown}: this run was trained on a table; give CSV rows",
                                       hint=ROWS_WITH_IMAGES if self._image_columns() else
                                       "POST JSON {\"rows\": [{column: value, ...}]} or a text/csv body")
                    if "image" not in self.meta:
                        raise BadInput(f"{shown}: this run reads {self.kind} inputs, not image files",
                                       hint=self.usage())
                    samples.append(self._image(path, notes))
                    names.append(shown)
        return names, samples, notes

    def _image(self, path: str, notes: list):
        """An uploaded image as predict reads it; a resize predict would warn about becomes a note (once)."""
        from ..runtime.preprocess import Resized, load_image
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", Resized)
            sample = load_image(path, self.meta)
        notes.extend(n for n in {str(w.message) for w in caught if issubclass(w.category, Resized)} if n not in notes)
        return sample

    def _image_columns(self) -> bool:
        """Whether the run's rows name image files (a csv source with an image input)."""
        return any(info.get("kind") == "image" for info in (self.meta.get("inputs_encoding") or {}).values())

    def text_samples(self, texts: list) -> tuple:
        """(names, token id rows, notes) of sentences, tokenised by the run's rule and vocabulary."""
        from ..runtime.preprocess import token_ids
        if self.kind != "text":
            raise BadInput(f"this run reads {self.kind} inputs, not texts", hint=self.usage())
        if not texts or not all(isinstance(t, str) for t in texts):
            raise BadInput("give a text or a list of texts: JSON {\"text\": \"a great film\"} or "
                           "{\"texts\": [\"...\", ...]}")
        return list(texts), list(token_ids(texts, self.meta)), []

    def row_samples(self, rows: list) -> tuple:
        """(names, feature tensors, notes) of JSON rows {column: value}: written as CSV, read as predict reads one."""
        if not rows or not all(isinstance(r, dict) for r in rows):
            raise BadInput("give table rows as JSON objects by column name: {\"rows\": [{\"column\": value, ...}]}",
                           hint=self.usage())
        columns = list(dict.fromkeys(k for r in rows for k in r))
        if not columns:  # else read as a CSV with an empty header: "rows is empty", which {"row": {}} is not
            raise BadInput("the rows name no columns: give each row as {\"column\": value, ...}", hint=self.usage())
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow(["" if row.get(c) is None else _cell(row.get(c), c) for c in columns])
        names, samples, notes = self.csv_samples(text.getvalue().encode(), "rows")
        return [f"row {i + 1}" for i in range(len(names))], samples, notes

    def csv_samples(self, body: bytes, shown: str = "body.csv") -> tuple:
        """(names, feature tensors, notes) of a CSV body: a header naming the run's columns, then rows."""
        with tempfile.TemporaryDirectory(prefix="dlspec-serve-") as folder:
            path = os.path.join(folder, "body.csv")
            with open(path, "wb") as f:
                f.write(body)
            with _renamed(path, shown):
                return self._rows_of(path, shown)

    def _rows_of(self, path: str, shown: str) -> tuple:
        """(names, samples, notes): a CSV file's rows; notes are the warnings predict would print (unseen levels)."""
        from ..runtime.preprocess import UnseenLevels, named_rows, table_rows
        several = bool(self.meta.get("inputs_encoding")) or len(self.meta.get("inputs") or ()) > 1  # as predict
        if self.kind == "text":  # predict would read the file's name as a sentence: a request gives sentences
            raise BadInput(f"{shown}: this run reads texts, not CSV rows", hint=self.usage())
        if not several and "table" not in self.meta:
            raise BadInput(f"{shown}: this run was not trained on a table; give image files",  # predict's words
                           hint=self.usage())
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UnseenLevels)
            if several:  # image columns may name only files inside the request's folder
                names, samples = named_rows(path, self.meta, confined=True)
            else:
                names, samples = table_rows(path, self.meta)
        notes = [str(w.message).replace(path, shown) for w in caught if issubclass(w.category, UnseenLevels)]
        return [n.replace(path, shown) for n in names], samples, notes

    def series_history(self, values=None, body: Optional[bytes] = None) -> tuple:
        """(source, values) to forecast from: JSON values, a CSV body read as predict reads a CSV, or
        nothing (the training series' tail)."""
        from ..runtime.preprocess import series_values
        from ..runtime.tables import finite
        if self.kind != "series":
            raise BadInput(f"this run reads {self.kind} inputs, not a series", hint=self.usage())
        if body is not None:
            with tempfile.TemporaryDirectory(prefix="dlspec-serve-") as folder:
                path = os.path.join(folder, "body.csv")
                with open(path, "wb") as f:
                    f.write(body)
                with _renamed(path, "body.csv"):
                    return "body.csv", series_values(path, self.meta)
        if values is None:
            return None, list(self.meta["series"]["tail"])
        if not isinstance(values, list) or not values:
            raise BadInput("give the series as a JSON list of numbers: {\"values\": [1.5, 2.0, ...]}")
        for i, v in enumerate(values):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or (isinstance(v, int) and abs(v) > 1e300):
                raise BadInput(f"values[{i}]: {json.dumps(v)[:40]} is not a number (or too large)",
                               hint="give the series as a list of numbers")
        with _renamed("", ""):
            return None, [finite(repr(float(v)), f"values[{i}]") for i, v in enumerate(values)]

    def forecast(self, history: list, steps: int, source: Optional[str]) -> list:
        from ..runtime.preprocess import forecast
        with _renamed("", ""):
            return forecast(self.model, history, self.meta, steps, self.run.device, source)

    def answer(self, names: list, samples: list, top: int) -> list:
        """The answers of one batch of samples, as `dlspec predict` gives them."""
        import torch
        from ..runtime.preprocess import predict_batch
        if isinstance(samples[0], dict):
            x = {k: torch.stack([s[k] for s in samples]) for k in samples[0]}
        else:
            x = torch.stack(samples)
        with torch.no_grad():
            return predict_batch(self.model, x, names, self.meta, top, self.run.device)

    def usage(self) -> str:
        """What /predict takes for this run, in a line."""
        return USAGE.get(self.kind, USAGE["any"])


ROWS_WITH_IMAGES = ("send a CSV of rows with the images its rows name, as files of one multipart/form-data request "
                    "(field 'file'), the rows naming them by file name")
USAGE = {"image": "POST multipart/form-data with image files in field 'file'",
         "text": "POST JSON {\"text\": \"a sentence\"} or {\"texts\": [...]}",
         "table": "POST JSON {\"rows\": [{column: value, ...}]} or a text/csv body with a header",
         "series": "POST JSON {\"values\": [...], \"steps\": N} (or {} to continue the training series), or a "
                   "text/csv body",
         "any": "POST multipart/form-data files (images, CSV), or JSON {\"rows\": [...]}"}


def _cell(value, column: str) -> str:
    if isinstance(value, (dict, list)):
        raise BadInput(f"column '{column}': a cell is a number or a text, received {type(value).__name__}")
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _shown_name(filename: Optional[str], index: int) -> str:
    """A client's file name as answers show it: its last part, printable, short."""
    name = os.path.basename((filename or "").replace("\\", "/"))
    name = "".join(c for c in name if c.isprintable())[:100]
    return name or f"file{index + 1}"


def _write_beside(folder: str, files: list, shown_names: list) -> list:
    """Writes the files that are not CSV into `folder` under their shown names (rows name them so); returns the
    CSV files, still to read."""
    rows, written = [], set()
    for (filename, data), shown in zip(files, shown_names):
        if shown.lower().endswith(".csv"):
            rows.append((filename, data))
            continue
        if shown.startswith(".") or shown in written:
            raise BadInput(f"{shown}: files sent with rows need distinct names not starting with '.'")
        written.add(shown)
        with open(os.path.join(folder, shown), "wb") as f:
            f.write(data)
    return rows


def _image_suffix(name: str) -> str:
    suffix = os.path.splitext(name)[1].lower()
    return suffix if suffix in IMAGE_FILES else ".img"


class _renamed:
    """Turns the readers' InputError into BadInput, with the temporary path shown as the client's name."""

    def __init__(self, path: str, shown: str):
        self.path, self.shown = path, shown

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        if isinstance(exc, InputError):
            message, hint = exc.message, exc.hint
            if self.path:  # the temporary folder is the server's business: shown as the client's names
                message, hint = message.replace(self.path, self.shown), hint.replace(self.path, self.shown)
                folder = os.path.dirname(self.path) + os.sep
                message, hint = message.replace(folder, ""), hint.replace(folder, "")
            raise BadInput(message, hint=hint, status=413 if isinstance(exc, TooManyPixels) else 400) from None
        return False
