"""language/values.py: one printer writes every value back as spec text (error messages, explain,
hover, the catalog, tune's --set texts), and the error helpers at the seams (`DlspecError.at`)."""
import pytest

from dlspec.views.catalog import describe
from dlspec.errors import DlspecError, Loc
from dlspec.language.resolve import load_program
from dlspec.language.values import CallValue, Symbol, to_source
from dlspec.schema.args import Arg, convert
from dlspec.schema.settings import Step
from dlspec.views.explain import _cell

SPEC = '''let act = relu
let init = normal(std=0.02)
let path = "a \\"quoted\\" name"
let sizes = [1, 2.5, none, true]
'''


@pytest.mark.parametrize("name, text", [("act", "relu"), ("init", "normal(std=0.02)"),
                                        ("path", '"a \\"quoted\\" name"'), ("sizes", "[1, 2.5, none, true]")])
def test_a_value_is_written_back_as_the_text_that_made_it(name, text):
    program = load_program("<v>", text=SPEC)
    value = program.let_value(name, None)
    assert to_source(value) == text
    assert to_source(load_program("<w>", text=f"let v = {text}").let_value("v", None)) == text


def test_a_dict_key_that_is_no_name_is_quoted():
    assert to_source({"two words": 1, "plain": [Symbol("x"), "y"]}) == '{"two words": 1, plain: [x, "y"]}'


def test_explain_shows_strings_as_they_read():
    value = {"path": "data/x.csv", "log": [Symbol("csv"), "tensorboard"],
             "init": CallValue("normal", (), {"std": 0.02}, None)}
    assert _cell(value) == "{path: data/x.csv, log: [csv, tensorboard], init: normal(std=0.02)}"


def test_an_argument_error_names_a_bare_name_and_quotes_a_string_as_spec_text():
    with pytest.raises(DlspecError) as err:
        convert("flip", Arg("p", "float"), Symbol("half"), None)
    assert err.value.message.endswith("received the name 'half'.")
    with pytest.raises(DlspecError) as err:
        convert("flip", Arg("p", "float"), 'a "b"\tc', None)
    assert err.value.message.endswith('received "a \\"b\\"\\tc".')


def test_the_catalog_writes_a_tab_default_as_an_escape():
    assert 'sep="\\t"' in describe("sources", "text")


def test_a_step_is_a_call_value_with_its_registry_name():
    loc = Loc("<s>", 1, 1)
    step = Step("adam", (), {"lr": 0.1}, loc)
    assert isinstance(step, CallValue) and step.name == step.callee == "adam"
    assert to_source(step) == "adam(lr=0.1)"


def test_at_places_an_error_only_where_it_has_no_position():
    here, there = Loc("<a>", 1, 1), Loc("<b>", 2, 3)
    assert DlspecError("no place").at(here).loc == here
    assert DlspecError("placed", there).at(here).loc == there
    error = DlspecError("same object")
    assert error.at(here) is error
