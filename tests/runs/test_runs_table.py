"""`dlspec runs [DIR]`: the table of run directories (dlspec/runs/table.py)."""
import csv
import json

import pytest
import yaml
from click.testing import CliRunner

import dlspec
from dlspec.cli import main
from dlspec.errors import DlspecError
from dlspec.runs.table import format_runs


def fake_run(folder, model, accuracy, loss, epochs=(2, 2), duration=10.0, finished=True, monitor="val_loss"):
    """A run directory as dlspec fit writes it: run.yaml, metrics.csv and (when finished) results.json."""
    folder.mkdir(parents=True)
    (folder / "run.yaml").write_text(yaml.safe_dump({"model": model, "data": "d", "epochs": epochs[1],
                                                     "early_stop": None}))
    rows = [{"epoch": e, "loss": 1.0 / e, "val_loss": loss + (epochs[0] - e) * 0.1, "val_accuracy": accuracy}
            for e in range(1, epochs[0] + 1)]
    with open(folder / "metrics.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    if finished:
        (folder / "results.json").write_text(json.dumps({
            "best": rows[-1], "monitor": monitor, "test": {"loss": loss, "accuracy": accuracy},
            "duration_seconds": duration, "checkpoint": "best"}))


@pytest.fixture
def runs(tmp_path):
    fake_run(tmp_path / "a", "Small", 0.80, 0.50, duration=5.0)
    fake_run(tmp_path / "b", "Large", 0.95, 0.20, duration=50.0)
    fake_run(tmp_path / "sweep" / "c", "Mid", 0.90, 0.30, duration=20.0)
    (tmp_path / "b" / "tensorboard").mkdir()  # folders inside a run are not runs
    fake_run(tmp_path / "d", "Broken", 0.10, 2.0, epochs=(3, 10), finished=False)
    return tmp_path


def test_every_run_under_the_folder_is_a_row(runs):
    rows = {r["run"]: r for r in dlspec.list_runs(str(runs))}
    assert sorted(rows) == ["a", "b", "d", "sweep/c"]
    assert rows["b"] == {"run": "b", "model": "Large", "data": "d", "epochs": "2/2", "monitor": "val_loss",
                         "best": 0.20, "test_loss": 0.20, "test_accuracy": 0.95, "duration_s": 50.0,
                         "status": "done"}
    unfinished = rows["d"]
    assert unfinished["epochs"] == "3/10" and unfinished["status"] == "unfinished"
    assert unfinished["best"] == pytest.approx(2.0)  # the lowest val_loss in metrics.csv so far


@pytest.mark.parametrize("sort, order", [
    ("test_accuracy", ["b", "sweep/c", "a", "d"]),  # higher is better; runs without it last
    ("accuracy", ["b", "sweep/c", "a", "d"]),       # a metric's name means its test value
    ("test_loss", ["b", "sweep/c", "a", "d"]),      # lower is better
    ("best", ["b", "sweep/c", "a", "d"]),           # the monitor is val_loss: lower first
    ("duration_s", ["a", "sweep/c", "b", "d"]),
])
def test_sorting_puts_the_best_first(runs, sort, order):
    assert [r["run"] for r in dlspec.list_runs(str(runs), sort=sort)] == order
    with_value = order if sort == "best" else order[:3]  # the unfinished run d has only a best value
    assert [r["run"] for r in dlspec.list_runs(str(runs), sort=sort, reverse=True)] == \
        with_value[::-1] + order[len(with_value):]  # runs without the value stay last


def test_unknown_sort_column_and_missing_folder(runs, tmp_path):
    with pytest.raises(DlspecError, match="--sort acuracy: no run has that column. Did you mean 'test_accuracy'"):
        dlspec.list_runs(str(runs), sort="acuracy")
    with pytest.raises(DlspecError, match="is not a folder"):
        dlspec.list_runs(str(tmp_path / "nope"))


def test_cli_prints_an_aligned_table(runs):
    result = CliRunner().invoke(main, ["runs", str(runs), "--sort", "test_accuracy"])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0].split() == ["run", "model", "data", "epochs", "monitor", "best", "duration_s", "test_accuracy",
                                "test_loss", "status"]
    assert [line.split()[0] for line in lines[1:]] == ["b", "sweep/c", "a", "d"]
    assert lines[1].split()[5:9] == ["0.2", "50", "0.95", "0.2"]
    assert lines[4].split()[-1] == "unfinished" and " - " in lines[4]
    assert len({line.index("status") if "status" in line else None for line in lines[:1]}) == 1
    as_json = json.loads(CliRunner().invoke(main, ["runs", str(runs), "--json"]).output)
    assert len(as_json) == 4 and format_runs([]) == "no runs found"


def test_a_real_run_is_listed(write_spec, tmp_path):
    path = write_spec("model M { input image(1, 8, 8); flatten -> linear(10) }\n"
                      "data d { source sklearn_digits; split train=0.8 val=0.1 test=0.1; batch 256 }\n"
                      "train { epochs 1; metrics accuracy }\n")
    run = dlspec.fit(path, out=str(tmp_path / "runs" / "first"), log=lambda *a: None)
    [row] = dlspec.list_runs(str(tmp_path / "runs"))
    assert row["run"] == "first" and row["model"] == "M" and row["epochs"] == "1/1" and row["status"] == "done"
    assert row["test_accuracy"] == pytest.approx(run.results["test"]["accuracy"])
    assert row["best"] == pytest.approx(run.results["best"]["val_loss"]) and row["duration_s"] > 0


SCALED_SERIES = """model Net {{ input sequence(10, 1); flatten -> linear(1) }}
data d {{ source sine(length=120, window=10); split train=0.6 val=0.2 test=0.2; scale {scale} }}
train {{ loss mse; epochs 1; metrics mae }}
"""


@pytest.mark.parametrize("scale", ["standard", "none"])
def test_a_scaled_loss_is_labelled_beside_metrics_in_original_units(tmp_path, scale):
    """Issue 23: test_loss (scaled units) sat beside test_mae (original units) under plain names."""
    path = tmp_path / "s.dlspec"
    path.write_text(SCALED_SERIES.format(scale=scale))
    dlspec.fit(str(path), out=str(tmp_path / "runs" / "r"), log=lambda *a: None, progress=False)
    row, = dlspec.list_runs(str(tmp_path / "runs"))
    if scale == "standard":
        assert "test_loss" not in row and {"test_loss_scaled", "test_mae"} <= set(row)
        assert row["monitor"] == "val_loss_scaled"
    else:
        assert {"test_loss", "test_mae"} <= set(row) and row["monitor"] == "val_loss"
    ordered = dlspec.list_runs(str(tmp_path / "runs"), sort=f"test_loss{'_scaled' if scale == 'standard' else ''}")
    assert ordered == [row]


def test_a_scaled_loss_column_sorts_ascending(tmp_path):
    for name, loss in (("a", 0.5), ("b", 0.2)):
        fake_run(tmp_path / name, name, 0.0, loss)
        settings = yaml.safe_load((tmp_path / name / "run.yaml").read_text())
        (tmp_path / name / "run.yaml").write_text(yaml.safe_dump({**settings, "scale": "minmax"}))
    rows = dlspec.list_runs(str(tmp_path), sort="test_loss_scaled")
    assert [r["run"] for r in rows] == ["b", "a"] and rows[0]["test_loss_scaled"] == 0.2
    assert [r["run"] for r in dlspec.list_runs(str(tmp_path), sort="best")] == ["b", "a"]
