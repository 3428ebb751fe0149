"""dlspec predict at scale: folders, globs and batches in; answers equal to the model's own outputs,
written as CSV or JSONL (arrays as .npy), printed rounded."""
import csv
import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import dlspec
from dlspec.cli import main
from dlspec.errors import DataError, DlspecError
from dlspec.runs.writers import readable, write_predictions
from tests.helpers.predict_runs import make_run


@pytest.fixture(scope="module")
def image_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("predict")
    return make_run(base, "image"), base / "images"


def model_probabilities(run_dir, files):
    """The run's model on images read by the training pipeline's own inference transform: {file: probs}."""
    from PIL import Image
    from dlspec.data.pipeline import inference_transform
    from dlspec.runs.loaded import LoadedRun
    run = LoadedRun(str(run_dir))
    out = {}
    for path in files:
        with Image.open(path) as img:
            image = img.convert("RGB")
        x = inference_transform(run.cfg.data, run.record.data.normalization, image)(image)
        with torch.no_grad():
            probs = torch.softmax(run.model(x.unsqueeze(0))[0], 0)
        out[str(path)] = {c: float(p) for c, p in zip(run.classes, probs)}
    return out


def test_a_folder_in_batches_writes_a_csv_equal_to_the_model(image_run, tmp_path):
    run, images = image_run
    answers = dlspec.predict(str(run), [str(images)], top=2, batch=5, out=str(tmp_path / "preds.csv"))
    files = sorted(images.rglob("*.png"))
    assert [a["input"] for a in answers] == [str(f) for f in files]  # recursive, sorted, every file once
    expected = model_probabilities(run, files)
    with open(tmp_path / "preds.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["input", "label", "probability", "label_1", "probability_1", "label_2",
                             "probability_2"]
    for row in rows:
        probs = expected[row["input"]]
        assert row["label"] == max(probs, key=probs.get)
        assert float(row["probability"]) == pytest.approx(probs[row["label"]], abs=1e-6)
        assert float(row["probability_2"]) == pytest.approx(probs[row["label_2"]], abs=1e-6)


def test_a_glob_writes_jsonl_and_batches_do_not_change_answers(image_run, tmp_path):
    run, images = image_run
    pattern = str(images / "**" / "[0-2].png")
    answers = dlspec.predict(str(run), [pattern], batch=1, out=str(tmp_path / "p.jsonl"))
    lines = [json.loads(line) for line in (tmp_path / "p.jsonl").read_text().splitlines()]
    assert lines == answers and len(lines) == 6
    expected = model_probabilities(run, [a["input"] for a in answers])
    for a in answers:
        assert a["probability"] == pytest.approx(max(expected[a["input"]].values()), abs=1e-6)
    whole = dlspec.predict(str(run), [pattern], batch=64)
    assert [a["probability"] for a in whole] == pytest.approx([a["probability"] for a in answers], abs=1e-6)


def test_cli_prints_rounded_numbers_and_names_the_file(image_run, tmp_path):
    run, images = image_run
    out = tmp_path / "sub" / "preds.csv"
    result = CliRunner().invoke(main, ["predict", str(run), str(images / "dark"), "--out", str(out), "--batch", "2"])
    assert result.exit_code == 0, result.output
    first = result.output.splitlines()[0]
    assert first.startswith(str(images / "dark" / "0.png") + ": ") and first.endswith(")")
    assert len(first.rsplit("(", 1)[1]) == len("0.123)")  # three decimals
    assert f"wrote 6 predictions to {out}" in result.output and out.exists()


def test_inputs_that_name_nothing_are_errors_that_say_so(image_run, tmp_path):
    run, _ = image_run
    with pytest.raises(DataError, match="no image file matches .*nothing\\*.png"):
        dlspec.predict(str(run), [str(tmp_path / "nothing*.png")])
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="empty holds no image file"):
        dlspec.predict(str(run), [str(tmp_path / "empty")])
    with pytest.raises(DlspecError, match="give a file ending in .csv or .jsonl"):
        dlspec.predict(str(run), [str(tmp_path)], out=str(tmp_path / "p.txt"))


def test_array_outputs_go_to_npy_beside_the_file(tmp_path):
    answers = [{"input": "a", "output": [[1.0, 2.0], [3.0, 4.0]]}, {"input": "b", "output": [[5.0, 6.0], [7.0, 8.0]]}]
    written = write_predictions(answers, str(tmp_path / "p.csv"))
    assert written == [str(tmp_path / "p.csv"), str(tmp_path / "p.npy")]
    assert np.load(tmp_path / "p.npy").tolist() == [a["output"] for a in answers]
    rows = list(csv.DictReader(open(tmp_path / "p.csv", newline="")))
    assert [(r["input"], r["output_index"], r["output_file"]) for r in rows] == [("a", "0", "p.npy"), ("b", "1", "p.npy")]
    assert readable(answers[0]) == "a: array of 4 values"


