"""The language server (dlspec/editor/): a real `dlspec lsp` process driven by pygls's client over
stdin/stdout: diagnostics, hover, completion and definitions, and random text that must not bring it down."""
import asyncio
import pathlib
import random
import sys

import pytest

pytest.importorskip("pygls")
from lsprotocol import types as T  # noqa: E402
from pygls.lsp.client import LanguageClient  # noqa: E402
from pygls.uris import from_fs_path  # noqa: E402

from tests.conftest import DATA_AND_METRIC, THREE_MISTAKES  # noqa: E402
from dlspec.views.catalog import registries  # noqa: E402
from dlspec.editor.analysis import Analysis  # noqa: E402
from dlspec.editor.names import SINGULAR  # noqa: E402

from tests.conftest import SPECS  # noqa: E402

TIMEOUT = 60  # seconds for one answer; the first one imports torch on a busy machine


class Session:
    """A `dlspec lsp` subprocess and a pygls client, driven synchronously from the tests."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.client = LanguageClient("dlspec-tests", "1")
        self.diagnostics: dict = {}  # uri -> {version: [Diagnostic]}
        self.logs: list = []

        @self.client.feature(T.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        def on_diagnostics(params):
            self.diagnostics.setdefault(params.uri, {})[params.version] = params.diagnostics

        @self.client.feature(T.WINDOW_LOG_MESSAGE)
        def on_log(params):
            self.logs.append(params.message)

        self.run(self.client.start_io(sys.executable, "-m", "dlspec", "lsp", "--stdio"))
        self.run(self.client.initialize_async(T.InitializeParams(capabilities=T.ClientCapabilities())))
        self.client.initialized(T.InitializedParams())
        self.versions: dict = {}

    def run(self, coroutine):
        return self.loop.run_until_complete(asyncio.wait_for(coroutine, TIMEOUT))

    def open(self, path, text: str) -> str:
        uri = from_fs_path(str(path))
        self.versions[uri] = 1
        self.client.text_document_did_open(T.DidOpenTextDocumentParams(
            T.TextDocumentItem(uri=uri, language_id="dlspec", version=1, text=text)))
        return uri

    def change(self, uri: str, text: str) -> None:
        self.versions[uri] += 1
        self.client.text_document_did_change(T.DidChangeTextDocumentParams(
            T.VersionedTextDocumentIdentifier(uri=uri, version=self.versions[uri]),
            [T.TextDocumentContentChangeWholeDocument(text=text)]))

    def save(self, uri: str) -> None:
        self.diagnostics.get(uri, {}).pop(self.versions[uri], None)
        self.client.text_document_did_save(T.DidSaveTextDocumentParams(T.TextDocumentIdentifier(uri)))

    def diagnostics_of(self, uri: str) -> list:
        """The diagnostics published for the document's current version (waits for them)."""
        version = self.versions[uri]

        async def wait():
            while version not in self.diagnostics.get(uri, {}):
                await asyncio.sleep(0.02)
            return self.diagnostics[uri][version]
        return self.run(wait())

    def hover(self, uri: str, line: int, character: int):
        return self.run(self.client.text_document_hover_async(
            T.HoverParams(T.TextDocumentIdentifier(uri), T.Position(line, character))))

    def complete(self, uri: str, line: int, character: int) -> list:
        result = self.run(self.client.text_document_completion_async(
            T.CompletionParams(T.TextDocumentIdentifier(uri), T.Position(line, character))))
        return result if isinstance(result, list) else (result.items if result else [])

    def definition(self, uri: str, line: int, character: int):
        return self.run(self.client.text_document_definition_async(
            T.DefinitionParams(T.TextDocumentIdentifier(uri), T.Position(line, character))))

    def close(self):
        self.run(self.client.shutdown_async(None))
        self.client.exit(None)
        self.run(self.client.stop())
        self.loop.close()


@pytest.fixture(scope="module")
def lsp():
    session = Session()
    yield session
    session.close()


