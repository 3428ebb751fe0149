"""csv tables as people have them: categorical columns, missing cells, `151.0` targets, vector(auto)."""
import pytest

import dlspec
from dlspec.data.config import read_data
from dlspec.data.encoding import ONEHOT_LEVELS, embedded_columns, embedding_size
from dlspec.data.pipeline import build_data, load_source
from dlspec.errors import DataError, DlspecError, DlspecWarning
from dlspec.train.measure import measure
from tests.helpers.predict_runs import make_table


def data_config(text, folder):
    spec = dlspec.loads(text, str(folder / "spec.dlspec"))
    return read_data(next(iter(spec.program.data.values())), spec.program.global_env())


def quiet(*a):
    pass


def test_categories_missing_cells_and_whole_number_targets_train_as_regression(tmp_path):
    make_table(tmp_path / "houses.csv", rows=240)
    cfg = data_config('data d { source csv("houses.csv", target="price", missing=median) }', tmp_path)
    data = build_data(cfg)  # the data alone, no loss: `151.0` targets are numbers
    assert data.task == "regression" and data.sample_shape == (5,)  # size, 3 cities one-hot, rooms
    (tmp_path / "h.dlspec").write_text(
        'model M { input vector(auto); linear(1) }\n'
        'data d { source csv("houses.csv", target="price", missing=median); split train=0.8 test=0.2\n'
        '         scale standard; transform { normalize(auto) } }\n'
        'train { loss mse; optimizer adam(lr=0.05); epochs 80; metrics mae }')
    run = dlspec.fit(tmp_path / "h.dlspec", out=str(tmp_path / "run"), log=quiet, progress=False)
    assert run.results["test"]["mae"] < 8  # prices are about 150-320
    (tmp_path / "new.csv").write_text("size,city,rooms\n100,paris,3\n60,lyon,1\n")
    predicted = [p["prediction"] for p in dlspec.predict(str(tmp_path / "run"), [str(tmp_path / "new.csv")])]
    assert predicted == pytest.approx([100 + 100 + 50 + 15, 100 + 60 + 20 + 5], abs=10)  # original units


def test_missing_cells_are_errors_naming_file_line_and_column_by_default(tmp_path):
    (tmp_path / "t.csv").write_text("a,city,y\n1,paris,2.0\n2,,3.0\n3,lyon,4.0\n")
    cfg = data_config('data d { source csv("t.csv", target="y") }', tmp_path)
    with pytest.raises(DataError) as info:
        build_data(cfg)
    assert f"{tmp_path / 't.csv'}, line 3, column 'city' (column 2): the cell is empty" in info.value.message
    assert "missing=median|mean|most_frequent|drop" in info.value.hint
    (tmp_path / "t.csv").write_text("a,city,y\n1,paris,2.0\nNA,nice,3.0\n3,lyon,4.0\n")
    with pytest.raises(DataError, match="line 3, column 'a' \\(column 1\\): 'NA' marks a missing value"):
        build_data(cfg)


@pytest.mark.parametrize("policy, fill", [("median", 3.0), ("mean", 4.0), ("most_frequent", 1.0)])
def test_missing_cells_are_filled_from_the_training_rows(tmp_path, policy, fill):
    (tmp_path / "t.csv").write_text("a,c,y\n1,x,1.5\n1,x,2.5\n5,,3.5\n9,x,4.5\n,y,5.5\n100,y,6.5\n")
    cfg = data_config(f'data d {{ source csv("t.csv", target="y", missing={policy}) }}', tmp_path)
    src = load_source(cfg)
    src.fit_on_train([0, 1, 2, 3])  # the last rows are not training data: their values never count
    assert src.train.data.x.flatten().tolist() == pytest.approx([1, 1, 1, 1, 5, 1, 9, 1, fill, 0, 100, 0])
    columns = {c["name"]: c for c in src.train.encoding["columns"]}
    assert columns["c"]["levels"] == ["x"] and columns["c"]["fill"] == "x"


def test_drop_leaves_out_rows_with_missing_cells(tmp_path):
    (tmp_path / "t.csv").write_text("a,c,y\n1,x,1.5\n,x,2.5\n3,,3.5\n4,y,\n5,y,5.5\n")
    cfg = data_config('data d { source csv("t.csv", target="y", missing=drop) }', tmp_path)
    with pytest.warns(UserWarning, match="3 of 5 rows with a missing cell left out"):
        data = build_data(cfg)
    assert data.sizes["train"] + data.sizes["val"] + data.sizes["test"] == 2


