"""Several errors at once: language/recovery.py (syntax errors past the first) and
diagnostics.py (every model, data and train block checked on its own), through
`dlspec compile` and the Python API."""
import re

import pytest
from click.testing import CliRunner

import dlspec
from dlspec import api, diagnostics
from dlspec.cli import main
from dlspec.errors import MAX_REPORTED_ERRORS, DlspecErrors, ShapeError, SpecSyntaxError, UnknownNameError
from dlspec.language import ir
from dlspec.language.recovery import parse_recovering
from dlspec.layers.registry import LAYERS

from tests.conftest import DATA_AND_METRIC, SPECS, THREE_MISTAKES

def _located(output: str) -> list:
    """(line, column) of every report in a CLI output, in the order printed."""
    return [(int(m.group(1)), int(m.group(2))) for m in re.finditer(r"^\S+?:(\d+):(\d+): ", output, re.M)]


def test_three_unrelated_mistakes_are_reported_in_line_order_each_with_its_caret(write_spec):
    path = write_spec(THREE_MISTAKES)
    result = CliRunner().invoke(main, ["compile", str(path)])
    assert result.exit_code == 1
    assert _located(result.output) == [(3, 9), (8, 27), (12, 5)]
    lines = result.output.splitlines()
    starts = [i for i, line in enumerate(lines) if re.match(r"^\S+:\d+:\d+: ", line)]
    for i, (line, column) in zip(starts, _located(result.output)):
        assert lines[i + 1].strip() == THREE_MISTAKES.splitlines()[line - 1].strip()  # the line as written
        assert lines[i + 2].index("^") - 4 == column - 1
    assert "syntax error: '(' is never closed" in result.output
    assert "unknown layer or block 'lienar'. Did you mean 'linear'?" in result.output
    assert "shape error: conv needs a channels-first input" in result.output
    assert result.output.rstrip().endswith("3 errors")
    assert "Traceback" not in result.output


def test_the_python_api_raises_them_all_and_diagnose_returns_them(write_spec):
    path = write_spec(THREE_MISTAKES)
    with pytest.raises(DlspecErrors) as caught:
        api.compile_spec(path)
    kinds = [type(e) for e in caught.value.errors]
    assert kinds == [SpecSyntaxError, UnknownNameError, ShapeError]
    assert caught.value.loc.line == 3  # reads as the first error where one is expected
    diagnosis = dlspec.diagnose(path)
    assert [e.line for e in diagnosis.errors] == [3, 8, 12] and not diagnosis.ok
    assert set(diagnosis.plans) == {"A", "B", "C"}  # A without its cut line, B and C past their failing steps


def test_one_error_is_raised_as_itself(write_spec):
    path = write_spec("model M {\n    input vector(4)\n    conv(2, 3)\n}\n")
    with pytest.raises(ShapeError) as caught:
        api.compile_spec(path)
    assert not isinstance(caught.value, DlspecErrors)
    result = CliRunner().invoke(main, ["compile", str(path)])
    assert result.exit_code == 1 and "errors" not in result.output


def test_several_syntax_errors_in_one_model_are_all_found():
    text = "model M {\n    input vector(4)\n    linear(4 5)\n    relu )\n    linear(2) linear(3)\n}\n"
    found = parse_recovering(text, "m.dlspec")
    assert [(e.line, e.column) for e in found.errors] == [(3, 14), (4, 10), (5, 15)]
    assert found.spec is not None
    assert found.text.split("\n")[0] == "model M {"  # only the broken statements were cut
    assert [e.loc.text for e in found.errors] == [text] * 3  # carets quote the text as written


def test_a_brace_left_open_is_reported_at_the_brace_and_the_next_declaration_still_checked():
    # The parser notices the missing '}' only at `model N` (as "unexpected 'N'"); the report
    # points at the brace instead, and model N is parsed on its own.
    text = "model M {\n    input vector(4)\n    repeat 2 { linear(4)\n}\nmodel N {\n    input vector(4)\n    linear(2]\n}\n"
    found = parse_recovering(text, "m.dlspec")
    assert [(e.line, e.column) for e in found.errors] == [(1, 9), (7, 11)]
    assert found.errors[0].message == "'{' is never closed; expected '}' before the 'model' at line 5"
    assert found.in_broken(1) and found.in_broken(4) and found.in_broken(7)
    assert found.text.split("\n")[4:6] == ["model N {", "    input vector(4)"]


def test_an_error_in_a_cut_block_does_not_reappear_in_the_models_using_it(write_spec):
    text = ("block B(ch) {\n    conv(ch, 3, padding=1 -> relu\n    conv(ch, 3, padding=1)\n}\n"
            "model M {\n    input image(3, 8, 8)\n    B(4) -> flatten -> linear(2)\n}\n"
            "model N {\n    input vector(3)\n    lnear(2)\n}\n")
    diagnosis = dlspec.diagnose(write_spec(text))
    assert [(type(e), e.line) for e in diagnosis.errors] == [(SpecSyntaxError, 2), (UnknownNameError, 11)]


