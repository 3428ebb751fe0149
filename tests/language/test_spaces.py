"""Search spaces in the language (language/spaces.py, resolve.py, tuning/check.py): what a space reads as,
that its default is used wherever a let can be, and every mistake as a located error."""
import math

import pytest
from hypothesis import given, settings, strategies as st

import dlspec
from dlspec.api import compile_spec
from dlspec.diagnostics import check_blocks
from dlspec.errors import DlspecError
from dlspec.language import ir
from dlspec.language.parser import parse_expression, parse_text
from dlspec.language.resolve import load_program
from dlspec.language.values import to_source

SPACES = """\
let lr = loguniform(1e-4, 1e-1, default=1e-3)   # learning rate
let width = choice(16, 32, 64, default=32)
let depth = int(1, 3, default=2)
let drop = uniform(0, 0.5, default=0.25)
let batch = choice(32, 64, default=64)
let angle = uniform(0.0, 20.0, default=10.0)
let epochs = int(1, 5, default=3)
let flip_dir = choice(horizontal, vertical, default=vertical)

model M {
    input image(1, 8, 8)
    flatten
    repeat depth { linear(width) -> relu }
    dropout(drop) -> linear(10)
}
data d {
    source sklearn_digits
    split train=0.7 val=0.15 test=0.15
    batch batch
    augment { rotate(angle) -> flip(flip_dir) }
}
train { model M; data d; optimizer adam(lr=lr); epochs epochs; early_stop monitor=val_accuracy; metrics accuracy }
"""


def test_each_kind_parses_to_a_search_space_only_as_the_whole_let_value():
    decls = parse_text(SPACES).decls
    kinds = {d.name: d.value.kind for d in decls if isinstance(d, ir.LetDecl) and isinstance(d.value, ir.SearchSpace)}
    assert kinds == {"lr": "loguniform", "width": "choice", "depth": "int", "drop": "uniform", "batch": "choice",
                     "angle": "uniform", "epochs": "int", "flip_dir": "choice"}
    assert isinstance(parse_text("let x = choice(1, 2) * 2").decls[0].value, ir.BinOp)


def test_spaces_are_read_with_bounds_options_and_defaults():
    spaces = load_program("<s>", text=SPACES).spaces
    assert (spaces["lr"].low, spaces["lr"].high, spaces["lr"].default) == (1e-4, 1e-1, 1e-3)
    assert spaces["width"].options == (16, 32, 64) and spaces["width"].default == 32
    assert spaces["drop"].low == 0.0 and isinstance(spaces["drop"].low, float)  # uniform samples reals
    assert spaces["depth"].points() == [2, 1, 3]
    assert spaces["width"].points() == [32, 16, 64]
    assert spaces["flip_dir"].describe() == "choice(horizontal, vertical, default=vertical)"


def test_defaults_reach_layers_repeats_data_augmentation_and_train_settings():
    spec = dlspec.loads(SPACES)
    plan = spec.plan("M")
    linears = [n for n in plan.children if n.layer.name == "linear"]
    assert [n.args["out"] for n in linears] == [32, 32, 10]  # depth 2 repeats of width 32
    assert next(n for n in plan.children if n.layer.name == "dropout").args["p"] == 0.25
    from dlspec.train.config import read_train
    cfg = read_train(spec)
    assert cfg.data.batch == 64 and cfg.epochs == 3 and cfg.optimizer[1]["lr"] == 1e-3
    assert [args for _, args, _ in cfg.data.augment] == [{"degrees": 10.0}, {"direction": "vertical", "p": 0.5}]


def test_set_overrides_a_space():
    spec = dlspec.loads(SPACES, overrides={"width": "64", "depth": "1"})
    assert [n.args["out"] for n in spec.plan("M").children if n.layer.name == "linear"] == [64, 10]


def test_a_space_without_default_names_its_let_and_the_set_that_gives_it_a_value(tmp_path):
    path = tmp_path / "s.dlspec"
    path.write_text(SPACES.replace("default=1e-3", "").replace(", )", ")").replace("1e-1, )", "1e-1)"))
    with pytest.raises(DlspecError) as err:
        dlspec.fit(str(path), out=str(tmp_path / "run"))
    report = err.value.report()
    assert "let 'lr' is a search space (loguniform(0.0001, 0.1)) without a default" in report
    assert "--set lr=0.0001" in report and err.value.line == 1 and err.value.column == 5
    assert not (tmp_path / "run").exists()
    compile_spec(str(path))  # compile checks the space (low end first) and needs no default