def _position(text: str, needle: str, offset: int = 0) -> tuple:
    """(line, character) of the first occurrence of `needle` in `text`, 0-based, plus `offset` characters."""
    for i, line in enumerate(text.split("\n")):
        if needle in line:
            return i, line.index(needle) + offset
    raise AssertionError(f"{needle!r} not in the text")


THREE = THREE_MISTAKES + """\
model D {
    input vector(10)
    y = input -> linear(3)
    input -> linear(2)
}
"""


def test_every_error_and_warning_is_a_diagnostic_at_its_place(lsp, tmp_path):
    uri = lsp.open(tmp_path / "three.dlspec", THREE)
    found = lsp.diagnostics_of(uri)
    errors = [d for d in found if d.severity == T.DiagnosticSeverity.Error]
    warnings = [d for d in found if d.severity == T.DiagnosticSeverity.Warning]
    assert [(d.range.start.line, d.range.start.character) for d in errors] == [(2, 8), (7, 26), (11, 4)]
    assert [(d.range.end.line, d.range.end.character) for d in errors] == [(2, 9), (7, 32), (11, 8)]  # '(', lienar, conv
    assert "never closed" in errors[0].message and "Did you mean 'linear'?" in errors[1].message
    assert "channels-first" in errors[2].message and all(d.source == "dlspec" for d in found)
    assert [d.range.start.line for d in warnings] == [15]  # y is never used
    lsp.change(uri, THREE.replace("conv(8, 3 ->", "conv(8, 3) ->").replace("lienar", "flatten -> linear"))
    assert [d.range.start.line for d in lsp.diagnostics_of(uri) if d.severity == T.DiagnosticSeverity.Error] == [11]


def test_columns_are_utf16_units(lsp, tmp_path):
    prefix = '    conv(1, 1, padding_mode="🙂🙂") -> '
    text = f"model M {{\n    input image(1, 8, 8)\n{prefix}lnear(2)\n}}\n"
    uri = lsp.open(tmp_path / "emoji.dlspec", text)
    found = lsp.diagnostics_of(uri)
    assert [d.range.start.line for d in found] == [2, 2]
    assert found[1].range.start.character == len(prefix.encode("utf-16-le")) // 2  # each 🙂 is two units
    assert found[1].range.end.character - found[1].range.start.character == len("lnear")


@pytest.mark.parametrize("encoding, units", [("utf-16", 2), ("utf-8", 4), ("utf-32", 1)])
def test_positions_follow_the_encoding_agreed_with_the_client(encoding, units):
    from dlspec.editor.lsp import from_position, to_position
    lines = ['x = "🙂" -> relu']
    position = to_position(lines, 1, 10, encoding)  # the '-' of '->'
    assert position == T.Position(0, 8 + units)
    assert from_position(lines, position, encoding) == (1, 10)


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.name)
def test_shipped_specs_have_no_error_diagnostics(lsp, path):
    uri = lsp.open(path, path.read_text(encoding="utf-8"))
    assert [d.message for d in lsp.diagnostics_of(uri) if d.severity == T.DiagnosticSeverity.Error] == []


def test_hover_shows_signature_doc_shape_and_parameters_of_that_line(lsp):
    path = pathlib.Path(SPECS[0]).parent / "resnet18.dlspec"
    text = path.read_text(encoding="utf-8")
    uri = lsp.open(path, text)
    line, character = _position(text, "conv(64, 7", 1)
    shown = lsp.hover(uri, line, character)
    value = shown.contents.value
    assert "conv(out, kernel, stride=1" in value and "Convolution" in value
    assert "[C=3, H=224, W=224] → **[C=64, H=112, W=112]**" in value and "9,408 parameters" in value  # 64*3*7*7, no bias
    assert (shown.range.start.line, shown.range.start.character) == (line, character - 1)
    line, character = _position(text, "Basic(64)")
    value = lsp.hover(uri, line, character).contents.value
    assert "block Basic(ch)" in value and "[C=64, H=56, W=56] → **[C=64, H=56, W=56]** · 73,984 parameters" in value
    line, character = _position(text, "-> conv(ch, 3, padding=1, bias=false) -> batchnorm\n"[:20], 4)
    assert "this line, 5 uses" in lsp.hover(uri, line, character).contents.value  # Basic is used five times


