"""The documents the language server knows, analysed off the request thread: texts in, analyses out.

Opening, changing or saving a document queues its analysis, which starts
DEBOUNCE_S after the last change (a burst of keystrokes is checked once). One
worker thread runs the queued analyses, the smallest document first; a
version superseded before its analysis started is never analysed, and the
result of one superseded while running is thrown away (`on_done` is called
only for the text the document still has). Analyses run one at a time
because the checks record warnings through Python's process-wide warnings
machinery.

A request (answered on a pool thread, so waiting holds up no other message)
asks for the analysis of the document's text as it is now. It waits for it
while that is quick to come (a document of at most QUICK_BYTES, and the
worker not busy with a larger one); otherwise it gets at once a provisional
analysis: the current text with the names
(lets, blocks, models) of the last finished check and no shapes, so hover,
completion and definition stay answered while a large document is checked.

A document the editor has not opened is read from disk only when it is a
regular file of at most MAX_UNOPENED_BYTES (`read_unopened`): not a device,
a pipe or a folder, which could be read for ever.
"""
from __future__ import annotations

import logging
import os
import stat
import sys
import threading
import time
from dataclasses import dataclass
from typing import Callable, Optional

from ..diagnostics import Diagnosis
from .analysis import Analysis

logger = logging.getLogger("dlspec.lsp")

MAX_UNOPENED_BYTES = 2 * 1024 * 1024
QUICK_BYTES = 20_000  # checked in well under a second (about 36 µs a byte on a busy machine)
QUICK_WAIT_S = 60.0  # a quick document's analysis is waited for; the first of a session imports torch
DEBOUNCE_S = 0.1
_STACK_BYTES = 64 * 1024 * 1024  # deeply nested specs recurse; a thread's default stack can be small


class NotReadable(Exception):
    """A document that is not opened and may not be read from disk; the message says why."""


