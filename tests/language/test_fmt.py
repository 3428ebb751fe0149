"""dlspec fmt (dlspec/language/fmt.py): one canonical layout, idempotent, never a change of meaning.

Meaning is compared on what the compiler sees: every model's plan (layers,
arguments, shapes, graph operations; source positions left out), every data
and train block's resolved settings, or the same error when a spec has one.
Cases: every shipped spec, those specs respaced, re-indented and commented
(hypothesis), and the fuzzer's token edits and grammar-generated specs.
"""
from __future__ import annotations

import dataclasses
import re
import warnings

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dlspec
from tests.conftest import ROOT, SPECS
from dlspec.cli import main
from dlspec.errors import DlspecError, Loc, SpecSyntaxError
from dlspec.language.fmt import format_text
from tests.contracts.test_fuzz import TOKEN, corpus_text, edited_spec, generated_spec

CORPUS = sorted(SPECS + list((ROOT / "examples").glob("**/*.dlspec")))
FAST = settings(derandomize=True, database=None, deadline=None, suppress_health_check=list(HealthCheck))


# ---- what a spec means ---------------------------------------------------------

def _plain(value):
    """A value with source positions removed, comparable across layouts."""
    if isinstance(value, Loc):
        return None
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        if hasattr(value, "infer") and hasattr(value, "name"):  # a LayerDef: its name says which
            return ("layer", value.name)
        return (type(value).__name__,) + tuple(
            (f.name, _plain(getattr(value, f.name))) for f in dataclasses.fields(value) if f.name != "loc")
    if isinstance(value, dict):
        return tuple(sorted(((str(k), _plain(v)) for k, v in value.items() if not str(k).endswith("@loc")),
                            key=repr))
    if isinstance(value, (list, tuple)):
        return tuple(_plain(v) for v in value)
    if isinstance(value, (int, float, str, bool, type(None))):
        return value
    return repr(value)


def _error(exc: DlspecError):
    return (type(exc).__name__, re.sub(r":\d+:\d+", ":L:C", exc.message))


def meaning(text: str, filename: str):
    """What the compiler makes of a spec: plans, data and train settings, or its errors."""
    from dlspec.data.config import read_data
    from dlspec.train.config import read_train
    from dlspec.train.measure import Measurements
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            spec = dlspec.loads(text, filename, run_plugins=False)
        except DlspecError as exc:
            return _error(exc)
        out = []
        measurements = Measurements(spec)  # vector(auto), tokens(T): the facts of the data each model trains on
        for name in spec.model_names:
            try:
                out.append(_plain(measurements.plan(name)))
            except DlspecError as exc:
                out.append(_error(exc))
        env = spec.program.global_env()
        for name, decl in spec.program.data.items():
            try:
                out.append(_plain(read_data(decl, env)))
            except DlspecError as exc:
                out.append(_error(exc))
        for name in spec.program.trains:
            try:
                out.append(_plain(read_train(spec, name, measurements=measurements).resolved()))
            except DlspecError as exc:
                out.append(_error(exc))
        return out


def check_format(text: str, filename: str) -> str:
    """Format; the result is a fixed point and means what the input meant. Returns it."""
    formatted = format_text(text, filename)
    assert format_text(formatted, filename) == formatted, f"not idempotent:\n{formatted}"
    assert meaning(formatted, filename) == meaning(text, filename), f"meaning changed:\n{text}\n---\n{formatted}"
    return formatted


# ---- shipped specs -------------------------------------------------------------

@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.name)
def test_shipped_spec_formats_to_a_fixed_point_with_the_same_plan(path):
    text = corpus_text(path)
    formatted = check_format(text, str(path))
    assert all(not (isinstance(m, tuple) and m and str(m[0]).endswith("Error")) for m in meaning(text, str(path)))
    comments = [line.strip() for line in text.splitlines() if line.strip().startswith("#")]
    assert [c for c in comments if c not in formatted] == []  # every comment kept


