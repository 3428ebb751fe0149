"""Stopping a run: Ctrl-C (SIGINT) or SIGTERM in, a resumable run directory and a message out.

SIGTERM is what `kill`, job schedulers and containers send before killing a
process; it is handled like Ctrl-C. The signal may arrive anywhere, even in
the middle of an optimizer step, so the trainer keeps nothing from the
partial epoch: last.ckpt stays the checkpoint of the last completed epoch
(written atomically), and `fit --resume` retrains the partial epoch from
exactly that state, which on the CPU gives bit-identical results to a run
that was never interrupted.
"""
from __future__ import annotations

import contextlib
import signal
import threading
from typing import Optional

EXIT_STATUS = {"SIGINT": 130, "SIGTERM": 143}  # 128 + the signal number, as shells report it


class Stopped(KeyboardInterrupt):
    """Raised in the main thread when SIGTERM arrives during training."""

    def __init__(self, signame: str):
        super().__init__(signame)
        self.signame = signame


def signal_name(exc: KeyboardInterrupt) -> str:
    return getattr(exc, "signame", "SIGINT")


@contextlib.contextmanager
def stop_on_sigterm():
    """While training, SIGTERM raises `Stopped` (a KeyboardInterrupt) like Ctrl-C does."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return

    def handler(signum, frame):
        raise Stopped(signal.Signals(signum).name)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def signals_deferred():
    """Ctrl-C or SIGTERM while a checkpoint is written takes effect once it is written: raised inside
    torch's C++ writer, it would come out as a RuntimeError ("unexpected pos") instead of a stop."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught = []
    watched = (signal.SIGINT, signal.SIGTERM)
    previous = {signum: signal.signal(signum, lambda signum, frame: caught.append(signum)) for signum in watched}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if caught:
            signal.raise_signal(caught[0])  # delivered now, to whatever handled it before


def interrupted_message(signame: str, epoch: int, saved_epoch: Optional[int], out: str) -> str:
    """What was kept and how to go on, after a stop during (1-based) `epoch`."""
    what = "interrupted (Ctrl-C)" if signame == "SIGINT" else f"stopped by {signame}"
    if saved_epoch is None:
        return (f"{what} during epoch {epoch}, before any epoch completed: no checkpoint was saved, "
                f"so there is nothing to resume; start the run again with dlspec fit")
    return (f"{what} during epoch {epoch}: the partial epoch is discarded and {out}/last.ckpt holds "
            f"epoch {saved_epoch}; continue with: dlspec fit --resume {out} "
            f"(the result is the same as an uninterrupted run)")