def test_regression_values_and_forecasts_are_rounded_for_reading_only(tmp_path):
    assert readable({"input": "x", "prediction": 151.23456789}) == "x: 151.2"
    assert readable({"input": "t+1", "prediction": [1.0, 0.000123456]}) == "t+1: [1, 0.0001235]"
    write_predictions([{"input": "x", "prediction": 151.23456789}], str(tmp_path / "p.csv"))
    assert "151.23456789" in (tmp_path / "p.csv").read_text()


def test_series_forecast_per_step_to_csv(tmp_path):
    run = make_run(tmp_path, "series")
    answers = dlspec.predict(str(run), [], steps=4, out=str(tmp_path / "f.csv"))
    rows = list(csv.DictReader(open(tmp_path / "f.csv", newline="")))
    assert [r["input"] for r in rows] == ["t+1", "t+2", "t+3", "t+4"]
    assert [float(r["prediction"]) for r in rows] == pytest.approx([a["prediction"] for a in answers])
    from dlspec.runs.loaded import LoadedRun
    loaded = LoadedRun(str(run))
    scale, tail = loaded.record.data.target_scale, loaded.record.data.series["tail"]
    x = (torch.tensor(tail).view(1, -1, 1) - scale["center"]) / scale["spread"]
    with torch.no_grad():
        first = float(loaded.model(x)) * scale["spread"] + scale["center"]
    assert answers[0]["prediction"] == pytest.approx(first, abs=1e-5)  # the model's own output, in data units


@pytest.fixture(scope="module")
def table_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("table")
    return make_run(base, "table")


def test_table_rows_of_empty_cells_are_filled_and_blank_lines_skipped(table_run, tmp_path):
    (tmp_path / "new.csv").write_text("size,city,rooms\n100,paris,3\n\n,,\n   \n60,lyon,1\n")
    answers = dlspec.predict(str(table_run), [str(tmp_path / "new.csv")])
    assert [a["input"] for a in answers] == [f"{tmp_path / 'new.csv'}:{line}" for line in (2, 4, 6)]


@pytest.mark.parametrize("text, message, hint", [
    ("size,city,size\n1,paris,3\n", "the header names 'size' more than once", "give each column its own name"),
    ("size,city,rooms\n", "has a header (size, city, rooms) but no rows", "add rows"),
    ("\n\n", "is empty; expected a header row", ""),
])
def test_a_table_csv_predict_cannot_use_is_an_error(table_run, tmp_path, text, message, hint):
    (tmp_path / "new.csv").write_text(text)
    with pytest.raises(DataError) as info:
        dlspec.predict(str(table_run), [str(tmp_path / "new.csv")])
    assert info.value.message.startswith(str(tmp_path / "new.csv")) and message in info.value.message
    assert hint in info.value.hint
    result = CliRunner().invoke(main, ["predict", str(table_run), str(tmp_path / "new.csv")])
    assert result.exit_code != 0 and message in result.output and "Traceback" not in result.output


def test_codes_declared_as_categories_are_read_as_numbers_by_predict(tmp_path):
    from tests.helpers.predict_runs import make_table
    make_table(tmp_path / "houses.csv", rows=60)
    (tmp_path / "s.dlspec").write_text(
        'model M { input vector(auto); linear(1) }\n'
        'data d { source csv("houses.csv", target="price", missing=median, categories=["rooms"]) }\n'
        'train { loss mse; epochs 1 }')
    dlspec.fit(tmp_path / "s.dlspec", out=str(tmp_path / "run"), log=lambda *a: None, progress=False)
    (tmp_path / "new.csv").write_text('size,city,rooms\n100,paris,3\n100,paris,3.0\n100,paris," 3"\n100,paris,4\n')
    values = [a["prediction"] for a in dlspec.predict(str(tmp_path / "run"), [str(tmp_path / "new.csv")])]
    assert values[0] == values[1] == values[2] != values[3]


def test_levels_never_seen_in_training_are_named_once_per_file(table_run, tmp_path):
    import warnings
    from dlspec.runtime.preprocess import UnseenLevels
    (tmp_path / "new.csv").write_text("size,city,rooms\n100,paris,3\n90,berlin,2\n80,rome,1\n70,berlin,2\n")
    with pytest.warns(UnseenLevels, match="new.csv: levels the training rows never had, read as no level "
                                          "\\(an all-zero one-hot, a zero embedding\\): city: berlin, rome$"):
        answers = dlspec.predict(str(table_run), [str(tmp_path / "new.csv")])
    assert len(answers) == 4
    (tmp_path / "known.csv").write_text("size,city,rooms\n100,paris,3\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnseenLevels)
        dlspec.predict(str(table_run), [str(tmp_path / "known.csv")])
    done = CliRunner().invoke(main, ["predict", str(table_run), str(tmp_path / "new.csv")])
    assert done.exit_code == 0 and "warning: " in done.output and "city: berlin, rome" in done.output