def read_unopened(path: str) -> str:
    """The text of a file the editor has not opened, when it is a regular file of at most MAX_UNOPENED_BYTES."""
    try:  # opened without blocking (a FIFO would wait for a writer), then checked: no race with a swap
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise NotReadable(f"cannot read {path}: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise NotReadable(f"{path} is not a regular file; not read")
        if info.st_size > MAX_UNOPENED_BYTES:
            raise NotReadable(f"{path} is {info.st_size:,} bytes, over the {MAX_UNOPENED_BYTES:,} bytes "
                              "read for a document the editor has not opened; open it to check it")
        with os.fdopen(os.dup(fd), "rb") as stream:
            data = stream.read(MAX_UNOPENED_BYTES + 1)
    finally:
        os.close(fd)
    if len(data) > MAX_UNOPENED_BYTES:
        raise NotReadable(f"{path} grew past {MAX_UNOPENED_BYTES:,} bytes while read; not read")
    return data.decode("utf-8", errors="replace")


@dataclass
class _Document:
    path: str
    text: str
    version: Optional[int]
    changed_at: float
    stale: bool = True  # its text has no finished analysis yet
    generation: int = 0  # counts changes and rechecks: an analysis begun before the last one is out of date
    done: Optional[Analysis] = None  # the last finished analysis (of this text when not stale)


class Documents:
    """Documents by URI, their analyses made by a worker thread.

    `analyse(path, text)` makes an Analysis; `on_done(uri, version, analysis,
    failure)` is called from the worker for each analysis of a current text
    (`failure` is the exception when the analysis itself failed)."""

    def __init__(self, analyse: Callable[[str, str], Analysis], on_done: Callable):
        self._analyse, self._on_done = analyse, on_done
        self._docs: dict = {}
        self._changed = threading.Condition()
        self._running: Optional[tuple] = None  # (uri, size) of the analysis in progress
        self._worker: Optional[threading.Thread] = None

    def update(self, uri: str, path: str, text: str, version: Optional[int]) -> None:
        """The document's text now; its analysis is queued unless that text was analysed already."""
        with self._changed:
            doc = self._docs.get(uri)
            if doc is not None and (doc.path, doc.text, doc.version) == (path, text, version):
                return
            done, generation = (doc.done, doc.generation + 1) if doc is not None else (None, 0)
            self._docs[uri] = _Document(path, text, version, time.monotonic(), done=done, generation=generation)
            self._wake()

    def recheck(self, uri: str) -> None:
        """Analyse the document again though its text is the same (files it includes may have changed)."""
        with self._changed:
            doc = self._docs.get(uri)
            if doc is not None:
                doc.stale, doc.changed_at, doc.generation = True, time.monotonic(), doc.generation + 1
                self._wake()

    def forget(self, uri: str) -> None:
        with self._changed:
            self._docs.pop(uri, None)

    def __contains__(self, uri: str) -> bool:
        with self._changed:
            return uri in self._docs

    def analysis(self, uri: str) -> Optional[Analysis]:
        """The analysis of the document's current text, or a provisional one when that is slow to come;
        None when the document is not (or no longer) known."""
        start = time.monotonic()
        with self._changed:
            while True:
                doc = self._docs.get(uri)
                if doc is None:
                    return None
                if not doc.stale:
                    return doc.done
                waited = time.monotonic() - start
                if not self._quick(uri, doc) or waited >= QUICK_WAIT_S:
                    return _provisional(doc)
                self._changed.wait(min(0.05, QUICK_WAIT_S - waited))

    def _quick(self, uri: str, doc: _Document) -> bool:
        running = self._running
        return len(doc.text) <= QUICK_BYTES and (running is None or running[0] == uri or running[1] <= QUICK_BYTES)

    # ---- the worker ----

    def _wake(self) -> None:
        if self._worker is None:
            previous = threading.stack_size()
            try:
                threading.stack_size(_STACK_BYTES)
            except (ValueError, RuntimeError):  # a platform that does not let the size be set
                pass
            try:
                self._worker = threading.Thread(target=self._work, name="dlspec-analysis", daemon=True)
                self._worker.start()
            finally:
                threading.stack_size(previous)
        self._changed.notify_all()

    def _next(self) -> tuple:
        """(uri, path, text, generation): the smallest stale document whose last change is DEBOUNCE_S old (waits for one)."""
        while True:
            now = time.monotonic()
            stale = [(len(d.text), u) for u, d in self._docs.items() if d.stale]
            due = [(size, u) for size, u in stale if now - self._docs[u].changed_at >= DEBOUNCE_S]
            if due:
                uri = min(due)[1]
                doc = self._docs[uri]
                self._running = (uri, len(doc.text))
                return uri, doc.path, doc.text, doc.generation
            self._changed.wait(DEBOUNCE_S if stale else None)

    def _work(self) -> None:
        _lower_priority()  # the request thread comes first when both want the processor
        while True:
            with self._changed:
                uri, path, text, generation = self._next()
            failure = None
            try:
                analysis = self._analyse(path, text)
            except Exception as exc:  # a bug in a check: logged by on_done; requests still get the text
                failure = exc
                analysis = Analysis(path, text, diagnosis=Diagnosis(path, text))
            with self._changed:
                self._running = None
                doc = self._docs.get(uri)
                current = doc is not None and doc.generation == generation
                if current:
                    doc.stale, doc.done, version = False, analysis, doc.version
                self._changed.notify_all()
            if current:
                try:
                    self._on_done(uri, version, analysis, failure)
                except Exception:  # the worker must go on: the next analysis may be fine
                    logger.exception("dlspec lsp: publishing the analysis of %s failed", uri)


def _lower_priority() -> None:
    """Make the calling thread nicer to the others (Linux, where the nice value is per thread)."""
    if sys.platform.startswith("linux"):
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
        except OSError:
            pass


def _provisional(doc: _Document) -> Analysis:
    """The current text with the names of the last finished check (None before the first) and no shapes."""
    spec = doc.done.diagnosis.spec if doc.done is not None else None
    return Analysis(doc.path, doc.text, diagnosis=Diagnosis(doc.path, doc.text, spec=spec))
