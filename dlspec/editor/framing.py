"""LSP framing that survives malformed input: the client's bytes in, decoded messages out.

A message is `Content-Length: N` (other `Name: value` header lines may come
with it), an empty line, and N bytes of JSON. pygls's own reader trusts every
header: `Content-Length: abc`, a length shorter than its body, a header block
without the length, or stray bytes put it out of step for good. `Framer`
instead resynchronises: anything it cannot use is reported (once per
problem) and skipped up to the next `Content-Length:` header, a body that is
not JSON is dropped and read again for a header that began inside it (a
length longer than its body swallowed the next message), and a message that stops
arriving is given up after STALL_S seconds (`give_up`), so no input leaves the
server waiting for ever.
"""
from __future__ import annotations

import asyncio
import json
import os
import re
import threading
from typing import Callable, Optional

_HEADER = re.compile(rb"content-length[ \t]*:", re.IGNORECASE)
# Well-formed header lines (the last one may still be arriving): skipping them is no problem.
_HEADER_LINES = re.compile(rb"(?:[A-Za-z0-9_-]+[ \t]*:[^\r\n]*\r\n|\r\n)*(?:[A-Za-z0-9_-]+[ \t]*:[^\r\n]*)?")
_LENGTH = re.compile(rb"[ \t]*(\d{1,12})[ \t]*")
_TAIL = len(b"content-length:") - 1  # bytes kept while no header is found: one may be split between reads

MAX_BODY_BYTES = 256 * 1024 * 1024  # a longer declared length is a mistake, not a document
MAX_HEADER_BYTES = 8 * 1024  # header lines of a message, at most
STALL_S = 5.0  # a message whose bytes stop arriving for this long is dropped


class Framer:
    """Cut a byte stream into messages, resynchronising after malformed framing.

    `report(text)` is told about each problem; `decode(body)` turns a body into
    a message (json.loads by default; a body it rejects with ValueError is
    dropped and reported).
    """

    def __init__(self, report: Callable[[str], None], decode: Callable[[bytes], object] = json.loads):
        self.buffer = bytearray()
        self.report = report
        self.decode = decode
        self._lost = False  # a problem was reported: what is skipped until the next message is part of it

    @property
    def waiting(self) -> bool:
        """Whether a message has begun and not ended (the caller calls `give_up` when it stalls)."""
        return _HEADER.match(self.buffer) is not None

    def feed(self, data: bytes) -> list:
        """The messages completed by `data`."""
        self.buffer += data
        return self._messages()

    def give_up(self) -> list:
        """Drop the message that stopped arriving; the messages found after its header, if any."""
        if self.waiting:
            self._problem(f"a message stopped arriving ({len(self.buffer)} bytes of it came in {STALL_S:g} s); "
                          "dropped")
            self._skip_to_next_header(1)
        return self._messages()

    def _messages(self) -> list:
        out = []
        while True:
            match = _HEADER.search(self.buffer)
            if match is None:
                self._skip(max(len(self.buffer) - _TAIL, 0))
                return out
            self._skip(match.start())
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buffer) > MAX_HEADER_BYTES:
                    self._problem(f"a header of over {MAX_HEADER_BYTES} bytes has no end (an empty line); skipped")
                    self._skip_to_next_header(1)
                    continue
                return out
            length = self._length(end)
            if length is None:
                continue
            start = end + 4
            if len(self.buffer) < start + length:
                return out  # the rest of the body is on its way
            body = bytes(self.buffer[start:start + length])
            del self.buffer[:start + length]
            message = self._decoded(body)
            if message is not None:
                self._lost = False
                out.append(message)

    def _length(self, end: int) -> Optional[int]:
        """The Content-Length of the header block ending at `end`; None (reported, skipped) when unusable."""
        line_end = self.buffer.find(b"\r\n")
        head = _HEADER.match(self.buffer)
        value = bytes(self.buffer[head.end():line_end])
        rest = bytes(self.buffer[line_end + 2:end + 2])
        match = _LENGTH.fullmatch(value)
        if match is None or not _HEADER_LINES.fullmatch(rest) or _HEADER.search(rest):  # one length, only
            shown = bytes(self.buffer[:line_end])[:80]
            self._problem(f"malformed header {shown!r} (expected 'Content-Length: <bytes>' and 'Name: value' lines);"
                          " skipped to the next message")
            self._skip_to_next_header(1)
            return None
        length = int(match.group(1))
        if length > MAX_BODY_BYTES:
            self._problem(f"Content-Length {length} is over the limit of {MAX_BODY_BYTES} bytes; skipped")
            self._skip_to_next_header(1)
            return None
        return length

    def _decoded(self, body: bytes):
        try:
            return self.decode(body)
        except ValueError as exc:  # not JSON (UnicodeDecodeError and JSONDecodeError are ValueErrors)
            self._problem(f"a message of {len(body)} bytes is not JSON ({exc}); dropped")
            self.buffer[:0] = body  # its length may have been too long: the next message may begin inside
            return None
        except Exception as exc:  # JSON, but not a message the protocol can read: only this one is lost
            self.report(f"a message could not be read ({type(exc).__name__}: {exc}); dropped")
            return None

    def _skip_to_next_header(self, start: int) -> None:
        """Drop the buffer up to the next header at or after `start` (all but a short tail when there is none)."""
        match = _HEADER.search(self.buffer, start)
        del self.buffer[:match.start() if match else max(len(self.buffer) - _TAIL, start)]

    def _skip(self, count: int) -> None:
        """Drop `count` leading bytes, reporting them unless they are header lines or part of a reported problem."""
        if count <= 0:
            return
        skipped = bytes(self.buffer[:count])
        del self.buffer[:count]
        if skipped.strip() and not _HEADER_LINES.fullmatch(skipped):
            self._problem(f"skipped {count} bytes that are not an LSP message: {skipped[:60]!r}")

    def _problem(self, text: str) -> None:
        if not self._lost:
            self.report(text)
        self._lost = True


async def read_messages(stream, framer: Framer, handle: Callable[[object], None], stop: threading.Event) -> None:
    """Feed `stream`'s bytes (read on a daemon thread) to `framer` and `handle` each message on this loop's
    thread, until the stream ends or `stop` is set; a message that stalls is given up after STALL_S."""
    loop = asyncio.get_running_loop()
    chunks: asyncio.Queue = asyncio.Queue()
    threading.Thread(target=_pump, args=(stream, loop, chunks), name="dlspec-lsp-input", daemon=True).start()
    while not stop.is_set():
        try:
            data = await asyncio.wait_for(chunks.get(), STALL_S if framer.waiting else None)
        except asyncio.TimeoutError:
            messages = framer.give_up()
        else:
            if not data:
                return
            messages = framer.feed(data)
        for message in messages:
            handle(message)


def _pump(stream, loop, chunks) -> None:
    """Read whatever bytes have arrived (a whole message need not have) and queue them; b"" at the end."""
    read = _reader(stream)
    data = b"-"
    while data:
        try:
            data = read(65536)
        except (OSError, ValueError):  # closed under us: the end
            data = b""
        try:
            loop.call_soon_threadsafe(chunks.put_nowait, data)
        except RuntimeError:  # the loop is gone: the server stopped
            return


def _reader(stream) -> Callable[[int], bytes]:
    """A read of whatever has arrived. On a real file, os.read on its descriptor: a thread blocked in the
    buffered reader holds its lock, and Python aborts at exit when it finds that lock taken."""
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):  # an in-memory stream
        return getattr(stream, "read1", stream.read)
    return lambda size: os.read(fd, size)