def test_hover_on_a_let_shows_its_value(lsp, tmp_path):
    text = "let width = 16\nlet wide = width * 4\nmodel M {\n    input vector(4)\n    linear(wide)\n}\n"
    uri = lsp.open(tmp_path / "lets.dlspec", text)
    assert "let wide = 64" in lsp.hover(uri, 4, 12).contents.value
    assert lsp.hover(uri, 3, 0) is None  # blank space: nothing to show


def test_hover_on_a_call_with_an_error_shows_the_call_and_its_error_not_the_stand_in(lsp, tmp_path):
    text = "let width = 16\nmodel M {\n    input image(3, 8, 8)\n    conv(width, 3, paddin=1) -> relu\n}\n"
    uri = lsp.open(tmp_path / "paddin.dlspec", text)
    value = lsp.hover(uri, 3, 5).contents.value
    assert "conv(out, kernel, stride=1" in value and "Convolution" in value
    assert "**error**: conv has no argument 'paddin'. Did you mean 'padding' or 'padding_mode'?" in value
    assert "input [C=3, H=8, W=8]" in value
    assert "identity" not in value and "0 parameters" not in value
    after = lsp.hover(uri, 3, 33).contents.value  # relu: planned with the conv passing its input on
    assert "[C=3, H=8, W=8] → **[C=3, H=8, W=8]**" in after
    assert after.endswith("*These shapes assume that the call with an error on line 4 passes its input on unchanged.*")
    assert "assume" not in lsp.hover(uri, 0, 5).contents.value  # the let: no shapes


def test_hover_on_a_failed_block_call_or_unknown_name_shows_what_was_written_and_why_it_failed(tmp_path):
    text = ("block Res(ch, drop=0.1) {\n    conv(ch, 3, padding=1)\n}\n"
            "model M {\n    input image(3, 8, 8)\n    Res(8, dropp=1) -> relu\n    lnear(3)\n}\n")
    analysis = Analysis(str(tmp_path / "m.dlspec"), text)
    from dlspec.editor.hover import hover
    block = hover(analysis, 6, 6)
    assert block.startswith("```dlspec\nblock Res(ch, drop=0.1)\n```")
    assert "**error**: Res has no argument 'dropp'. Did you mean 'drop'?" in block and "input [C=3, H=8, W=8]" in block
    unknown = hover(analysis, 7, 6)
    assert unknown.startswith("`lnear`") and "unknown layer or block 'lnear'. Did you mean 'linear'?" in unknown


def test_a_misspelt_metric_is_a_diagnostic_while_the_data_block_has_an_error(lsp, tmp_path):
    uri = lsp.open(tmp_path / "metric.dlspec", DATA_AND_METRIC)
    errors = [d for d in lsp.diagnostics_of(uri) if d.severity == T.DiagnosticSeverity.Error]
    assert [(d.range.start.line, d.range.start.character) for d in errors] == [(5, 11), (11, 22)]
    assert "'sklearn_digit'" in errors[0].message and "unknown metric 'acuracy'" in errors[1].message


def _built_in(kind: str) -> set:
    """Names the server knows without plugins (this test process has the example plugin loaded)."""
    return {e.name for e in registries()[kind].entries() if e.source == "built-in"}


def test_completion_offers_every_registered_name_of_the_declaration(lsp, tmp_path):
    text = ("block Res(ch, drop=0.1) {\n    conv(ch, 3)\n}\nmodel M {\n    input image(1, 8, 8)\n    \n}\n"
            "data d {\n    source sklearn_digits\n    \n}\ntrain {\n    \n}\n")
    uri = lsp.open(tmp_path / "complete.dlspec", text)
    in_model = {c.label for c in lsp.complete(uri, 5, 4)}
    assert _built_in("layers") <= in_model and "Res" in in_model
    in_data = {c.label for c in lsp.complete(uri, 9, 4)}
    assert _built_in("sources") | _built_in("transforms") | {"split", "augment"} <= in_data
    in_train = {c.label for c in lsp.complete(uri, 12, 4)}
    for kind in ("losses", "optimizers", "schedules", "metrics"):
        assert _built_in(kind) <= in_train, SINGULAR[kind]
    assert {"M", "d", "epochs"} <= in_train