def test_a_wholly_cut_declaration_leaves_no_unknown_name_behind(write_spec):
    text = ("let width = (3\nmodel M {\n    input vector(4)\n    linear(width)\n}\n"
            "model N {\n    input vector(3)\n    conv(2, 3)\n}\n")
    diagnosis = dlspec.diagnose(write_spec(text))
    assert [e.line for e in diagnosis.errors] == [1, 8]


def test_errors_stop_at_the_cap(write_spec):
    body = "\n".join(f"    lnear{i}(3)" for i in range(MAX_REPORTED_ERRORS + 5))
    path = write_spec(f"model M {{\n    input vector(4)\n{body}\n}}\n")
    result = CliRunner().invoke(main, ["compile", str(path)])
    assert result.exit_code == 1
    assert len(_located(result.output)) == MAX_REPORTED_ERRORS
    assert _located(result.output) == sorted(_located(result.output))
    assert result.output.rstrip().endswith(f"{MAX_REPORTED_ERRORS} errors; stopped after the first "
                                           f"{MAX_REPORTED_ERRORS}")
    many_syntax = "\n".join(f"let x{i} = (" for i in range(MAX_REPORTED_ERRORS + 5))
    found = parse_recovering(many_syntax, "s.dlspec")
    assert len(found.errors) == MAX_REPORTED_ERRORS and found.more


def test_later_shape_errors_after_a_replaced_step_are_not_reported(write_spec):
    # lnear(6) becomes identity; reshape(2, 3) then sees 4 values: a consequence, not a mistake
    text = "model M {\n    input vector(4)\n    lnear(6) -> reshape(2, 3)\n}\n"
    diagnosis = dlspec.diagnose(write_spec(text))
    assert [e.line for e in diagnosis.errors] == [3] and isinstance(diagnosis.errors[0], UnknownNameError)


def test_warnings_are_collected_with_their_places(write_spec):
    text = "model M {\n    input vector(4)\n    y = input -> linear(3)\n    input -> linear(2)\n}\n"
    diagnosis = dlspec.diagnose(write_spec(text))
    assert diagnosis.ok
    assert [w.loc.line for w in diagnosis.warnings] == [3]


# ---- every shipped spec, with a mistake in each declaration ------------


def _first_layer_steps(program) -> list:
    """The Loc of the first layer call of every model and block of a program (its main file only)."""
    locs = []
    for decl in list(program.blocks.values()) + list(program.models.values()):
        steps = [s for st in decl.body.statements
                 for s in (st.chain.steps if isinstance(st, ir.Binding) else getattr(st, "steps", ()))]
        for s in steps:
            callee = getattr(s.target, "callee", getattr(s.target, "name", None))
            if callee and (LAYERS.find(callee) or callee.startswith(("torch.", "torchvision."))):
                locs.append((s.target.loc, callee))
                break
    return [(loc, callee) for loc, callee in locs if loc.file == program.filename]


def _source_names(program) -> list:
    return [(s.args[0].loc, getattr(s.args[0], "callee", getattr(s.args[0], "name", "")))
            for decl in program.data.values() for s in decl.settings if s.key == "source"]


def _misspell(text: str, places: list) -> str:
    lines = text.split("\n")
    for loc, name in sorted(places, key=lambda p: (p[0].line, -p[0].column)):
        line = lines[loc.line - 1]
        at = loc.column - 1 + len(name)
        assert line[loc.column - 1:at] == name
        lines[loc.line - 1] = line[:at] + "zz" + line[at:]
    return "\n".join(lines)


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.name)
def test_every_shipped_spec_reports_each_of_its_mistakes(path, tmp_path):
    program = dlspec.load(path).program
    places = _first_layer_steps(program) + _source_names(program)
    text = _misspell(path.read_text(encoding="utf-8"), places).rstrip("\n")
    extra_model = len(text.split("\n")) + 4  # the conv line of the model appended below
    text += "\n\nmodel Extra_ {\n    input vector(4)\n    conv(2, 3)\n}\nlet = 3\n"
    mutated = path.parent / f"_mutated_{path.name}"  # beside the original, so its relative paths still resolve
    try:
        mutated.write_text(text, encoding="utf-8")
        diagnosis = dlspec.diagnose(mutated)
        result = CliRunner().invoke(main, ["compile", str(mutated)])
    finally:
        mutated.unlink()
    expected = sorted([loc.line for loc, _ in places] + [extra_model, extra_model + 2])
    assert [e.line for e in diagnosis.errors] == expected, [e.report() for e in diagnosis.errors]
    assert all(isinstance(e, UnknownNameError) for e in diagnosis.errors if e.line < extra_model)
    assert isinstance(diagnosis.errors[-1], SpecSyntaxError) and isinstance(diagnosis.errors[-2], ShapeError)
    assert result.exit_code == 1 and [line for line, _ in _located(result.output)] == expected
    assert result.output.count("^") == len(expected)