def test_category_levels_come_from_the_training_split_only(tmp_path):
    (tmp_path / "t.csv").write_text("c,y\n" + "".join(f"{'ab'[i % 2]},{i}.5\n" for i in range(8)) + "zz,9.5\n")
    src = load_source(data_config('data d { source csv("t.csv", target="y") }', tmp_path))
    src.fit_on_train(list(range(8)))
    assert src.train.encoding["columns"][0]["levels"] == ["a", "b"]
    assert src.train.data.x[:2].tolist() == [[1.0, 0.0], [0.0, 1.0]] and src.train.data.x[8].tolist() == [0.0, 0.0]


def test_many_levels_become_an_embedded_index_and_free_text_is_refused(tmp_path):
    n = ONEHOT_LEVELS + 4
    rows = "".join(f"k{i % n},{i}.0\n" for i in range(4 * n))
    (tmp_path / "t.csv").write_text("code,y\n" + rows)
    src = load_source(data_config('data d { source csv("t.csv", target="y") }', tmp_path))
    src.fit_on_train(list(range(4 * n)))
    column = src.train.encoding["columns"][0]
    assert column["kind"] == "embed" and column["dim"] == embedding_size(n) and src.train.data.x.shape == (4 * n, 1)
    assert src.train.data.x[:3, 0].tolist() == [column["levels"].index(f"k{i}") + 1.0 for i in range(3)]
    (tmp_path / "t.csv").write_text("a,review,y\n" + "".join(f"{i},words number {i},{i}.0\n" for i in range(40)))
    with pytest.raises(DataError) as info:
        build_data(data_config('data d { source csv("t.csv", target="y") }', tmp_path))
    assert "column 'review' holds text (" in info.value.message and 'features=["a"]' in info.value.hint


def test_onehot_max_and_embedding_dim_choose_the_encoding(tmp_path):
    (tmp_path / "t.csv").write_text("c,y\n" + "".join(f"{'abcd'[i % 4]},{i}.5\n" for i in range(16)))
    src = load_source(data_config('data d { source csv("t.csv", target="y", onehot_max=3, embedding_dim=5) }',
                                  tmp_path))
    src.fit_on_train(list(range(16)))
    assert [(c["kind"], c["dim"]) for c in src.train.encoding["columns"]] == [("embed", 5)]
    assert embedded_columns(src.train.encoding) == ((0, 4, 5, "c"),)
    src = load_source(data_config('data d { source csv("t.csv", target="y", onehot_max=4) }', tmp_path))
    src.fit_on_train(list(range(16)))
    assert src.train.encoding["columns"][0]["kind"] == "onehot" and src.train.data.x.shape == (16, 4)
    for bad, message in (("onehot_max=-1", "must be 0 or more"), ("embedding_dim=0", "must be auto or a positive"),
                         ("embedding_dim=wide", "must be auto or a positive")):
        with pytest.raises(DlspecError, match=message) as info:
            data_config(f'data d {{ source csv("t.csv", target="y", {bad}) }}', tmp_path)
        assert info.value.line == 1


def test_embedding_size_follows_the_rule_of_thumb():
    assert [embedding_size(n) for n in (2, 17, 100, 1000, 10 ** 7)] == [2, 8, 21, 77, 600]


@pytest.mark.parametrize("cached", [True, False])
def test_normalize_leaves_category_indices_as_they_are_on_both_paths(tmp_path, cached):
    (tmp_path / "t.csv").write_text("a,c,y\n" + "".join(f"{i * 3},k{i % 20},{i}.5\n" for i in range(80)))
    cache = "auto" if cached else "none"
    data = build_data(data_config(f'data d {{ source csv("t.csv", target="y"); cache {cache}; batch 80\n'
                                  '         split train=1.0 val=0 test=0; shuffle false\n'
                                  '         transform { normalize(auto) } }', tmp_path))
    assert data.path.startswith(f"data d: {'cached' if cached else 'per-sample'}")
    x, _ = next(iter(data.loaders["train"]))
    assert sorted(x[:, 1].tolist()) == sorted(float(i % 20 + 1) for i in range(80))  # level indices, untouched
    assert abs(float(x[:, 0].mean())) < 1e-5 and float(x[:, 0].std()) == pytest.approx(1, rel=0.02)  # scaled
    assert data.normalization["mean"][1] == 0 and data.normalization["std"][1] == 1