def test_completion_inside_a_call_offers_its_argument_names(lsp, tmp_path):
    text = "block Res(ch, drop=0.1) {\n    conv(ch, 3, )\n}\nmodel M {\n    input image(1, 8, 8)\n    Res(\n}\n"
    uri = lsp.open(tmp_path / "args.dlspec", text)
    items = lsp.complete(uri, 1, 16)
    assert [c.label for c in items] == [a.name for a in registries()["layers"]["conv"].args]
    assert items[0].insert_text == "out="
    assert [c.label for c in lsp.complete(uri, 5, 8)] == ["ch", "drop"]


PLUGIN = '''
import torch
import dlspec


@dlspec.layer("lsp_test_swish")
class Swish(torch.nn.Module):
    """x * sigmoid(beta * x): lsp_test_swish(beta=1.0)."""

    def __init__(self, beta: float = 1.0):
        super().__init__()
        self.beta = beta

    def forward(self, x):
        return x * torch.sigmoid(self.beta * x)
'''


def test_completion_and_hover_include_plugins(lsp, tmp_path):
    (tmp_path / "swish.py").write_text(PLUGIN, encoding="utf-8")
    text = 'use "swish.py"\nmodel M {\n    input vector(4)\n    lsp_test_swish(\n}\n'
    uri = lsp.open(tmp_path / "plugin.dlspec", text)
    lsp.diagnostics_of(uri)
    assert "lsp_test_swish" in {c.label for c in lsp.complete(uri, 3, 4)}
    assert [c.label for c in lsp.complete(uri, 3, 19)] == ["beta"]
    assert "plugin" in lsp.hover(uri, 3, 6).contents.value


def test_definition_of_blocks_lets_and_includes(lsp, tmp_path):
    (tmp_path / "blocks.dlspec").write_text("block Inc(ch) {\n    conv(ch, 3)\n}\n", encoding="utf-8")
    text = ('include "blocks.dlspec"\nlet w = 8\nblock Mine(ch) {\n    conv(ch, 1)\n}\n'
            "model M {\n    input image(1, 8, 8)\n    Mine(w) -> Inc(w)\n}\n")
    uri = lsp.open(tmp_path / "main.dlspec", text)
    mine = lsp.definition(uri, 7, 5)
    assert mine.uri == uri and (mine.range.start.line, mine.range.start.character) == (2, 6)
    let = lsp.definition(uri, 7, 9)
    assert let.uri == uri and (let.range.start.line, let.range.start.character) == (1, 4)
    inc = lsp.definition(uri, 7, 16)
    assert inc.uri == from_fs_path(str(tmp_path / "blocks.dlspec")) and inc.range.start.line == 0
    include = lsp.definition(uri, 0, 12)
    assert include.uri == from_fs_path(str(tmp_path / "blocks.dlspec"))
    assert list(lsp.diagnostics_of(uri)) == []
    (tmp_path / "blocks.dlspec").write_text("block Inc(ch) {\n    cnv(ch, 3)\n}\n", encoding="utf-8")
    lsp.save(uri)  # saving checks again, included files as they are on disk now
    (error,) = lsp.diagnostics_of(uri)
    assert error.range.start.line == 0 and error.message.startswith(f"{tmp_path / 'blocks.dlspec'}:2:5: unknown layer")
    assert lsp.definition(uri, 7, 14) is None  # the '->'


