"""Highlighting (dlspec/editor/lexer.py, textmate.py, vocabulary.py, editors/vscode/): generated from
grammar.lark and the registries, checked against them, and tokenising every shipped spec cleanly."""
import configparser
import json
import pathlib
import re
import sys

import pytest
from click.testing import CliRunner

pytest.importorskip("pygments")
from pygments.token import Error, Keyword, Name  # noqa: E402

import dlspec  # noqa: E402
from dlspec.cli import main  # noqa: E402
from dlspec.editor import textmate  # noqa: E402
from dlspec.editor.lexer import DlspecLexer  # noqa: E402
from dlspec.editor.vocabulary import VOCABULARY  # noqa: E402
from dlspec.language import ir  # noqa: E402

from tests.conftest import ROOT, SPECS  # noqa: E402

VSCODE = ROOT / "editors" / "vscode"


def _tokens(text: str) -> list:
    return list(DlspecLexer().get_tokens_unprocessed(text))


def test_the_vocabulary_and_the_textmate_grammar_are_generated_from_the_current_grammar_and_registries():
    vocabulary = textmate.current_vocabulary()
    assert VOCABULARY == vocabulary, "run: python -m dlspec.editor.textmate"
    assert pathlib.Path(textmate.VOCABULARY_FILE).read_text(encoding="utf-8") == textmate.vocabulary_source(vocabulary)
    assert pathlib.Path(textmate.TEXTMATE_FILE).read_text(encoding="utf-8") == textmate.textmate_source(vocabulary)


def test_every_keyword_of_grammar_lark_is_coloured_as_a_keyword():
    grammar = (ROOT / "dlspec" / "language" / "grammar.lark").read_text(encoding="utf-8")
    keywords = {w for w in re.findall(r'"([a-z_]+)"', grammar)}
    assert keywords == set(VOCABULARY["declarations"] + VOCABULARY["statements"] + VOCABULARY["constants"])
    for word in keywords:
        ((_, token, value),) = [t for t in _tokens(f"{word}\n") if t[2].strip()]
        assert token in Keyword and value == word


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.name)
def test_every_shipped_spec_tokenises_without_error_tokens_and_losslessly(path):
    text = path.read_text(encoding="utf-8")
    tokens = _tokens(text)
    assert [t for t in tokens if t[1] in Error] == []
    assert "".join(value for _, _, value in tokens) == text


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.name)
def test_every_layer_a_shipped_spec_calls_is_coloured_as_a_builtin_or_a_call(path):
    spec = dlspec.load(path)
    by_place = {}
    text_lines = path.read_text(encoding="utf-8").split("\n")
    offsets = [0]
    for line in text_lines:
        offsets.append(offsets[-1] + len(line) + 1)
    for index, token, value in _tokens("\n".join(text_lines)):
        by_place[index] = (token, value)
    for decl in list(spec.program.models.values()) + list(spec.program.blocks.values()):
        for st in decl.body.statements:
            for step in (st.chain.steps if isinstance(st, ir.Binding) else getattr(st, "steps", ())):
                callee = getattr(step.target, "callee", None)
                if callee is None or step.target.loc.file != str(path):
                    continue
                token, value = by_place[offsets[step.target.loc.line - 1] + step.target.loc.column - 1]
                expected = Name.Builtin if callee in VOCABULARY["builtins"]["layers"] else Name.Function
                assert (token, value) == (expected, callee)


def test_text_the_language_cannot_hold_gives_error_tokens():
    for bad in ("conv('a')", "relu @ 2", 'source csv("unterminated'):
        assert any(token in Error for _, token, _ in _tokens(bad + "\n")), bad


def test_the_pygments_entry_point_is_declared_and_found():
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    entry = config["options.entry_points"]["pygments.lexers"].strip()
    assert entry == "dlspec = dlspec.editor.lexer:DlspecLexer"
    from importlib.metadata import entry_points
    if not any(ep.name == "dlspec" for ep in entry_points(group="pygments.lexers")):
        pytest.skip("dlspec is installed without its current entry points: pip install -e .")
    from pygments.lexers import get_lexer_by_name, get_lexer_for_filename
    assert type(get_lexer_by_name("dlspec")).__name__ == "DlspecLexer"
    assert type(get_lexer_for_filename("model.dlspec")).__name__ == "DlspecLexer"


def test_importing_the_lexer_imports_no_torch():
    import subprocess
    code = "import sys, dlspec.editor.lexer; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr


def test_textmate_patterns_match_what_they_name():
    grammar = json.loads(pathlib.Path(textmate.TEXTMATE_FILE).read_text(encoding="utf-8"))
    by_scope = {p.get("name"): re.compile(p["match"]) for p in grammar["patterns"] if "name" in p}
    for name in (n for names in VOCABULARY["builtins"].values() for n in names):
        assert by_scope["support.function.dlspec"].fullmatch(name), name
    for word in VOCABULARY["declarations"]:
        assert by_scope["storage.type.dlspec"].fullmatch(word)
    for word in VOCABULARY["statements"]:
        assert by_scope["keyword.control.dlspec"].fullmatch(word)
    assert by_scope["support.function.dlspec"].search("convx") is None  # whole names only
    assert by_scope["entity.name.function.dlspec"].match("my_pkg.Swish(2)").group() == "my_pkg.Swish"


def test_the_vscode_extension_uses_the_grammar_and_starts_dlspec_lsp():
    package = json.loads((VSCODE / "package.json").read_text(encoding="utf-8"))
    (language,) = package["contributes"]["languages"]
    assert language["extensions"] == [".dlspec"] and (VSCODE / language["configuration"]).is_file()
    (grammar,) = package["contributes"]["grammars"]
    assert (VSCODE / grammar["path"]).resolve() == pathlib.Path(textmate.TEXTMATE_FILE).resolve()
    assert grammar["scopeName"] == json.loads(pathlib.Path(textmate.TEXTMATE_FILE).read_text())["scopeName"]
    command = package["contributes"]["configuration"]["properties"]["dlspec.server.command"]["default"]
    assert command == ["dlspec", "lsp"]
    assert (VSCODE / package["main"]).is_file() and "server.command" in (VSCODE / package["main"]).read_text()
    json.loads((VSCODE / "language-configuration.json").read_text(encoding="utf-8"))
    result = CliRunner().invoke(main, ["lsp", "--help"])
    assert result.exit_code == 0 and "--stdio" in result.output  # VS Code's client adds --stdio

