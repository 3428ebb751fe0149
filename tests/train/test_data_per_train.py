"""Each train block checks its model with its own data: a vector(auto) width, a data block's errors and
warnings belong to the train blocks that use it, compile reports every block's errors, and a list setting
reports each unknown name."""
import random
import warnings

import pytest
from click.testing import CliRunner

import dlspec
from dlspec.api import compile_spec
from dlspec.cli import main
from dlspec.diagnostics import diagnose
from dlspec.errors import DlspecError, DlspecErrors
from dlspec.train.config import read_train
from dlspec.train.measure import measure

MODEL = "model T {\n    input vector(auto)\n    linear(2)\n}\n"
ONE_CLASS = "target column 'one' holds one class ('same') in all 40 rows"
MISSING = "20 of 40 rows with a missing cell left out"


def write_table(folder) -> None:
    """40 rows: numbers a and b, a category (3 levels: 3 one-hot features), a two-class label, a one-class
    column, a one-class column missing in every other row."""
    rng = random.Random(0)
    rows = [f"{rng.uniform(-2, 2):.3f},{rng.uniform(0, 9):.3f},{rng.choice(['red', 'green', 'blue'])},"
            f"{'yes' if i % 2 else 'no'},same,{'' if i % 2 else 'p'}" for i in range(40)]
    (folder / "t.csv").write_text("a,b,color,label,one,gap\n" + "\n".join(rows) + "\n")


def write_spec(folder, blocks: str, model: str = MODEL):
    write_table(folder)
    path = folder / "s.dlspec"
    path.write_text(model + blocks)
    return path


def data(name: str, target: str, features: list, extra: str = "") -> str:
    listed = ", ".join(f'"{f}"' for f in features)
    return f'data {name} {{ source csv("t.csv", target="{target}", features=[{listed}]{extra}) }}\n'


WIDTHS = data("d1", "label", ["a", "b", "color"]) + data("d3", "label", ["a"]) + \
    "train a { model T; data d1; epochs 1 }\ntrain c { model T; data d3; epochs 1 }\n"
ONE_CLASS_FIRST = data("d1", "one", ["a", "b", "color"]) + data("d3", "label", ["a"]) + \
    "train a { model T; data d1; epochs 1 }\ntrain c { model T; data d3; epochs 1 }\n"


def messages(exc) -> list:
    return [f"{e.line}: {e.message}" for e in getattr(exc, "errors", [exc])]


def test_each_train_block_measures_vector_auto_on_its_own_data(tmp_path):
    path = write_spec(tmp_path, WIDTHS)
    spec = dlspec.load(path)
    assert read_train(spec, "c").data.name == "d3"  # planned T on d3: no error about d1's width

    def width(train=None):  # T planned with the facts of train block `train`'s data
        return spec.plan("T", measure(spec, "T", train).facts).in_shape.dims
    assert width("c") == (1,)
    assert width("a") == (5,)  # a and b, color one-hot
    assert width() == (5,)  # no block read: the first that links T
    assert width("c") == (1,)  # compile --train c
    assert compile_spec(path).model_names == ["T"]  # no "takes samples of shape [5], but data d3 gives [1]"
    shown = {t: compile_spec(path, train=t, describe=True).summaries[0]["input_shape"] for t in ("a", "c")}
    assert shown == {"a": [5], "c": [1]}


def test_fit_and_compile_of_one_train_block_never_read_another_blocks_data(tmp_path):
    path = write_spec(tmp_path, ONE_CLASS_FIRST)
    assert compile_spec(path, train="c").model_names == ["T"]
    run = dlspec.fit(path, train="c", out=str(tmp_path / "run"), log=lambda *a: None, progress=False)
    assert run.history and run.config.data.name == "d3"
    with pytest.raises(DlspecError) as info:
        dlspec.fit(path, train="a", out=str(tmp_path / "run_a"), log=lambda *a: None, progress=False)
    assert info.value.line == 5 and ONE_CLASS in info.value.message  # data d1's line: its own mistake
    with pytest.raises(DlspecError) as info:
        compile_spec(path)  # without --train every block is checked, each with its own data
    assert messages(info.value) == [f"5: {tmp_path / 't.csv'}: {ONE_CLASS}; a classifier needs two or more"]
    result = CliRunner().invoke(main, ["compile", str(path), "--train", "c"])
    assert result.exit_code == 0 and result.output.strip() == f"{path}: ok (T)", result.output
    spaced = tmp_path / "spaced.dlspec"  # the values of a search space are checked with train c's data too
    spaced.write_text("let lr = loguniform(1e-4, 1e-1, default=1e-3)\n" +
                      path.read_text().replace("data d3; epochs 1", "data d3; epochs 1; optimizer adam(lr=lr)"))
    assert compile_spec(spaced, train="c").model_names == ["T"]