def test_canonical_layout():
    messy = ('let   w=2*(3+ -1)   # width\n'
             '   block  B( ch , k=3 ){\n'
             'y=input->conv( ch,k ,padding = 1)\n'
             '            -> relu\n\n\n'
             '  # before a continuation\n'
             '  -> batchnorm\n'
             ' add ( y , input )->relu\n'
             '   }\n'
             'model M{\ninput image(1,8,8)\nf:B(4)->torch.nn.ReLU( )\n}\n'
             'train{\n  model M\n  optimizer adam(lr=1e-3,lr_for={f:1e-4})\n  metrics accuracy,\n f1\n'
             '  device cuda:1\n  early_stop monitor = val_loss patience = 2\n}')
    assert format_text(messy) == (
        'let w = 2 * (3 + -1)  # width\n'
        '\n'
        'block B(ch, k=3) {\n'
        '    y = input -> conv(ch, k, padding=1)\n'
        '        -> relu\n'
        '\n'
        '        # before a continuation\n'
        '        -> batchnorm\n'
        '    add(y, input) -> relu\n'
        '}\n'
        '\n'
        'model M {\n'
        '    input image(1, 8, 8)\n'
        '    f: B(4) -> torch.nn.ReLU()\n'
        '}\n'
        '\n'
        'train {\n'
        '    model M\n'
        '    optimizer adam(lr=1e-3, lr_for={f: 1e-4})\n'
        '    metrics accuracy,\n'
        '        f1\n'
        '    device cuda:1\n'
        '    early_stop monitor=val_loss patience=2\n'
        '}\n')


def test_any_call_is_spaced_the_same_way():
    """Search-space calls (or any new callee) need no formatter change: a call is a call."""
    text = 'let lr = loguniform( 1e-4,1e-1 , default = 1e-3 )\nlet n=choice([ 16,32 ],default=32)\n'
    assert format_text(text) == 'let lr = loguniform(1e-4, 1e-1, default=1e-3)\nlet n = choice([16, 32], default=32)\n'


def test_trailing_comments_align_over_a_run_of_lines():
    text = "model M {\n    input vector(4)  # in\n    linear(10) -> relu # a longer line\n\n    relu    # alone\n}\n"
    assert format_text(text).splitlines()[1:5] == ["    input vector(4)     # in",
                                                   "    linear(10) -> relu  # a longer line",
                                                   "",
                                                   "    relu  # alone"]


def test_signs_and_setting_keys_keep_their_meaning():
    text = "train {\n epochs (3)\n seed -1\n}\nlet a = 1 - -2\nlet b = (1)-2\n"
    assert format_text(text) == "train {\n    epochs (3)\n    seed -1\n}\n\nlet a = 1 - -2\nlet b = (1) - 2\n"


def test_syntax_error_is_reported_with_its_location():
    with pytest.raises(SpecSyntaxError) as info:
        format_text("model M {\n    input vector(4\n    linear(2\n}\n", "bad.dlspec")
    assert info.value.report().startswith("bad.dlspec:")


# ---- mutated specs -------------------------------------------------------------------

@st.composite
def respaced(draw):
    """A shipped spec with only whitespace changed: spaces between and around tokens, indentation."""
    path = draw(st.sampled_from(CORPUS))
    text = corpus_text(path)
    out = []
    for tok in TOKEN.findall(text):
        if tok.isspace() and "\n" not in tok:
            out.append(draw(st.sampled_from([" ", "  ", "\t", "   "])))
        elif tok.isspace():
            # as many line breaks (blank lines are the author's: kept, at most one in a row)
            out.append("\n" * tok.count("\n") + draw(st.sampled_from(["", " ", "        ", "\t"])))
        else:
            out.append(tok)
            if not tok.startswith("#") and draw(st.integers(0, 5)) == 0:
                out.append(" ")  # a space where there was none: never joins two tokens
    return str(path), text, "".join(out)


@settings(FAST, max_examples=30)
@given(respaced())
def test_whitespace_never_changes_the_formatted_text(case):
    path, original, text = case
    assert check_format(text, path) == format_text(original, path)


@st.composite
def commented(draw):
    path = draw(st.sampled_from(CORPUS))
    lines = corpus_text(path).splitlines()
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(lines) - 1))
        if draw(st.booleans()):
            lines[i] += "   # note -> ( { , = x"  # a trailing comment holding syntax
        else:
            lines.insert(i, draw(st.sampled_from(["", "    "])) + "# a comment line")
    return str(path), "\n".join(lines) + "\n"


@settings(FAST, max_examples=30)
@given(commented())
def test_comments_stay_and_meaning_holds(case):
    path, text = case
    formatted = check_format(text, path)
    assert formatted.count("# a comment line") == text.count("# a comment line")
    assert formatted.count("# note -> ( { , = x") == text.count("# note -> ( { , = x")


SHIPPED = sorted(SPECS)


