"""The language server: LSP messages on stdin in, dlspec's diagnostics, hovers, completions and definitions out.

Built on pygls (the `lsp` extra). Every document is checked by the real
compiler stages (`dlspec.diagnostics`) when it is opened, changed or saved,
on a worker thread (`documents.py`), so requests stay answered while a large
document is checked; its diagnostics are published when the check ends.
Messages are read by `framing.py`, which skips malformed framing instead of
falling out of step. A request that fails inside dlspec is logged (stderr and
the editor's log) and answered empty, so no text can bring the server down.
"""
from __future__ import annotations

import asyncio
import functools
import json
import logging
import sys
import threading
from typing import Optional
from urllib.parse import unquote

from lsprotocol import types as T
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams
from pygls.io_ import StdoutWriter
from pygls.lsp.server import LanguageServer
from pygls.uris import from_fs_path, to_fs_path

from ..errors import Loc
from .analysis import Analysis
from .complete import complete
from .definition import definition
from .documents import Documents, NotReadable, read_unopened
from .framing import Framer, read_messages
from .hover import hover

logger = logging.getLogger("dlspec.lsp")

_KINDS = {"layer": T.CompletionItemKind.Function, "block": T.CompletionItemKind.Class,
          "argument": T.CompletionItemKind.Property, "keyword": T.CompletionItemKind.Keyword,
          "setting": T.CompletionItemKind.Field, "let": T.CompletionItemKind.Variable,
          "model": T.CompletionItemKind.Class, "data": T.CompletionItemKind.Module}


def _version() -> str:
    """dlspec's installed version, for the server's info (read from the package metadata rather than the
    package root, which imports the whole API); "unknown" when run from a source tree never installed."""
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("dlspec")
    except PackageNotFoundError:
        return "unknown"


class DlspecServer(LanguageServer):
    """A pygls server whose documents are analysed off the request thread (`Documents`)."""

    def __init__(self, run_plugins: bool = True):
        super().__init__("dlspec", _version(), text_document_sync_kind=T.TextDocumentSyncKind.Full)
        self.run_plugins = run_plugins
        self.documents = Documents(lambda path, text: Analysis(path, text, run_plugins), self._analysed)

    @property
    def encoding(self) -> str:
        """The position encoding agreed with the client: utf-16 (the default), utf-8 or utf-32."""
        try:
            encoding = self.workspace.position_encoding or UTF16
        except RuntimeError:  # not initialized yet
            return UTF16
        return getattr(encoding, "value", encoding)

    def update(self, uri: str) -> None:
        """Queue the analysis of an open document's text as the workspace holds it now (nothing when closed)."""
        doc = self.workspace.text_documents.get(unquote(uri))
        if doc is not None:  # never get_text_document: for a closed document it reads the file, whatever it is
            self.documents.update(uri, _path(doc), doc.source, doc.version)

    def analysis(self, uri: str) -> Analysis:
        """The analysis a request reads; a document the editor has not opened is read only when it is safe."""
        if self.workspace.text_documents.get(unquote(uri)) is not None:
            self.update(uri)  # nothing to do unless this request came before its change was handled
        else:
            path = to_fs_path(uri) if uri.startswith("file:") else None
            if path is None:
                raise NotReadable(f"{uri} is not open in the editor and not a file")
            self.documents.update(uri, path, read_unopened(path), None)
        found = self.documents.analysis(uri)
        if found is None:
            raise NotReadable(f"{uri} was closed while the request waited")
        return found

    def _analysed(self, uri: str, version: Optional[int], analysis: Analysis, failure) -> None:
        """Publish a finished analysis's diagnostics (none when the check itself failed; that is logged)."""
        found = []
        if failure is None:
            try:
                found = diagnostics(analysis, self.encoding)
            except Exception as exc:
                failure = exc
        if failure is not None:
            logger.error("dlspec lsp: checking %s failed", uri, exc_info=failure)
            self.window_log_message(T.LogMessageParams(T.MessageType.Error, f"dlspec: checking failed: {failure!r}"))
        if version is not None:  # a document the editor has open
            self.text_document_publish_diagnostics(T.PublishDiagnosticsParams(uri=uri, diagnostics=found,
                                                                               version=version))

    def start_io(self, stdin=None, stdout=None) -> None:
        """Serve on stdin/stdout until the editor exits or closes stdin; malformed framing is skipped."""
        self._stop_event = threading.Event()
        self.protocol.set_writer(_LockedWriter(stdout or sys.stdout.buffer))
        framer = Framer(self._framing_problem, self._decode)
        try:
            asyncio.run(read_messages(stdin or sys.stdin.buffer, framer, self._handle, self._stop_event))
            logger.info("dlspec lsp: the editor closed the input; exiting")
        except BrokenPipeError:
            logger.error("dlspec lsp: the connection to the editor is lost; exiting")
        except (KeyboardInterrupt, SystemExit):
            pass
        finally:
            self.shutdown()

    def _decode(self, body: bytes):
        """A message body as pygls's message object; a request whose params it cannot read is answered with
        an error (the client would wait for ever otherwise) before the Framer reports and drops it."""
        try:
            return json.loads(body, object_hook=self.protocol.structure_message)
        except ValueError:  # not JSON: a framing problem, for the Framer
            raise
        except Exception as exc:
            raw = json.loads(body)
            if isinstance(raw, dict) and isinstance(raw.get("id"), (int, str)) and "method" in raw:
                error = exc if isinstance(exc, JsonRpcException) else JsonRpcInvalidParams()
                self.protocol._send_response(raw["id"], error=error.to_response_error())
            raise

    def _handle(self, message) -> None:
        try:
            self.protocol.handle_message(message)
        except Exception as exc:  # JSON that is no JSON-RPC message (a list, a number, no "jsonrpc")
            self._framing_problem(f"a message could not be handled ({type(exc).__name__}: {exc}); dropped")

    def _framing_problem(self, text: str) -> None:
        logger.warning("dlspec lsp: %s", text)
        self.window_log_message(T.LogMessageParams(T.MessageType.Warning, f"dlspec: {text}"))


