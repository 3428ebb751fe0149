"""The one check before dlspec reads a path a user named: a path in, the path (or an open file) out,
or the caller's own located error saying what the path is instead of a regular file.

A device, a named pipe or a socket is never read: /dev/zero never ends and a pipe waits for a writer
forever. `require_regular` checks by stat (for readers that take a path: the import system,
torch.load); `open_regular` opens without blocking and checks what it opened, so nothing can be
swapped in between. `not_regular` itself lives in runtime/inputs.py, which imports only the standard
library (it is copied into exported predict.py), so modules at every level may use it.
"""
from __future__ import annotations

import os
import stat
from typing import Optional

from ..errors import DlspecError, Loc
from ..runtime.inputs import not_regular

__all__ = ["NEVER_READ", "not_regular", "not_regular_message", "require_regular", "open_regular"]

NEVER_READ = "devices, pipes and sockets are never read"


def not_regular_message(what: str, path: str, kind: str) -> str:
    """The words every reader uses: '<what> <path> is not a regular file (<kind>)'."""
    return f"{what} {path} is not a regular file ({kind})"


def require_regular(path: str, error: type = DlspecError, what: str = "file", loc: Optional[Loc] = None,
                    hint: str = NEVER_READ) -> str:
    """`path` when it is a regular file (or a link to one) or names nothing (the caller's own 'not
    found' says so); else `error` saying what it is (a folder, a named pipe, a character device)."""
    kind = not_regular(path)
    if kind:
        raise error(not_regular_message(what, path, kind), loc, hint=hint)
    return path


def open_regular(path: str, error: type = DlspecError, what: str = "file", loc: Optional[Loc] = None,
                 hint: str = NEVER_READ, encoding: Optional[str] = None):
    """`path` opened for reading (binary, or text in `encoding`) when it is a regular file; else `error`
    as `require_regular` words it. Opened without blocking (a pipe would wait for a writer) and checked
    on the open descriptor. OSErrors (not found, no permission) pass to the caller."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise error(not_regular_message(what, path, not_regular(path) or "swapped while opened"), loc, hint=hint)
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    if encoding is None:
        return os.fdopen(fd, "rb")
    return os.fdopen(fd, "r", encoding=encoding, newline="")

