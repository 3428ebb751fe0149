"""What a data block read: a `DataConfig` in, a small digest of its files out, so a run can tell
when `evaluate` or `--resume` finds the data changed since it trained.

A file is digested by its contents (SHA-256; files over HASH_LIMIT by size and
modification time), a folder by the names and sizes of the files under it.
Sources that name no path (sklearn_digits, sine, plugin classes) have no digest.
"""
from __future__ import annotations

import hashlib
import os
from stat import S_ISREG
from typing import Optional

from ..errors import warn
from .record import DataRecord

HASH_LIMIT = 256 * 2**20  # bytes: bigger files are compared by size and modification time


def fingerprint(cfg) -> dict:
    """path -> digest for each existing file or folder the block's source arguments name."""
    from .sources.base import SOURCES
    if cfg.source_args is None or cfg.source.name not in SOURCES:
        return {}
    digests = {}
    for key in SOURCES[cfg.source.name].paths:
        path = cfg.source_args.get(key)
        if isinstance(path, str) and os.path.exists(path):
            digests[path] = _folder_digest(path) if os.path.isdir(path) else _file_digest(path)
    return digests


def _file_digest(path: str) -> str:
    stat = os.stat(path)
    if not S_ISREG(stat.st_mode):  # a device or a pipe: reading /dev/zero never ends
        return "not a regular file"
    if stat.st_size > HASH_LIMIT:
        return f"size {stat.st_size} mtime {int(stat.st_mtime)}"
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _folder_digest(path: str) -> str:
    digest = hashlib.sha256()
    for root, dirs, files in os.walk(path):
        dirs.sort()
        for name in sorted(files):
            full = os.path.join(root, name)
            digest.update(f"{os.path.relpath(full, path)}\0{os.path.getsize(full)}\n".encode())
    return "files " + digest.hexdigest()


def check_run_data(cfg, recorded: Optional[DataRecord], data, what: str) -> None:
    """What `evaluate` and `--resume` (`what`) check of the data a run trained on, given what its checkpoint
    `recorded` of it and the data loaded now: the same classes (else an error), the same files (else a warning)."""
    if recorded is None:
        return
    check_same_classes(cfg, recorded.classes, data.classes)
    warn_if_changed(cfg, recorded.fingerprint, what)


def check_same_classes(cfg, saved: Optional[list], now: Optional[list]) -> None:
    """The classes a run trained on are the classes of the data now: else its outputs mean other things."""
    if saved and now and list(saved) != list(now):
        from ..errors import DataError
        gone, new = [c for c in saved if c not in now], [c for c in now if c not in saved]
        raise DataError(f"data {cfg.name}: its classes differ from those the run trained on"
                        + (f" (new: {', '.join(map(str, new[:5]))})" if new else "")
                        + (f" (gone: {', '.join(map(str, gone[:5]))})" if gone else ""), cfg.source.loc,
                        hint="restore the data the run trained on, or train a new run on this data")


def warn_if_changed(cfg, recorded: Optional[dict], what: str) -> None:
    """A warning at the source line when a file the run trained on differs now (`what`: what goes on)."""
    if not recorded:
        return
    now = fingerprint(cfg)
    changed = [p for p, d in recorded.items() if now.get(p, d) != d]
    if changed:
        warn(f"data {cfg.name}: {', '.join(changed)} changed since this run trained; {what} uses the run's "
             "category levels and vocabulary, but draws its splits from the data as it is now",
             cfg.source.loc, hint="restore the data the run trained on for the same splits and metrics")