class _LockedWriter(StdoutWriter):
    """stdout for messages sent from several threads (requests, and the analysis worker's diagnostics)."""

    def __init__(self, stdout):
        super().__init__(stdout)
        self._lock = threading.Lock()

    def write(self, data: bytes) -> None:
        with self._lock:
            super().write(data)


def _path(doc) -> str:
    """A document's file path; `<untitled>` for a buffer never saved (relative paths then use the cwd)."""
    return doc.path if doc.uri.startswith("file:") else "<untitled>"


def _answer_empty(empty):
    """Log a request that fails inside dlspec and answer it with `empty`."""
    def wrap(fn):
        @functools.wraps(fn)
        def handler(ls, params):
            try:
                return fn(ls, params)
            except NotReadable as exc:
                logger.warning("dlspec lsp: %s", exc)
                ls.window_log_message(T.LogMessageParams(T.MessageType.Warning, f"dlspec: {exc}"))
                return empty
            except Exception as exc:
                logger.exception("dlspec lsp: %s failed", fn.__name__)
                ls.window_log_message(T.LogMessageParams(
                    T.MessageType.Error, f"dlspec: {fn.__name__} failed: {type(exc).__name__}: {exc}"))
                return empty
        return handler
    return wrap


# ---- positions: Loc columns count characters, LSP columns the units the client chose ----

UTF16 = "utf-16"  # the protocol's default; pygls agrees on another when the client prefers it


def _units(text: str, encoding: str) -> int:
    if encoding == "utf-8":
        return len(text.encode("utf-8"))
    if encoding == "utf-32":
        return len(text)
    return len(text.encode("utf-16-le")) // 2


def to_position(lines: list, line: int, column: int, encoding: str = UTF16) -> T.Position:
    """A 1-based (line, character column) as an LSP position."""
    row = min(max(line - 1, 0), max(len(lines) - 1, 0))
    text = lines[row] if lines else ""
    return T.Position(row, _units(text[: max(column - 1, 0)], encoding))


def from_position(lines: list, position: T.Position, encoding: str = UTF16) -> tuple:
    """An LSP position as a 1-based (line, character column)."""
    text = lines[position.line] if 0 <= position.line < len(lines) else ""
    units = 0
    for index, ch in enumerate(text):
        if units >= position.character:
            return position.line + 1, index + 1
        units += _units(ch, encoding)
    return position.line + 1, len(text) + 1


def _at_cursor(ls, params) -> tuple:
    """(analysis, line, column) of the document and position a hover, completion or definition asks about."""
    analysis = ls.analysis(params.text_document.uri)
    return (analysis, *from_position(analysis.lines, params.position, ls.encoding))


def _range(analysis: Analysis, line: int, column: int, encoding: str = UTF16) -> T.Range:
    """From a position to the end of the name there (one character when no name starts there)."""
    word = analysis.word_at(line, column)
    end = word.end if word is not None and word.column == column else column + 1
    text = analysis.lines[line - 1] if 1 <= line <= len(analysis.lines) else ""
    end = min(end, len(text) + 1)
    return T.Range(to_position(analysis.lines, line, column, encoding),
                   to_position(analysis.lines, line, max(end, column), encoding))


# ---- diagnostics -------------------------------------------------------