def test_vector_auto_takes_its_width_from_the_data_at_compile(tmp_path):
    (tmp_path / "t.csv").write_text("a,c,y\n" + "".join(f"{i},{'pqr'[i % 3]},{i % 2}\n" for i in range(30)))
    spec_text = ('model M { input vector(auto); linear(2) }\n'
                 'data d { source csv("t.csv", target="y") }\ntrain { model M; data d; epochs 1 }')
    (tmp_path / "m.dlspec").write_text(spec_text)
    from dlspec.api import compile_spec
    result = compile_spec(tmp_path / "m.dlspec")
    assert result.modules["M"][0].in_features == 4  # a, and c one-hot over p, q, r
    (tmp_path / "alone.dlspec").write_text("model M { input vector(auto); linear(2) }")
    with pytest.raises(DlspecError, match="vector\\(auto\\) takes its width from the data") as info:
        dlspec.load(tmp_path / "alone.dlspec").build("M")
    assert info.value.line == 1 and "vector(N)" in info.value.hint
    (tmp_path / "img.dlspec").write_text("model M { input vector(auto); linear(2) }\n"
                                         "data d { source sklearn_digits }\ntrain { model M; data d }")
    spec = dlspec.load(tmp_path / "img.dlspec")
    with pytest.raises(DlspecError, match="one-dimensional samples; the data gives samples of shape \\[1, 8, 8\\]"):
        spec.build("M", measure(spec, "M").checked())
    with pytest.raises(DlspecError, match="planned without that data's facts") as info:
        spec.build("M")  # a library call that measured nothing: not "no train block links"
    assert info.value.line == 1 and "measure(spec, model)" in info.value.hint


def test_a_train_block_without_a_loss_trains_a_numeric_target_as_regression_with_mse(tmp_path):
    make_table(tmp_path / "houses.csv", rows=120)
    (tmp_path / "h.dlspec").write_text(
        'model M { input vector(auto); linear(1) }\n'
        'data d { source csv("houses.csv", target="price", missing=median); split train=0.8 test=0.2 }\n'
        'train { optimizer adam(lr=0.05); epochs 2; metrics mae }')
    run = dlspec.fit(tmp_path / "h.dlspec", out=str(tmp_path / "run"), log=quiet, progress=False)
    assert run.config.loss[0].name == "mse" and "mae" in run.results["test"]
    assert dlspec.evaluate(str(tmp_path / "run"))["loss"] == pytest.approx(run.results["test"]["loss"], rel=1e-5)


def test_a_written_classification_loss_reads_a_numeric_target_as_class_labels(tmp_path):
    make_table(tmp_path / "houses.csv", rows=60)
    (tmp_path / "h.dlspec").write_text(
        'model M { input vector(auto); linear(2) }\n'
        'data d { source csv("houses.csv", target="price", missing=median); split train=0.8 test=0.2 }\n'
        'train { loss cross_entropy; epochs 1 }')
    with pytest.raises(DlspecError, match=r"outputs 2 values per sample but data d has \d+ classes"):
        dlspec.fit(tmp_path / "h.dlspec", out=str(tmp_path / "run"), log=quiet, progress=False)


def test_a_written_width_that_misses_the_table_suggests_vector_auto(tmp_path):
    (tmp_path / "t.csv").write_text("a,c,y\n" + "".join(f"{i},{'pqr'[i % 3]},{i}.5\n" for i in range(30)))
    (tmp_path / "m.dlspec").write_text('model M {\n  input vector(2)\n  linear(1)\n}\n'
                                       'data d { source csv("t.csv", target="y") }\ntrain { model M; data d; loss mse }')
    with pytest.raises(DlspecError, match="model M takes samples of shape \\[2\\], but data d gives \\[4\\]") as info:
        dlspec.fit(tmp_path / "m.dlspec", out=str(tmp_path / "run"), log=quiet, progress=False)
    assert info.value.line == 2 and "input vector(auto)" in info.value.hint


def test_categories_makes_number_columns_categories(tmp_path):
    (tmp_path / "t.csv").write_text("zip,size,y\n" + "".join(f"{75001 + i % 30},{i},{i}.5\n" for i in range(90)))
    src = load_source(data_config('data d { source csv("t.csv", target="y", categories=["zip"]) }', tmp_path))
    src.fit_on_train(list(range(90)))
    zip_code, size = src.train.encoding["columns"]
    assert (zip_code["kind"], len(zip_code["levels"]), size["kind"]) == ("embed", 30, "number")
    for given, message in (('["zpi"]', "categories= names 'zpi', which is not a feature column. Did you mean 'zip'"),
                           ('["y"]', "categories= names 'y', which is not a feature column")):
        with pytest.raises(DataError, match=message.replace("(", "\\(")):
            load_source(data_config(f'data d {{ source csv("t.csv", target="y", categories={given}) }}', tmp_path))