def test_compile_train_leaves_other_models_and_their_data_alone(tmp_path):
    """--train b: model U, linked only by train d to broken data, is neither planned nor measured (it was
    reported as linked by no train block)."""
    other = MODEL.replace("model T", "model U")
    path = write_spec(tmp_path, data("d2", "label", ["a", "b"]) + data("d4", "one", ["a"]) +
                      "train b { model T; data d2; epochs 1 }\ntrain d { model U; data d4; epochs 1 }\n",
                      MODEL + other)
    assert compile_spec(path, train="b").model_names == ["T"]
    with pytest.raises(DlspecError) as info:
        compile_spec(path, train="d")
    assert messages(info.value) == [f"10: {tmp_path / 't.csv'}: {ONE_CLASS}; a classifier needs two or more"]


def test_compile_reports_every_train_blocks_data_errors_together(tmp_path):
    path = write_spec(tmp_path, data("d1", "a", ["b"], ", task=regression") +
                      data("d2", "one", ["a", "b"]) + data("d3", "label", ["b"]) +
                      data("d4", "gap", ["a", "b"], ", missing=drop") +
                      "train a { model T; data d1; epochs 1; loss cross_entropy }\n"
                      "train b { model T; data d2; epochs 1 }\ntrain c { model T; data d3; epochs 1 }\n"
                      "train d { model T; data d4; epochs 1 }\n")
    with pytest.raises(DlspecErrors) as info:
        compile_spec(path)
    found = messages(info.value)
    table = tmp_path / "t.csv"
    assert found[:2] == [f"6: {table}: {ONE_CLASS}; a classifier needs two or more",
                         f"8: {table}: target column 'gap' holds one class ('p') in all 20 rows; "
                         "a classifier needs two or more"]  # d4 drops the rows missing 'gap'
    assert found[-1].startswith("9: loss cross_entropy needs class labels, but data d1 is a regression task")
    for name in ("b", "d"):  # fit of each block fails with its own data's error, which compile listed
        with pytest.raises(DlspecError) as one:
            dlspec.fit(path, train=name, out=str(tmp_path / name), log=lambda *a: None, progress=False)
        assert f"{one.value.line}: {one.value.message}" in found
    editor = diagnose(path)  # the language server: no table checks, but vector(auto) measures each block's data
    assert [f"{e.line}: {e.message}" for e in editor.errors] == found[:2]


def test_each_unknown_name_of_a_list_setting_is_reported(tmp_path):
    path = tmp_path / "m.dlspec"
    path.write_text("model M { input vector(4); linear(2) }\ndata d { source sklearn_digits }\n"
                    "train { model M; data d; epochs 1\n"
                    "        metrics acuracy, f2, f1\n"
                    "        log tensorbord, csv, mlfow }\n")
    expected = [(4, 17, "unknown metric 'acuracy'. Did you mean 'accuracy' or 'pixel_accuracy'?"), (4, 26, "unknown metric 'f2'."),
                (5, 13, "unknown logger 'tensorbord'. Did you mean 'tensorboard'?"),
                (5, 30, "unknown logger 'mlfow'. Did you mean 'mlflow'?")]
    editor = diagnose(path)
    assert [(e.line, e.column, e.message) for e in editor.errors] == expected
    with pytest.raises(DlspecErrors) as info:
        compile_spec(path)
    assert [(e.line, e.column, e.message) for e in info.value.errors] == expected
    assert "metrics: accuracy, f1" in info.value.errors[1].hint
    with pytest.raises(DlspecErrors) as info:  # fit stops at its first bad setting, with each name in it
        read_train(dlspec.load(path))
    assert [(e.line, e.column) for e in info.value.errors] == [(4, 17), (4, 26)]


def test_a_data_blocks_warning_is_issued_once_per_compile(tmp_path):
    other = MODEL.replace("model T", "model U")
    path = write_spec(tmp_path, data("d2", "label", ["a", "b"]) + data("d4", "gap", ["a", "b"], ", missing=drop") +
                      "train b { model T; data d2; epochs 1; metrics acuracy }\n"
                      "train d { model U; data d4; epochs 1 }\n", MODEL + other)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(DlspecErrors):
            compile_spec(path)
    shown = [str(w.message) for w in caught if MISSING in str(w.message)]
    assert shown == [f"{path}:10:18: {tmp_path / 't.csv'}: {MISSING}"]
    result = CliRunner().invoke(main, ["compile", str(path)])
    assert result.exit_code == 1 and result.output.count(MISSING) == 1, result.output