def diagnostics(analysis: Analysis, encoding: str = UTF16) -> list:
    """Every error and warning of the analysis as LSP diagnostics."""
    found = analysis.diagnosis
    out = [_diagnostic(analysis, e.loc, e.message, e.hint, T.DiagnosticSeverity.Error, encoding)
           for e in found.errors]
    for w in found.warnings:
        out.append(_diagnostic(analysis, getattr(w, "loc", None), getattr(w, "message", str(w)),
                               getattr(w, "hint", ""), T.DiagnosticSeverity.Warning, encoding))
    return out


def _diagnostic(analysis: Analysis, loc: Optional[Loc], message: str, hint: str, severity,
                encoding: str) -> T.Diagnostic:
    text = message + (f"\nhint: {hint}" if hint else "")
    if loc is None:
        where = T.Range(T.Position(0, 0), T.Position(0, 0))
    elif loc.file != analysis.path:  # in an included file: shown at the include line
        line = _include_line(analysis, loc.file)
        where = T.Range(to_position(analysis.lines, line, 1, encoding),
                        to_position(analysis.lines, line, 10 ** 6, encoding))
        text = f"{loc}: {text}"
    else:
        where = _range(analysis, loc.line, loc.column, encoding)
    return T.Diagnostic(range=where, message=text, severity=severity, source="dlspec")


def _include_line(analysis: Analysis, file: str) -> int:
    import os
    name = os.path.basename(file)
    for i, line in enumerate(analysis.lines, 1):
        if line.lstrip().startswith("include") and name in line:
            return i
    return 1


# ---- the server --------------------------------------------------------


def make_server(run_plugins: bool = True) -> DlspecServer:
    """A server with every feature registered; `start_io()` runs it."""
    server = DlspecServer(run_plugins)

    @server.feature(T.TEXT_DOCUMENT_DID_OPEN)
    @server.feature(T.TEXT_DOCUMENT_DID_CHANGE)
    @_answer_empty(None)
    def check(ls, params):
        ls.update(params.text_document.uri)

    @server.feature(T.TEXT_DOCUMENT_DID_SAVE)
    @_answer_empty(None)
    def check_saved(ls, params):
        ls.update(params.text_document.uri)
        ls.documents.recheck(params.text_document.uri)  # included files may have changed on disk too

    @server.feature(T.TEXT_DOCUMENT_DID_CLOSE)
    @_answer_empty(None)
    def forget(ls, params):
        ls.documents.forget(params.text_document.uri)
        ls.text_document_publish_diagnostics(T.PublishDiagnosticsParams(uri=params.text_document.uri, diagnostics=[]))

    @server.feature(T.TEXT_DOCUMENT_HOVER)
    @server.thread()  # it may wait for an analysis: messages meanwhile are still read
    @_answer_empty(None)
    def on_hover(ls, params):
        analysis, line, column = _at_cursor(ls, params)
        shown = hover(analysis, line, column)
        if shown is None:
            return None
        word = analysis.word_at(line, column)
        return T.Hover(T.MarkupContent(T.MarkupKind.Markdown, shown),
                       _range(analysis, word.line, word.column, ls.encoding))

    @server.feature(T.TEXT_DOCUMENT_COMPLETION, T.CompletionOptions(trigger_characters=["(", ","]))
    @server.thread()  # it may wait for an analysis: messages meanwhile are still read
    @_answer_empty([])
    def on_completion(ls, params):
        analysis, line, column = _at_cursor(ls, params)
        return [T.CompletionItem(c.label, kind=_KINDS.get(c.kind, T.CompletionItemKind.Value),
                                 detail=c.detail or c.kind, insert_text=c.insert)
                for c in complete(analysis, line, column)]

    @server.feature(T.TEXT_DOCUMENT_DEFINITION)
    @server.thread()  # it may wait for an analysis: messages meanwhile are still read
    @_answer_empty(None)
    def on_definition(ls, params):
        analysis, line, column = _at_cursor(ls, params)
        loc = definition(analysis, line, column)
        if loc is None:
            return None
        lines = analysis.lines if loc.file == analysis.path else (loc.text or "").split("\n")
        position = to_position(lines, loc.line, loc.column, ls.encoding)
        uri = params.text_document.uri if loc.file == analysis.path else from_fs_path(loc.file)
        return T.Location(uri, T.Range(position, position))

    return server


def serve(run_plugins: bool = True) -> None:
    """Run the server on stdin/stdout until the editor shuts it down."""
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(name)s: %(message)s")
    sys.setswitchinterval(0.001)  # a request waiting for the interpreter gets it sooner from a running analysis
    make_server(run_plugins).start_io()
