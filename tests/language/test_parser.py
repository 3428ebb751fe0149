"""The parser (dlspec/language/parser.py, ir.py): spec text to the IR. Chains written with arrows, lines or
semicolons and continued over lines parse alike, locations are recorded, every declaration kind and setting
body survives, literals keep their values, and syntax errors point at file:line:col with what was expected."""
import pytest

from dlspec.language import ir
from dlspec.errors import SpecSyntaxError
from dlspec.language.parser import parse_expression, parse_text


def model_steps(text):
    spec = parse_text(text)
    body = [d for d in spec.decls if isinstance(d, ir.ModelDecl)][0].body
    return [s for st in body.statements if isinstance(st, ir.Chain) for s in st.steps]


def callees(steps):
    return [s.target.callee if isinstance(s.target, ir.Call) else s.target.name for s in steps]


def test_chains_lines_and_semicolons_are_equivalent():
    one = model_steps("model M {\n input vector(4)\n linear(3) -> relu -> linear(2)\n}")
    many = model_steps("model M {\n input vector(4)\n linear(3)\n relu; linear(2)\n}")
    assert callees(one) == callees(many) == ["linear", "relu", "linear"]


@pytest.mark.parametrize("text", [
    "model M {\n input vector(4)\n linear(3) ->\n   relu\n}",
    "model M {\n input vector(4)\n linear(3)\n   -> relu\n}",
    "model M {\n input vector(4)\n linear(3)  # comment\n   # another\n   -> relu\n}",
    "model M {\n input vector(4)\n linear(\n 3\n ) -> relu\n}",
])
def test_line_continuation(text):
    assert callees(model_steps(text)) == ["linear", "relu"]


def test_locations_are_recorded():
    steps = model_steps("model M {\n    input vector(4)\n    linear(3)\n}")
    assert (steps[0].target.loc.line, steps[0].target.loc.column) == (3, 5)


def test_every_declaration_kind_survives():
    text = '''
let w = 2 * (3 + 1)
use "plugin.py"
use my_pkg.layers
include "other.dlspec"
block B(ch, drop=0.1) { conv(ch, 3) }
model M { input image(1, 8, 8); B(w) }
data d { source sklearn_digits; split train=0.8 test=0.2 seed=0 }
train { model M; data d; optimizer adam(lr=1e-3, lr_for={backbone: 1e-4}); metrics accuracy, f1 }
'''
    kinds = [type(d).__name__ for d in parse_text(text).decls]
    assert kinds == ["LetDecl", "UseDecl", "UseDecl", "IncludeDecl", "BlockDecl", "ModelDecl", "DataDecl", "TrainDecl"]
    train = parse_text(text).decls[-1]
    opt = train.settings[2].args[0]
    assert opt.callee == "adam" and [k.name for k in opt.kwargs] == ["lr", "lr_for"]


def test_setting_body_holds_chains():
    text = "data d {\n transform {\n  resize(32)\n  normalize(mean=[0.5], std=[0.5])\n }\n augment { flip(horizontal) }\n}"
    settings = parse_text(text).decls[0].settings
    assert [s.key for s in settings] == ["transform", "augment"]
    assert [c.steps[0].target.callee for c in settings[0].body] == ["resize", "normalize"]


def test_expression_literals():
    assert parse_expression("1e-3").value == 0.001
    assert parse_expression("7").value == 7
    assert parse_expression('"a\\"b"').value == 'a"b'
    assert parse_expression("true").value is True and parse_expression("none").value is None


@pytest.mark.parametrize("text, line, column, words", [
    ("model M {\n input vector(4)\n linear(3 4)\n}", 3, 11, "expected ')', ','"),
    ("model M {\n input vector(4)\n linear(3\n", 3, 8, "'(' is never closed"),
    ("model M {\n input vector(4)\n", 1, 9, "'{' is never closed"),
    ("model M {\n input vector(4)\n linear(3\n}", 3, 8, "'(' is never closed; expected ')' before the '}' at line 4"),
    ("model M {\n input vector(4)\n linear(\x01 3)\n}", 3, 9, "stray control character U+0001"),
    ("model M {\n input vector(4)\n linear('3')\n}", 3, 9, "strings use double quotes"),
])
def test_syntax_errors_point_at_the_spot(text, line, column, words):
    with pytest.raises(SpecSyntaxError) as info:
        parse_text(text, "bad.dlspec")
    err = info.value
    assert (err.file, err.line, err.column) == ("bad.dlspec", line, column)
    assert words in err.message
    report = err.report().splitlines()
    assert report[0].startswith(f"bad.dlspec:{line}:{column}: syntax error:")
    assert report[2].index("^") - 4 == column - 1


@pytest.mark.parametrize("line, column, hint", [
    ("    output = input -> linear(2)", 12, "an output has a name: output NAME = CHAIN"),
    ("    y = = input -> linear(2)", 9, "'=' binds a name"),
])
def test_an_output_without_a_name_is_told_to_name_it(line, column, hint):
    """`output = CHAIN` (a Keras user's unnamed output) is a syntax error whose hint shows the named form."""
    with pytest.raises(SpecSyntaxError) as info:
        parse_text(f"model M {{\n    input vector(4)\n{line}\n}}\n", "bad.dlspec")
    assert (info.value.line, info.value.column) == (3, column)
    assert info.value.hint.startswith(hint), info.value.hint
