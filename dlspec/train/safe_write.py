"""Writing files dlspec owns: a folder and bytes in, files written whole (or not at all) inside it out.

A run directory may come from elsewhere (a received run is untrusted input),
so a file or folder in it can be a symbolic link planted to redirect dlspec's
writes to somewhere outside it. Every write here refuses a symlinked file or
folder below the folder it writes into, with a one-line error.

Each file is serialised in memory first, written to a new temporary file
beside its target (opened with O_EXCL and O_NOFOLLOW, so no planted name is
followed) and renamed over the target: a full disk, a read-only folder or an
error leaves the previous file intact and no partial file behind. Several
files are staged first and renamed together, so an export or a prediction
file set is never half new.
"""
from __future__ import annotations

import contextlib
import errno
import os

from ..errors import DlspecError


def write_error(path: str, exc: OSError) -> DlspecError:
    """An OSError while writing `path`, as a user error that names the path and the cause."""
    reason = exc.strerror or str(exc)
    hint = ("free some disk space, or pass --out on another disk" if exc.errno in (errno.ENOSPC, errno.EDQUOT)
            else "pass --out with a folder you can write to")
    return DlspecError(f"cannot write {path}: {reason}", hint=hint)


@contextlib.contextmanager
def writing(path: str):
    """Turn an OSError while writing `path` into a DlspecError naming it."""
    try:
        yield
    except OSError as exc:
        raise write_error(path, exc) from None


def check_inside(root: str, path: str) -> None:
    """Refuse to write `path` when it, or a folder between `root` and it, is a symbolic link
    (`root` itself is the caller's choice and may be one)."""
    rel = os.path.relpath(os.path.abspath(path), os.path.abspath(root))
    if rel == os.curdir:
        return
    if rel == os.pardir or rel.startswith(os.pardir + os.sep) or os.path.isabs(rel):
        raise DlspecError(f"refusing to write {path}: it is outside {root}")
    current = root
    for part in rel.split(os.sep):
        current = os.path.join(current, part)
        if os.path.islink(current):
            raise DlspecError(f"refusing to write {path}: {current} is a symbolic link, and dlspec writes only "
                              f"files inside {root}",
                              hint=f"remove the link {current} (a run directory from elsewhere may hold links "
                                   f"planted to redirect writes)")


def make_folder(root: str, folder: str) -> bool:
    """Create `folder` (inside `root`, no link on the way) and check that a file can be written in it,
    before anything is computed; the probe file is removed whatever happens. True when the folder was
    made here (see removing_if_empty)."""
    check_inside(root, folder)
    created = not os.path.isdir(folder)
    with writing(folder):
        os.makedirs(folder, exist_ok=True)
    check_inside(root, folder)  # made by someone else meanwhile: still no link
    probe = os.path.join(folder, f".write-test-{os.getpid()}")
    try:
        with writing(folder), open_new(probe) as f:
            f.write(b"ok")
            f.flush()
            os.fsync(f.fileno())
    except DlspecError:
        with contextlib.suppress(OSError):
            os.remove(probe)
        if created:  # an empty folder of our own making is not left behind
            with contextlib.suppress(OSError):
                os.rmdir(folder)
        raise
    finally:
        with contextlib.suppress(OSError):
            os.remove(probe)
    return created


@contextlib.contextmanager
def removing_if_empty(folder: str, created: bool):
    """When what follows fails, remove `folder` if make_folder made it and it is still empty."""
    try:
        yield
    except BaseException:
        if created:
            with contextlib.suppress(OSError):
                os.rmdir(folder)
        raise


def open_new(path: str):
    """A new file for writing (binary); a file or link already at `path` is removed, never followed."""
    with contextlib.suppress(FileNotFoundError):
        if os.path.islink(path) or os.path.isfile(path):
            os.remove(path)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    return os.fdopen(os.open(path, flags, 0o644), "wb")


def temporary(path: str) -> str:
    """The temporary name `path` is written under before it is renamed (run directories remove *.tmp
    left over by a crash, see rundir.remove_leftovers)."""
    return f"{path}.{os.getpid()}.tmp"


def write_files(root: str, files: dict, refuse_links: bool = True) -> list:
    """Write {path: bytes or str} inside `root`: every file is staged as a temporary file, and only
    when all are written are they renamed over their targets. Returns the paths written.
    `refuse_links=False` is for files the user named (a link there is replaced, never followed)."""
    for path in files:
        if refuse_links:
            check_inside(root, path)
    staged = []
    try:
        for path, data in files.items():
            tmp = temporary(path)
            staged.append(tmp)
            with writing(path), open_new(tmp) as f:
                f.write(data.encode("utf-8") if isinstance(data, str) else data)
                f.flush()
                os.fsync(f.fileno())
        for path in files:
            with writing(path):
                os.replace(temporary(path), path)
    finally:
        for tmp in staged:
            with contextlib.suppress(OSError):
                os.remove(tmp)
    return list(files)


def write_file(root: str, path: str, data) -> str:
    """One file (bytes or str) inside `root`, written whole or not at all."""
    write_files(root, {path: data})
    return path