def _mutations(text: str, rng: random.Random, count: int) -> list:
    """Random edits of a spec: characters dropped, doubled, swapped for punctuation, lines cut or repeated."""
    out = []
    pieces = "(){}[]->,=:;.\"#\\ \n\t\r0123456789.e+-*/abcxyz_🙂\u2028\x00"
    for _ in range(count):
        chars = list(text)
        for _ in range(rng.randint(1, 6)):
            if not chars:
                break
            i = rng.randrange(len(chars))
            action = rng.randrange(4)
            if action == 0:
                del chars[i]
            elif action == 1:
                chars.insert(i, rng.choice(pieces))
            elif action == 2:
                chars[i] = rng.choice(pieces)
            else:
                j = rng.randrange(len(chars))
                chars[i:i] = chars[j:j + rng.randint(1, 40)]
        out.append("".join(chars))
    return out


@pytest.mark.slow
def test_random_text_never_brings_the_server_down(lsp, tmp_path):
    rng = random.Random(16)
    uri = lsp.open(tmp_path / "fuzz.dlspec", "")
    texts = [rng.choice(SPECS).read_text(encoding="utf-8") for _ in range(8)]
    for text in [m for t in texts for m in _mutations(t, rng, 8)] + ["", "\x00", "{" * 300, "(" * 5000]:
        lsp.change(uri, text)
        lines = text.split("\n")
        line = rng.randrange(len(lines))
        character = rng.randrange(len(lines[line]) + 2)
        lsp.hover(uri, line, character)
        lsp.complete(uri, line, character)
        lsp.definition(uri, line, character)
        assert isinstance(lsp.diagnostics_of(uri), (list, tuple))
    assert lsp.logs == [], lsp.logs  # no request failed inside dlspec
    lsp.change(uri, THREE)
    assert len([d for d in lsp.diagnostics_of(uri) if d.severity == T.DiagnosticSeverity.Error]) == 3


def test_a_request_that_fails_inside_dlspec_is_logged_and_answered_empty(monkeypatch, caplog):
    from dlspec.editor import lsp as server_module
    server = server_module.make_server()

    def broken(*args):
        raise RuntimeError("boom")
    monkeypatch.setattr(server_module, "hover", broken)
    monkeypatch.setattr(server_module.DlspecServer, "analysis", lambda self, uri: Analysis("x.dlspec", "let a = 1"))
    sent = []
    monkeypatch.setattr(server, "window_log_message", lambda params: sent.append(params.message))
    handler = server.protocol.fm.features[T.TEXT_DOCUMENT_HOVER]
    answer = handler(T.HoverParams(T.TextDocumentIdentifier("file:///x.dlspec"), T.Position(0, 5)))
    assert answer is None
    assert sent == ["dlspec: on_hover failed: RuntimeError: boom"]
    assert "on_hover failed" in caplog.text and "RuntimeError: boom" in caplog.text


def test_without_pygls_the_lsp_command_says_which_extra_to_install(monkeypatch):
    from click.testing import CliRunner
    from dlspec.cli import main
    monkeypatch.setitem(sys.modules, "pygls", None)
    result = CliRunner().invoke(main, ["lsp"])
    assert result.exit_code == 1
    assert result.output.strip() == "error: the language server needs pygls: pip install 'dlspec[lsp]'"


def test_hover_on_a_named_input_or_output_shows_its_shape(tmp_path):
    text = ("model M {\n    input photo: image(3, 8, 8)\n    input words: tokens(5, vocab=20)\n"
            "    p = photo -> conv(4, 3) -> global_avgpool -> flatten\n    w = words -> embedding(4) -> max_time\n"
            "    output score = concat(p, w) -> linear(1)\n    output kind = p -> linear(3)\n}\n")
    analysis = Analysis(str(tmp_path / "m.dlspec"), text)
    from dlspec.editor.hover import hover
    assert hover(analysis, 2, 12) == "input **photo** of model M: [C=3, H=8, W=8]"
    assert hover(analysis, 5, 10) == "input **words** of model M: [T=5] token ids"
    assert hover(analysis, 7, 14) == "output **kind** of model M: [F=3]"
