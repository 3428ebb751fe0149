"""TensorBoard event files on resume: a folder and a checkpoint's place in, the files without what
was logged after the checkpoint out.

An event file is a sequence of TFRecords (8-byte length, 4-byte CRC of it, an
Event protobuf, 4-byte CRC of that). A kept record is copied byte for byte, so
nothing is re-encoded and no checksum computed; a record cut short (a process
killed while writing) ends the file. Dropped: `epoch/` tags past the
checkpoint's epoch, `step/` tags past its global step, and the hparams of an
earlier end (`hparam/`, `_hparams_/`). A file is rewritten to a temporary file
and renamed, and only if it loses something; a damaged or read-only file is
left as it is (TensorBoard's purge at the resumed step still hides its step/
events).
"""
from __future__ import annotations

import contextlib
import glob
import os
import struct

from ...errors import DlspecError
from ...language.files import open_regular
from ..safe_write import open_new

HEADER = 12  # the length (8 bytes) and its CRC (4)


def event_files(folder: str) -> list:
    """The names of the TensorBoard event files directly in `folder`."""
    return [os.path.basename(p) for p in glob.glob(os.path.join(glob.escape(folder), "events.out.tfevents.*"))]


def _records(path: str):
    """(record bytes, Event payload) for each whole TFRecord of an event file."""
    with open_regular(path, DlspecError, "event file") as f:  # a pipe or device link: "damaged", never read
        data = f.read()
    at = 0
    while at + HEADER <= len(data):
        (length,) = struct.unpack_from("<Q", data, at)
        end = at + HEADER + length + 4
        if end > len(data):
            break  # cut short while being written
        yield data[at:end], data[at + HEADER:end - 4]
        at = end


def _stale(event, resume) -> bool:
    """Whether an event was logged after the checkpoint `resume` goes on from (or by an earlier end)."""
    for value in event.summary.value:
        family = value.tag.partition("/")[0]
        if (family == "epoch" and event.step > resume.epoch or family == "step" and event.step > resume.global_step
                or family in ("hparam", "_hparams_")):
            return True
    return False


def drop_after_checkpoint(folder: str, resume, only=None) -> set:
    """Rewrite the event files in `folder` (those named in `only`, if given) without the events logged
    after the checkpoint `resume` (a loggers.Resume); returns the epochs `epoch/loss` holds afterwards."""
    from tensorboard.compat.proto.event_pb2 import Event
    logged = set()
    for path in [os.path.join(folder, name) for name in sorted(event_files(folder)) if only is None or name in only]:
        try:
            records = [(raw, Event.FromString(payload)) for raw, payload in _records(path)]
        except Exception:  # a damaged file: TensorBoard reads what it can of it, which may be any epoch
            logged.update(row["epoch"] for row in resume.history)
            continue
        kept = [(raw, event) for raw, event in records if not _stale(event, resume)]
        logged.update(e.step for _, e in kept if any(v.tag == "epoch/loss" for v in e.summary.value))
        if len(kept) == len(records):
            continue
        with contextlib.suppress(OSError):  # a read-only file stays as it is
            if all(e.WhichOneof("what") == "file_version" for _, e in kept):
                os.remove(path)  # nothing but the header is left
            else:
                _rewrite(path, b"".join(raw for raw, _ in kept))
    return logged


def _rewrite(path: str, data: bytes) -> None:
    tmp = f"{path}.tmp"
    try:
        with open_new(tmp) as f:  # a link planted under the temporary name is removed, never followed
            f.write(data)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            os.remove(tmp)