# ---- the fuzzer's specs: diagnose never crashes and agrees with the one-error path ----

def _first_error_path_fails(text: str, filename: str) -> bool:
    """Whether load, plan (each model) or the block checks raise, as before this module existed."""
    from dlspec.errors import DlspecError
    from dlspec.train.measure import Measurements
    try:
        spec = dlspec.loads(text, filename)
        measurements = Measurements(spec)  # vector(auto): the data of the first train block linking the model
        for name in spec.model_names:
            measurements.plan(name)
        diagnostics.check_blocks(spec, measurements=measurements)
    except DlspecError:
        return True
    return False


def _diagnose_agrees(text: str) -> None:
    import warnings
    from dlspec.errors import DlspecError
    import tests.contracts.test_fuzz as fuzz
    filename = str(fuzz.ROOT / "specs" / "fuzz.dlspec")
    with warnings.catch_warnings(), fuzz.time_limit(4 * fuzz.FUZZ_SECONDS):
        warnings.simplefilter("ignore")
        found = dlspec.diagnose(filename, text=text)
        assert all(isinstance(e, DlspecError) and e.report() for e in found.errors)
        places = [(e.loc is None, e.file != filename, e.file or "", e.line or 0, e.column or 0) for e in found.errors]
        assert places == sorted(places)
        assert found.ok != _first_error_path_fails(text, filename), text
        assert len(found.errors) <= MAX_REPORTED_ERRORS


@pytest.mark.slow
def test_fuzzed_specs_never_crash_diagnose_and_agree_with_the_first_error():
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
    import tests.contracts.test_fuzz as fuzz  # its strategies: token edits of every shipped spec, specs from the grammar

    @settings(derandomize=True, database=None, deadline=None, max_examples=100,
              suppress_health_check=list(HealthCheck))
    @given(st.one_of(fuzz.edited_spec().map(lambda case: case[1]), fuzz.generated_spec()))
    def run(text):
        _diagnose_agrees(text)
    run()


def test_a_vector_auto_model_whose_data_fails_still_reports_its_own_mistakes(tmp_path):
    (tmp_path / "m.dlspec").write_text('model M {\n    input vector(auto)\n    linear(8) -> reluu\n    linear(1)\n}\n'
                                       'data d {\n    source csv("missing.csv", target="y")\n}\n'
                                       'train { model M; data d; loss mse }\n')
    diagnosis = dlspec.diagnose(tmp_path / "m.dlspec")
    assert [e.line for e in diagnosis.errors] == [3, 7], [e.report() for e in diagnosis.errors]
    assert "unknown layer or block 'reluu'" in diagnosis.errors[0].message
    assert "missing.csv" in diagnosis.errors[1].message


# ---- data and train blocks: each mistake, also when a linked block has its own ----



def test_a_misspelt_metric_is_reported_while_the_data_block_has_an_error(write_spec):
    path = write_spec(DATA_AND_METRIC)
    diagnosis = dlspec.diagnose(path)
    assert [(e.line, e.column) for e in diagnosis.errors] == [(6, 12), (12, 23)], [e.report() for e in diagnosis.errors]
    assert "unknown data source 'sklearn_digit'. Did you mean 'sklearn_digits'?" in diagnosis.errors[0].message
    assert "unknown metric 'acuracy'. Did you mean 'accuracy' or 'pixel_accuracy'?" in diagnosis.errors[1].message
    result = CliRunner().invoke(main, ["compile", str(path)])
    assert result.exit_code == 1 and _located(result.output) == [(6, 12), (12, 23)]
    assert result.output.rstrip().endswith("2 errors")


def test_independent_mistakes_of_one_data_block_and_one_train_block_are_all_reported(write_spec):
    text = ("model M {\n    input image(1, 8, 8)\n    flatten -> linear(10)\n}\n"
            "data d {\n    source sklearn_digits\n    split train=0.8 val=0.3\n    transform normalise\n    batchh 4\n}\n"
            "train {\n    model M\n    data d\n    optimizer adamm(lr=0.1)\n    metrics acuracy\n    schedule cosin\n}\n")
    diagnosis = dlspec.diagnose(write_spec(text))
    assert [e.line for e in diagnosis.errors] == [7, 8, 9, 14, 15, 16], [e.report() for e in diagnosis.errors]
    messages = [e.message for e in diagnosis.errors]
    assert "split fractions must add up to 1" in messages[0] and "'transform' takes a body" in messages[1]
    assert "unknown data setting 'batchh'" in messages[2] and "'adamm'" in messages[3]
    assert "'acuracy'" in messages[4] and "'cosin'" in messages[5]


