"""A keyword argument written twice is an error at the second one, wherever a call is written: a data
source, a transform, an optimizer, a setting's keywords, a search space (layers: tests of planning)."""
import pytest

import dlspec
from dlspec.data.config import read_data
from dlspec.errors import DlspecError
from dlspec.train.config import read_train


def data_config(text, folder):
    spec = dlspec.loads(text, str(folder / "spec.dlspec"))
    return read_data(next(iter(spec.program.data.values())), spec.program.global_env())


@pytest.mark.parametrize("setting, message", [
    ("transform { normalize(auto, std=1, std=2) }", "normalize: argument 'std' given twice"),
    ("split train=0.5 train=0.6", "'split': argument 'train' given twice"),
])
def test_a_repeated_keyword_is_an_error_at_the_second_one(tmp_path, setting, message):
    (tmp_path / "t.csv").write_text("a,b,y\n1,2,3\n")
    with pytest.raises(DlspecError, match=message) as info:
        data_config(f'data d {{ source csv("t.csv", target="y")\n  {setting} }}', tmp_path)
    assert (info.value.loc.line, info.value.loc.column) == (2, 3 + setting.rindex(message.split("'")[-2] + "="))


def test_a_repeated_optimizer_keyword_is_an_error(tmp_path):
    (tmp_path / "s.dlspec").write_text('model M { input vector(2); linear(1) }\n'
                                       'train { loss mse; optimizer adam(lr=0.1, lr=0.2) }')
    with pytest.raises(DlspecError, match="adam: argument 'lr' given twice") as info:
        read_train(dlspec.load(tmp_path / "s.dlspec"))
    assert (info.value.loc.line, info.value.loc.column) == (2, 42)


def test_a_repeated_search_space_keyword_is_an_error(tmp_path):
    (tmp_path / "s.dlspec").write_text("let lr = loguniform(1e-4, 1e-1, default=1e-3, default=1e-2)\n"
                                       "model M { input vector(2); linear(1) }")
    with pytest.raises(DlspecError, match="loguniform\\(\\): argument 'default' given twice") as info:
        dlspec.load(tmp_path / "s.dlspec")
    assert (info.value.loc.line, info.value.loc.column) == (1, 47)


def test_a_repeated_concat_dim_is_an_error(tmp_path):
    (tmp_path / "s.dlspec").write_text("model M {\n  input vector(4)\n  a = input -> linear(3)\n"
                                       "  concat(a, input, dim=0, dim=1)\n}")
    with pytest.raises(DlspecError, match="argument 'dim' given twice") as info:
        dlspec.load(tmp_path / "s.dlspec").plan("M")
    assert (info.value.loc.line, info.value.loc.column) == (4, 27)


@pytest.mark.parametrize("setting, message", [
    ("optimizer adam(lr=-1.0)", "adam: argument 'lr' must be positive"),
    ("optimizer sgd(lr=0.1, momentm=0.9)", "sgd has no argument 'momentm'. Did you mean 'momentum'"),
    ("loss cross_entropy(label_smoothing=true)", "argument 'label_smoothing' expects a number"),
])
def test_step_argument_errors_point_at_the_argument(tmp_path, setting, message):
    (tmp_path / "t.csv").write_text("a,b,y\n1,2,3\n")
    (tmp_path / "s.dlspec").write_text('model M { input vector(2); linear(1) }\n'
                                       f'train {{ {setting} }}\ndata d {{ source csv("t.csv", target="y") }}')
    with pytest.raises(DlspecError) as info:
        read_train(dlspec.load(tmp_path / "s.dlspec"))
    argument = message.split("'")[1]
    assert message in info.value.message
    assert (info.value.loc.line, info.value.loc.column) == (2, 9 + setting.index(argument + "="))


def test_transform_argument_errors_point_at_the_argument(tmp_path):
    (tmp_path / "t.csv").write_text("a,b,y\n1,2,3\n")
    with pytest.raises(DlspecError, match="normalize has no argument 'sdt'. Did you mean 'std'") as info:
        data_config('data d { source csv("t.csv", target="y")\n  transform { normalize(auto, sdt=1) } }', tmp_path)
    assert (info.value.loc.line, info.value.loc.column) == (2, 31)
