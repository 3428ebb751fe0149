"""Checkpoints: training state in, an atomically written file out, and back.

A checkpoint is a RunRecord (record.py) saved with torch.save as a plain dict:
the state_dict (never a pickled model), the spec text and path, resolved
settings, optimizer / scheduler / scaler states, the epoch, history, RNG states
and what the data stage fitted. It is read with `weights_only=True`, so loading
a checkpoint cannot run code.
"""
from __future__ import annotations

import contextlib
import os
import pickle
import random
import warnings
from typing import Optional

import torch

from ..errors import DlspecError, warn
from ..language.files import NEVER_READ, open_regular, require_regular
from .checkpoint_fields import check_fields, restoring
from .interrupt import signals_deferred
from .record import RunRecord
from .safe_write import check_inside, open_new, write_error


def rng_state() -> dict:
    state = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict, path: str = "the checkpoint") -> None:
    with restoring(path, "rng"):
        torch.set_rng_state(state["torch"])
        py = state["python"]
        random.setstate((py[0], tuple(py[1]), py[2]))
        if "cuda" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: str, payload: dict) -> None:
    """Write to a temporary file, then rename: a crash, a full disk or Ctrl-C never leaves
    half a checkpoint, and the previous one at `path` stays intact. A symbolic link at `path`
    is refused (see safe_write.py)."""
    check_inside(os.path.dirname(path) or os.curdir, path)
    tmp = f"{path}.tmp"
    try:
        with signals_deferred(), open_new(tmp) as f:  # our own file object: a failed write surfaces as its OSError
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        cause = _os_error(exc)
        if cause is None:
            raise
        kept = f"; the previous {os.path.basename(path)} is intact" if os.path.exists(path) else ""
        error = write_error(path, cause)
        raise DlspecError(error.message + kept, hint=error.hint) from None


def _os_error(exc: BaseException):
    """The OSError behind a failed save (torch reports a full disk as a RuntimeError raised
    while handling the OSError of the file write), or None."""
    seen = 0
    while exc is not None and seen < 5:
        if isinstance(exc, OSError):
            return exc
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return None


def load_checkpoint(path: str) -> dict:
    """Read a checkpoint safely (weights_only=True) and check its fields (checkpoint_fields.py); a run
    directory means its last.ckpt. The dict as stored, for tests that inspect or damage the file:
    dlspec itself reads checkpoints with load_record."""
    path, state = read_weights_file(path)
    return check_fields(state, path)


def load_record(path: str) -> RunRecord:
    """A checkpoint read safely and checked, as a RunRecord (record.py); a run directory means its last.ckpt."""
    path, state = read_weights_file(path)
    return RunRecord.from_state(state, path)


def read_weights_file(path: str, what: str = "checkpoint") -> tuple:
    """(the file read, what it holds), read safely (weights_only=True) and not checked as a run's
    checkpoint: `init` takes plain state_dicts too (`what` names the file in errors). A run directory
    means its last.ckpt. A path that is no regular file (a pipe, a link to /dev/zero) is refused before
    anything is read; a file torch cannot read is one line saying what it is not."""
    if os.path.isdir(path):
        last = os.path.join(path, "last.ckpt")
        if not os.path.lexists(last):
            raise DlspecError(f"{path} is not a run directory: it has no last.ckpt",
                              hint=RUN_HINT + " (one that finished at least an epoch)")
        path = last
    if not os.path.exists(path):
        raise DlspecError(f"checkpoint not found: {path}", hint=RUN_HINT)
    with open_regular(path, DlspecError, what, hint=RUN_HINT + "; " + NEVER_READ) as f:
        if os.fstat(f.fileno()).st_size == 0:
            raise DlspecError(f"cannot read {what} {path}: it is empty (0 bytes)", hint=RUN_HINT)
        try:
            with warnings.catch_warnings():  # torch's note on a foreign pickle protocol: the error below says it
                warnings.filterwarnings("ignore", message="Detected pickle protocol")
                state = torch.load(f, map_location="cpu", weights_only=True)
        except Exception as exc:  # corrupt or foreign file
            raise DlspecError(f"cannot read {what} {path}: {_load_failure(exc, f)}", hint=RUN_HINT) from None
    return path, state


RUN_HINT = "pass a run directory made by dlspec fit"
NOT_WEIGHTS = "not a PyTorch weights file, or one holding objects other than tensors (only tensors are loaded, safely)"


def _load_failure(exc: Exception, f) -> str:
    """One line on why torch.load failed on the open file `f`. Its weights_only refusals run to a page
    that ends advising weights_only=False, which would let the file run code: never passed on. A file
    that is no zip archive (what torch.save writes) fails with whatever its bytes mean to the
    unpickler ('pop from empty list'): it is simply not a weights file."""
    text = str(exc).strip()
    if isinstance(exc, pickle.UnpicklingError) or "weights_only" in text or not _is_zip(f):
        return NOT_WEIGHTS
    first = text.splitlines()[0] if text else type(exc).__name__
    return f"a damaged or truncated PyTorch file ({first})"


def _is_zip(f) -> bool:
    try:
        f.seek(0)
        return f.read(4) == b"PK\x03\x04"
    except OSError:
        return False


CHECKPOINTS = ("best", "last")


def check_choice(checkpoint: Optional[str]) -> Optional[str]:
    """`best` or `last`, or None (not named: best, falling back to last); anything else is a user
    error naming both."""
    if checkpoint is not None and checkpoint not in CHECKPOINTS:
        raise DlspecError(f"checkpoint must be best or last, received '{checkpoint}'",
                          hint="best: the epoch with the best monitored value (the default); last: the final epoch")
    return checkpoint


def select_checkpoint(run_dir: str, checkpoint: Optional[str] = None) -> tuple:
    """(which, path) of the weights to use from a run directory. A named `checkpoint` must be there;
    None means best.ckpt, or last.ckpt with a warning in a run without one (runs made before every
    run kept one, a run whose monitor never had a value). A best.ckpt that is there but no regular
    file is an error either way: never silently passed over."""
    check_choice(checkpoint)
    best, last = os.path.join(run_dir, "best.ckpt"), os.path.join(run_dir, "last.ckpt")
    if checkpoint == "last":
        return "last", last
    require_regular(best, DlspecError, "checkpoint",
                    hint=f"replace it with the best.ckpt dlspec fit wrote, or use --checkpoint last; {NEVER_READ}")
    if os.path.isfile(best):
        return "best", best
    if checkpoint == "best":
        raise DlspecError(f"--checkpoint best: {best} not found",
                          hint="use --checkpoint last for the final epoch's weights (last.ckpt)")
    warn(f"{run_dir} has no best.ckpt: using last.ckpt (the final epoch)")
    return "last", last