def test_a_regression_loss_with_scale_reads_whole_number_targets_as_numbers(tmp_path):
    (tmp_path / "t.csv").write_text("a,c,y\n" + "".join(f"{i},{'pq'[i % 2]},{i % 3}\n" for i in range(60)))
    (tmp_path / "m.dlspec").write_text('model M { input vector(auto); linear(1) }\n'
                                       'data d { source csv("t.csv", target="y"); scale standard }\n'
                                       'train { model M; data d; loss mse; epochs 1 }')
    run = dlspec.fit(tmp_path / "m.dlspec", out=str(tmp_path / "run"), log=quiet, progress=False)
    assert "mae" not in run.results["test"] and run.results["test"]["loss"] > 0
    assert run.model[0].in_features == 3  # a, c one-hot


def test_mixup_is_refused_on_a_table_with_category_columns(tmp_path):
    (tmp_path / "t.csv").write_text("a,c,y\n" + "".join(f"{i},{'pq'[i % 2]},{i % 2}\n" for i in range(40)))
    cfg = data_config('data d {\n  source csv("t.csv", target="y", task=classification)\n'
                      '  augment { mixup(0.2) }\n}', tmp_path)
    with pytest.raises(DataError, match="mixup blends samples, but data d is a table with category columns") as info:
        build_data(cfg)
    assert (info.value.line, info.value.column) == (3, 13) and "features=[...]" in info.value.hint
    (tmp_path / "n.csv").write_text("a,b,y\n" + "".join(f"{i},{i * 2},{i % 2}\n" for i in range(40)))
    numbers = build_data(data_config('data d { source csv("n.csv", target="y", task=classification)\n'
                                     '  augment { mixup(0.2) } }', tmp_path))
    assert numbers.sample_shape == (2,)  # a table of numbers blends fine

    for given, message in (("3", "argument 'categories' must be a list of column names, e.g. categories=["),
                           ('["zip", "zip"]', "argument 'categories' names 'zip' more than once")):
        with pytest.raises(DlspecError) as info:
            data_config(f'data d {{ source csv("t.csv", target="y", categories={given}) }}', tmp_path)
        assert message in info.value.message and info.value.loc.column == 42  # at the argument


def test_a_folder_given_as_the_csv_is_a_located_error(tmp_path):
    (tmp_path / "tables").mkdir()
    (tmp_path / "tables" / "houses.csv").write_text("a,y\n1,2\n")
    cfg = data_config('data d {\n  source csv("tables", target="y") }', tmp_path)
    with pytest.raises(DataError) as info:
        load_source(cfg)
    assert info.value.message == f"{tmp_path / 'tables'} is a folder, not a csv file"
    assert (info.value.loc.line, info.value.loc.column) == (2, 10) and "houses.csv" in info.value.hint
    assert "^" in info.value.report()


def test_codes_declared_as_categories_compare_as_numbers(tmp_path):
    rows = "".join(f"{[101, 102, 7][i % 3]},{i},{i}.5\n" for i in range(30))
    (tmp_path / "t.csv").write_text("zip,size,y\n" + rows.replace("101,3,", "101.0,3,").replace("102,4,", " 102 ,4,"))
    src = load_source(data_config('data d { source csv("t.csv", target="y", categories=["zip"]) }', tmp_path))
    src.fit_on_train(list(range(30)))
    zip_code = src.train.encoding["columns"][0]
    assert (zip_code["levels"], zip_code["numeric"]) == (["7", "101", "102"], True)  # 101.0 is 101, not a 4th level
    from dlspec.runtime.tables import TableEncoder
    encoder = TableEncoder(src.train.encoding["columns"])
    for cell in ("101", "101.0", " 101", "+101", "1.01e2"):
        assert encoder.encode([cell, "1"], str) == [0.0, 1.0, 0.0, 1.0], cell
    assert encoder.encode(["101.5", "1"], str) == [0.0, 0.0, 0.0, 1.0]  # a level training never had
    old = [{k: v for k, v in c.items() if k != "numeric"} for c in src.train.encoding["columns"]]
    assert TableEncoder(old).encode(["101", "2"], str) == [0.0, 1.0, 0.0, 2.0]  # runs saved before the flag
    (tmp_path / "c.csv").write_text("code,y\n" + "".join(f"{['A1', '007', '7'][i % 3]},{i}.5\n" for i in range(9)))
    src = load_source(data_config('data d { source csv("c.csv", target="y", categories=["code"]) }', tmp_path))
    src.fit_on_train(list(range(9)))  # codes that are not all numbers stay text: 007 is not 7
    assert src.train.encoding["columns"][0]["levels"] == ["007", "7", "A1"]
    assert "numeric" not in src.train.encoding["columns"][0]


