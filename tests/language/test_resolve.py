"""Resolving lets and includes (dlspec/language/resolve.py), through dlspec.load/loads: let arithmetic and
forward references, --set overrides that keep their type, a let cycle, misspelt names with suggestions,
includes relative to the including file, a missing include or spec file named, names declared twice."""
import pytest

import dlspec
from dlspec.errors import ArgumentError, DlspecError, UnknownNameError


def first_linear_out(spec):
    return spec.plan().children[0].args["out"]


def test_let_arithmetic_and_references():
    spec = dlspec.loads("let a = 4\nlet b = a * 2 + 1\nmodel M { input vector(3); linear(b // 2) }")
    assert first_linear_out(spec) == 4


def test_lets_may_be_declared_after_use():
    spec = dlspec.loads("model M { input vector(3); linear(w) }\nlet w = 5")
    assert first_linear_out(spec) == 5


@pytest.mark.parametrize("value, expected", [("7", 7), ("3 * 4", 12)])
def test_set_overrides_keep_their_type(value, expected):
    spec = dlspec.loads("let w = 5\nmodel M { input vector(3); linear(w) }", overrides={"w": value})
    out = first_linear_out(spec)
    assert out == expected and isinstance(out, int)


def test_override_of_a_float_stays_a_float():
    spec = dlspec.loads("let p = 0.5\nmodel M { input vector(3); dropout(p) }", overrides={"p": "0.25"})
    assert spec.plan().children[0].args["p"] == 0.25


def test_override_of_an_unknown_let_suggests():
    with pytest.raises(UnknownNameError, match="Did you mean 'width'"):
        dlspec.loads("let width = 5\nmodel M { input vector(3); linear(width) }", overrides={"widht": 3})


def test_let_cycle_is_an_error():
    with pytest.raises(DlspecError, match="depends on itself"):
        dlspec.loads("let a = b + 1\nlet b = a\nmodel M { input vector(3); linear(a) }").plan()


def test_arithmetic_on_an_unknown_name_suggests():
    with pytest.raises(ArgumentError, match="unknown name 'widht'.*Did you mean 'width'"):
        dlspec.loads("let width = 5\nmodel M { input vector(3); linear(widht * 2) }").plan()


def test_include_is_relative_to_the_including_file(write_spec, tmp_path):
    (tmp_path / "lib").mkdir()
    write_spec("block Head(n) { linear(n) }", "lib/blocks.dlspec")
    write_spec('include "blocks.dlspec"\nlet n = 3', "lib/mid.dlspec")
    path = write_spec('include "lib/mid.dlspec"\nmodel M { input vector(4); Head(n) }')
    assert dlspec.load(path).plan().out_shape.dims == (3,)


def test_missing_include_names_the_line(write_spec):
    path = write_spec('let a = 1\ninclude "nope.dlspec"')
    with pytest.raises(DlspecError) as info:
        dlspec.load(path)
    assert info.value.line == 2 and "file not found" in info.value.message


def test_duplicate_names_are_refused():
    with pytest.raises(DlspecError, match="declared twice") as info:
        dlspec.loads("model M { input vector(1); relu }\nblock M() { relu }")
    assert info.value.line == 2


def test_missing_spec_file_is_a_dlspec_error(tmp_path):
    with pytest.raises(DlspecError, match="file not found"):
        dlspec.load(tmp_path / "nothing.dlspec")