def test_a_left_out_setting_brings_no_consequence_of_its_own(write_spec):
    # Without `model N` (misspelt), the train block would pick between two models: that is not reported.
    text = ("model A {\n    input vector(4)\n    linear(2)\n}\nmodel B {\n    input vector(4)\n    linear(2)\n}\n"
            "data d {\n    source sklearn_digits\n}\ntrain {\n    model N\n    data d\n    metrics acuracy\n}\n")
    diagnosis = dlspec.diagnose(write_spec(text))
    assert [e.line for e in diagnosis.errors] == [13, 15], [e.report() for e in diagnosis.errors]
    assert "no model named 'N'" in diagnosis.errors[0].message


@pytest.mark.parametrize("start, message", [
    ("lfet", "'lfet' is not an input, binding or layer of this model. Did you mean 'left'?"),
    ("input", "this model has 2 inputs (left, right): `input` does not say which"),
])
def test_a_bad_chain_start_with_several_inputs_is_one_error_not_two(write_spec, start, message):
    # the failing start is replaced by `identity`, which alone has no previous result to continue: that is
    # the stand-in starts from an input instead, so no second error of its own, and a real later mistake is still found
    text = ("model M {\n    input left: vector(4)\n    input right: vector(4)\n"
            f"    a = {start} -> linear(4)\n    b = right -> lienar(4)\n    concat(a, b) -> linear(2)\n}}\n")
    result = CliRunner().invoke(main, ["compile", str(write_spec(text))])
    assert result.exit_code == 1
    assert message in result.output
    assert "there is none yet" not in result.output
    assert "unknown layer or block 'lienar'" in result.output
    assert _located(result.output) == [(4, 9), (5, 18)]
    assert result.output.rstrip().endswith("2 errors")


def test_a_mistake_inside_an_output_chain_does_not_hide_the_next_one(write_spec):
    text = ("model M {\n    input x: vector(4)\n    output a = x -> lienar(4)\n"
            "    output b = x -> relu(inplace=maybe)\n}\n")
    result = CliRunner().invoke(main, ["compile", str(write_spec(text))])
    assert result.exit_code == 1
    assert "unknown layer or block 'lienar'" in result.output
    assert _located(result.output) == [(3, 21), (4, 26)]


@pytest.mark.parametrize("line, message", [
    ("linear(2)", "there is none yet"),
    ("matmul(a, b, c)", "matmul: 'c' is not a bound name, param or input."),
    ("output o = matmul(a -> reshape(2, 2), b -> reshape(4, 1))", "the last axis of the first operand (2)"),
])
def test_an_input_read_only_by_a_stood_in_step_is_not_reported_unused(write_spec, line, message):
    # the failing step is replaced to find later mistakes; the input it read is then unread, by the stand-in
    text = f"model M {{\n    input a: vector(4)\n    input b: vector(4)\n    {line}\n}}\n"
    result = CliRunner().invoke(main, ["compile", str(write_spec(text))])
    assert result.exit_code == 1
    assert message in result.output
    assert "never used" not in result.output
    assert len(_located(result.output)) == 1


SEVERAL_OUTPUTS = """model Listing {
    input photo: vector(6)
    input facts: vector(2)
    h = concat(photo, facts) -> linear(16) -> relu
    output price = h -> linear(1)
    output kind = h -> linear(3)
}
data d {
    source tests.helpers.multitask_data.Listing(n=48)
    split train=0.5 val=0.25 test=0.25
}
train {
    loss price: mse, kind: cross_entropy
    METRICS
    early_stop monitor=MONITOR
}
"""


@pytest.mark.parametrize("metrics, monitor, expected", [
    ("metrics pirce: mae, kind: accuracy", "val_price_mae", [(14, 13, "model Listing has no output 'pirce'")]),
    ("metrics price: mae, kind: acuracy", "val_kind_accuracy", [(14, 31, "unknown metric 'acuracy'")]),
    ("metrics price: mae, kind: accuracy", "val_kind_acuracy",
     [(15, 5, "early_stop monitors 'val_kind_acuracy', which is not recorded")]),
])
def test_a_monitor_of_a_mistaken_metrics_line_is_not_a_second_error(write_spec, metrics, monitor, expected):
    """Left out after its error, the metrics line records no columns; the monitor naming one of them is its
    consequence, not a mistake of its own. A monitor misspelt by itself is still reported."""
    path = write_spec(SEVERAL_OUTPUTS.replace("METRICS", metrics).replace("MONITOR", monitor))
    errors = dlspec.diagnose(path).errors
    assert [(e.line, e.column) for e in errors] == [(line, column) for line, column, _ in expected]
    assert all(text in e.message for e, (_, _, text) in zip(errors, expected)), [e.message for e in errors]