@pytest.mark.parametrize("rows, stray", [(300, 1), (600, 6)])
def test_a_stray_text_cell_in_a_number_column_is_an_error_at_its_cell(tmp_path, rows, stray):
    cells = [str(i % 6) for i in range(rows)]
    for k in range(stray):
        cells[10 + 7 * k] = "oops"
    (tmp_path / "t.csv").write_text("a,b,y\n" + "".join(f"{i * 0.5},{c},{i}.5\n" for i, c in enumerate(cells)))
    with pytest.raises(DataError) as info:
        load_source(data_config('data d { source csv("t.csv", target="y") }', tmp_path))
    more = "" if stray == 1 else f" (and {stray - 1} more such cells)"
    assert info.value.message == (f"{tmp_path / 't.csv'}, line 12, column 'b' (column 2): 'oops' is not a number, "
                                  f"in a column whose other {rows - stray} cells are numbers{more}")
    assert info.value.loc.line == 1
    for advice in ("fix the cell", "missing=median", 'categories=["b"]'):
        assert advice in info.value.hint
    many = cells[:]
    for k in range(stray, stray + 10):
        many[10 + 7 * k] = f"w{k}"  # more than a few text cells: a categorical column, as before
    (tmp_path / "t.csv").write_text("a,b,y\n" + "".join(f"{i * 0.5},{c},{i}.5\n" for i, c in enumerate(many)))
    src = load_source(data_config('data d { source csv("t.csv", target="y", onehot_max=0) }', tmp_path))
    assert src.train.kinds["b"] == "category"
    src = load_source(data_config('data d { source csv("t.csv", target="y", categories=["b"], onehot_max=0) }',
                                  tmp_path))
    assert src.train.kinds["b"] == "declared"


def test_a_stray_text_cell_in_a_number_target_is_an_error_unless_the_task_says_classes(tmp_path):
    (tmp_path / "t.csv").write_text("a,y\n" + "".join(f"{i},{'oops' if i == 7 else f'{i}.5'}\n" for i in range(200)))
    with pytest.raises(DataError) as info:
        load_source(data_config('data d { source csv("t.csv", target="y") }', tmp_path))
    assert info.value.message == (f"{tmp_path / 't.csv'}, line 9, column 'y' (column 2): 'oops' is not a number, "
                                  "in a column whose other 199 cells are numbers")
    assert "task=classification" in info.value.hint
    with pytest.warns(DlspecWarning, match="200 different values in 200 rows"):
        src = load_source(data_config('data d { source csv("t.csv", target="y", task=classification) }', tmp_path))
    assert src.task == "classification" and "oops" in src.classes


def test_features_that_repeat_or_hold_the_target_are_refused(tmp_path):
    (tmp_path / "t.csv").write_text("a,b,y\n1,2,3\n4,5,6\n")
    with pytest.raises(DataError) as info:
        load_source(data_config('data d { source csv("t.csv", target="y", features=["y", "a"]) }', tmp_path))
    assert "features= names the target column 'y'" in info.value.message
    assert 'features=["a"]' in info.value.hint
    for given, message in (('["a", "b", "a"]', "argument 'features' names 'a' more than once"),
                           ("3", "argument 'features' must be a list of column names")):
        with pytest.raises(DlspecError, match=message) as info:
            data_config(f'data d {{ source csv("t.csv", target="y", features={given}) }}', tmp_path)
        assert (info.value.loc.line, info.value.loc.column) == (1, 42)  # at features=, not at csv