@st.composite
def comments_at_any_column(draw):
    """A shipped spec (specs/*.dlspec) with trailing comments put at varied columns (0 to 100 spaces
    after the code, so some reach past column 72), comment lines at varied indentation, blank lines
    added and removed."""
    path = draw(st.sampled_from(SHIPPED))
    lines = corpus_text(path).splitlines()
    out = []
    for line in lines:
        if not line.strip() and draw(st.booleans()):
            continue  # blocks written without a blank line between them: fmt inserts one
        kind = draw(st.sampled_from(["trailing", "trailing", "trailing", "line", "blank", "none"]))
        if kind == "line":
            out.append(" " * draw(st.integers(0, 80)) + "# a line")
        elif kind == "blank":
            out.append(" " * draw(st.integers(0, 4)))
        if kind == "trailing" and "#" not in line and line.strip():
            line += " " * draw(st.integers(0, 100)) + "# at a column" + "x" * draw(st.integers(0, 30))
        out.append(line)
    return str(path), "\n".join(out) + "\n"


@settings(FAST, max_examples=60)
@given(comments_at_any_column())
def test_fmt_is_idempotent_with_comments_at_any_column(case):
    """fmt then fmt --check passes: comments aligned by one pass stay where the next pass puts them
    (a comment aligned to column 72 over a run of lines that the first pass split moved back)."""
    path, text = case
    once = format_text(text, path)
    assert format_text(once, path) == once, f"not idempotent:\n{text}\n--- once ---\n{once}"


def test_comment_alignment_follows_the_lines_as_written_out():
    """Runs of aligned comments are those of the output: the blank line fmt inserts before a model ends a
    run, so `let`'s comment is not aligned with the model line's (the next pass would move it back)."""
    text = "let a = 1" + " " * 60 + "# long\nmodel Model {  # m\n    input vector(4)  # in\n    linear(2) # out\n}\n"
    once = format_text(text)
    assert once == ("let a = 1  # long\n\nmodel Model {  # m\n    input vector(4)  # in\n"
                    "    linear(2)        # out\n}\n")
    assert format_text(once) == once


def _parses(text: str) -> bool:
    try:
        dlspec.language.parser.parse_text(text)
    except DlspecError:
        return False
    return True


@settings(FAST, max_examples=60)
@given(edited_spec())
def test_fuzzer_token_edits_format_without_change_of_meaning(case):
    path, text = case
    if _parses(text):
        check_format(text, path)


@settings(FAST, max_examples=40)
@given(generated_spec())
def test_fuzzer_generated_specs_format_without_change_of_meaning(text):
    check_format(text, str(ROOT / "specs" / "fuzz.dlspec"))


# ---- the command -------------------------------------------------------------------

def test_cli_check_lists_files_and_changes_nothing_then_fmt_rewrites(write_spec):
    messy = write_spec("model M{\ninput vector(4)\nlinear(2)}\n", "messy.dlspec")
    tidy = write_spec("model M {\n    input vector(4)\n    linear(2)\n}\n", "tidy.dlspec")
    before = messy.read_text()
    result = CliRunner().invoke(main, ["fmt", "--check", str(messy), str(tidy)])
    assert result.exit_code == 1
    assert f"would reformat {messy}" in result.output and str(tidy) not in result.output
    assert messy.read_text() == before
    result = CliRunner().invoke(main, ["fmt", str(messy), str(tidy)])
    assert result.exit_code == 0 and f"reformatted {messy}" in result.output
    assert messy.read_text() == "model M {\n    input vector(4)\n    linear(2) }\n"
    result = CliRunner().invoke(main, ["fmt", "--check", str(messy)])
    assert result.exit_code == 0 and "already formatted" in result.output


def test_cli_syntax_error_exits_1_with_caret(write_spec):
    bad = write_spec("model M {\n    input vector(4)\n    linear(2,,)\n}\n")
    result = CliRunner().invoke(main, ["fmt", str(bad)])
    assert result.exit_code == 1
    assert f"{bad}:3:" in result.output and "^" in result.output and "Traceback" not in result.output


# ---- long and deep specs -------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "let a = " + " + ".join(["1"] * 1000) + "\n",
    "let a0 = 1\n" + "".join(f"let a{i} = a{i - 1} + 1\n" for i in range(1, 1000)),
    "let a = " + "+".join(["1"] * 3000) + "\n",
], ids=["sum1000", "let_chain1000", "sum3000_untidy"])
def test_fmt_formats_long_flat_sums_and_let_chains(text):
    """The check that output parses to the same tree walks it without recursion (a flat sum is a deep tree)."""
    formatted = format_text(text)
    assert format_text(formatted) == formatted
    assert formatted.replace(" ", "") == text.replace(" ", "")