@pytest.mark.parametrize("text, message, line, column", [
    ("let x = 1\nmodel M { input vector(4); dropout(uniform(0.1, 0.5, default=0.2)) }",
     "uniform(...) is a search space; a search space must be the whole value of a `let`", 2, 36),
    ("train { optimizer adam(lr=loguniform(1e-4, 1e-1)) }", "loguniform(...) is a search space", 1, 27),
    ("let lr = loguniform(1e-4, 1e-1) * 2", "must be the whole value of a `let`", 1, 10),
    ("let lr = loguniform(0, 1e-1)", "loguniform needs bounds > 0", 1, 21),
    ("let lr = loguniform(1e-2, -1)", "loguniform needs bounds > 0", 1, 27),
    ("let d = uniform(0.5, 0.5)", "needs low < high, received low=0.5, high=0.5", 1, 22),
    ("let n = int(4, 2)", "needs low < high", 1, 16),
    ("let w = choice()", "choice() needs at least one option", 1, 9),
    ("let w = choice(16, 32, 16)", "choice lists 16 twice", 1, 24),
    ("let n = int(1.5, 4)", "int() bounds must be an integer, received 1.5", 1, 13),
    ("let n = int(1)", "int(low, high) takes two bounds, received 1", 1, 9),
    ("let n = int(1, 4, defualt=2)", "int() has no argument 'defualt'. Did you mean 'default'?", 1, 19),
    ("let n = int(1, 4, default=7)", "default=7 is outside int(1, 4)", 1, 27),
    ("let w = choice(16, 32, default=8)", "default=8 is not one of the options (16, 32)", 1, 32),
    ("let a = int(1, 4, default=2)\nlet b = int(a, 8, default=5)", "the search space 'b' uses 'a'", 2, 13),
    ("let a = choice(\"x\", 2, default=x)", "default=x is not one of the options", 1, 32),
])
def test_bad_spaces_are_located_errors(text, message, line, column):
    with pytest.raises(DlspecError) as err:
        spec = dlspec.loads(text)
        spec.check()
        check_blocks(spec)
    assert message in err.value.message, err.value.report()
    assert (err.value.line, err.value.column) == (line, column), err.value.report()


def test_compile_reports_a_choice_that_breaks_a_merge_at_its_option(write_spec):
    path = write_spec("let width = choice(16, 32, 64, default=32)\n"
                      "model M {\n    input image(1, 8, 8)\n    a = conv(width, 3, padding=1)\n"
                      "    b = input -> conv(32, 3, padding=1)\n    add(a, b) -> flatten -> linear(10)\n}\n")
    with pytest.raises(DlspecError) as err:
        compile_spec(str(path))
    assert (err.value.line, err.value.column) == (1, 20)  # the 16
    assert "with width = 16 the spec does not work: add of a [C=16, H=8, W=8] and b [C=32, H=8, W=8]: C 16 against 32" in err.value.message
    assert f"(at {path}:6:5)" in err.value.message and err.value.kind == "shape error"
    compile_spec(str(path), overrides={"width": "32"})  # fixed by --set: nothing left to search


def test_compile_reports_the_end_of_a_range_that_breaks_the_model(write_spec):
    path = write_spec("let k = int(1, 9, default=3)\nmodel M { input image(1, 8, 8); conv(4, k) -> flatten -> "
                      "linear(2) }\n")
    with pytest.raises(DlspecError) as err:
        compile_spec(str(path))
    assert (err.value.line, err.value.column) == (1, 16) and "with k = 9" in err.value.message


def test_a_data_setting_outside_its_range_is_reported_at_the_let(write_spec):
    path = write_spec(SPACES.replace("let batch = choice(32, 64, default=64)", "let batch = choice(0, 64, default=64)"))
    with pytest.raises(DlspecError) as err:
        compile_spec(str(path))
    assert err.value.line == 5 and "with batch = 0" in err.value.message


def test_a_set_value_that_is_a_space_is_not_evaluated():
    assert isinstance(parse_expression("choice(1, 2)"), ir.SearchSpace)


@settings(max_examples=60, deadline=None)
@given(st.one_of(st.floats(allow_nan=False, allow_infinity=False, width=64), st.integers(-2 ** 62, 2 ** 62),
                 st.booleans(), st.none(), st.text(max_size=8),
                 st.lists(st.integers(-5, 5), max_size=3)))
def test_to_source_reads_back_as_the_same_value(value):
    back = load_program("<v>", text=f"let v = {to_source(value)}").let_value("v", None)
    if isinstance(value, float) and math.copysign(1, value) < 0 and value == 0:
        assert back == 0
    else:
        assert back == value and type(back) is type(value)