@pytest.mark.parametrize("text, message", [
    ('csv("t.csv", target="y", target="a")', "csv: argument 'target' given twice"),
    ('csv("t.csv", target="y", featurs=["a"])', "csv has no argument 'featurs'. Did you mean 'features'"),
    ('csv("t.csv", target="y", onehot_max=-1)', "argument 'onehot_max' must be 0 or more"),
    ('csv("t.csv", target="y", embedding_dim=0)', "argument 'embedding_dim' must be auto or a positive integer"),
    ('csv("t.csv", target="y", embedding_dim=2.5)', "argument 'embedding_dim' must be auto or a positive integer; "
                                                    "received 2.5"),
    ('csv("t.csv", target="y", missing=medain)', "argument 'missing' must be one of error, median"),
])
def test_csv_argument_errors_point_at_the_argument(tmp_path, text, message):
    (tmp_path / "t.csv").write_text("a,b,y\n1,2,3\n")
    with pytest.raises(DlspecError) as info:
        data_config(f"data d {{\n  source {text} }}", tmp_path)
    assert message in info.value.message
    assert (info.value.loc.line, info.value.loc.column) == (2, 3 + len('source csv("t.csv", target="y", '))


def test_a_column_without_training_values_says_so(tmp_path):
    (tmp_path / "t.csv").write_text("a,b,y\n" + "".join(f"{i},{'' if i < 8 else 5},{i}.5\n" for i in range(10)))
    src = load_source(data_config('data d { source csv("t.csv", target="y", missing=median) }', tmp_path))
    with pytest.raises(DataError) as info:
        src.fit_on_train(list(range(8)))
    assert info.value.message.endswith("column 'b' has no values in the training split (its 8 cells there are "
                                       "all missing): nothing to learn from or fill with")
    assert 'features=["a"]' in info.value.hint


def test_a_row_of_empty_cells_is_a_row_of_missing_cells_and_blank_lines_are_skipped(tmp_path):
    (tmp_path / "t.csv").write_text("a,c,y\n1,x,1.5\n\n,,\n3,x,3.5\n   \n5,y,5.5\n")
    cfg = data_config('data d { source csv("t.csv", target="y") }', tmp_path)
    with pytest.raises(DataError, match="t.csv, line 4, column 'y' \\(column 3\\): the cell is empty"):
        build_data(cfg)
    (tmp_path / "t.csv").write_text("a,c,y\n1,x,1.5\n\n,,2.5\n3,x,3.5\n   \n5,y,5.5\n")
    src = load_source(data_config('data d { source csv("t.csv", target="y", missing=median) }', tmp_path))
    assert [line for line, _ in src.train.rows] == [2, 4, 5, 7]
    src.fit_on_train([0, 1, 2, 3])
    assert src.train.data.x[1].tolist() == [3.0, 1.0, 0.0]  # the median of 1, 3, 5 and the most frequent level
    with pytest.raises(DataError, match="line 4, column 'a' \\(column 1\\): the cell is empty"):
        build_data(data_config('data d { source csv("t.csv", target="y") }', tmp_path))


@pytest.mark.parametrize("args, column, message", [
    ('target="yy"', 23, "has no column 'yy'. Did you mean 'y'"),
    ('target="y", features=["a", "cc"]', 35, "has no column 'cc'. Did you mean 'c'"),
    ('target="y", features=["a", "y"]', 35, "features= names the target column 'y'"),
    ('target="y", categories=["b"]', 35, "categories= names 'b', which is not a feature column"),
])
def test_column_names_found_wrong_in_the_file_are_errors_at_their_argument(tmp_path, args, column, message):
    (tmp_path / "t.csv").write_text("a,c,y\n" + "".join(f"{i},{'pq'[i % 2]},{i}.5\n" for i in range(20)))
    cfg = data_config(f'data d {{\n  source csv("t.csv", {args})\n}}', tmp_path)
    with pytest.raises(DataError, match=message) as info:
        load_source(cfg)
    assert (info.value.line, info.value.column) == (2, column)


@pytest.mark.parametrize("model, line, message", [
    ("input vector(5)\n  linear(1)", 2, "model M takes samples of shape \\[5\\], but data d gives \\[3\\]"),
    ("input vector(auto)\n  linear(3)", 6, "model M outputs 3 values per sample, but data d has 1 target value"),
])
def test_compile_reads_a_table_and_checks_it_against_the_model(tmp_path, model, line, message):
    from dlspec.api import compile_spec
    (tmp_path / "t.csv").write_text("a,c,y\n" + "".join(f"{i},{'pq'[i % 2]},{i}.5\n" for i in range(20)))
    (tmp_path / "m.dlspec").write_text(f'model M {{\n  {model}\n}}\ndata d {{ source csv("t.csv", target="y") }}\n'
                                       'train { model M; data d; loss mse }\n')
    with pytest.raises(DlspecError, match=message) as info:
        compile_spec(tmp_path / "m.dlspec")
    assert info.value.line == line
