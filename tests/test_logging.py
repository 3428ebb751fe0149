"""The `log` train setting (TensorBoard, MLflow) and the progress bar within an epoch."""
import csv
import io
import json

import pytest
from click.testing import CliRunner

import dlspec
from dlspec.cli import main
from dlspec.errors import DlspecError, UnknownNameError
from dlspec.train import loggers as loggers_module
from dlspec.train.loggers import Loggers
from dlspec.train.progress import EpochProgress

SPEC = """
model M {{ input image(1, 8, 8); flatten -> linear(16) -> relu -> linear(10) }}
data d {{ source sklearn_digits; split train=0.5 val=0.25 test=0.25; batch 128 }}
train {{ epochs 2; metrics accuracy; optimizer adam(lr=3e-3)
    {log} }}
"""


def quiet(*a):
    pass


def history(run_dir):
    with open(run_dir / "metrics.csv", newline="") as f:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]


def test_tensorboard_event_files_hold_the_logged_scalars(write_spec, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    run = dlspec.fit(write_spec(SPEC.format(log="log tensorboard(every=0.000001)")), out=str(tmp_path / "run"),
                     log=quiet)
    events = EventAccumulator(str(tmp_path / "run" / "tensorboard"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    rows = history(tmp_path / "run")
    for column in ("loss", "accuracy", "val_loss", "val_accuracy", "lr", "samples_per_second"):
        logged = [(e.step, e.value) for e in events.Scalars(f"epoch/{column}")]
        assert logged == [(int(r["epoch"]), pytest.approx(r[column], rel=1e-6)) for r in rows], column
    assert {"step/loss", "step/lr", "step/samples_per_second"} <= tags
    steps = [e.step for e in events.Scalars("step/loss")]
    assert steps == list(range(1, 2 * 8 + 1))  # every step at every=1e-6: 8 batches of 128 in 898 samples, 2 epochs
    assert events.Scalars("hparam/test_accuracy")[0].value == pytest.approx(run.results["test"]["accuracy"])
    assert events.Scalars("hparam/best_val_loss")[0].value == pytest.approx(run.results["best"]["val_loss"])


@pytest.mark.slow
def test_mlflow_run_holds_params_and_metrics_in_a_file_store_under_the_run(write_spec, tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    store = tmp_path / "run" / "mlruns"
    path = write_spec(SPEC.format(log=f'log mlflow(uri="{store}", experiment="tests", run_name="r1")'))
    run = dlspec.fit(path, out=str(tmp_path / "run"), log=quiet)
    from mlflow.tracking import MlflowClient
    client = MlflowClient(tracking_uri=f"file:{store}")
    [found] = client.search_runs([client.get_experiment_by_name("tests").experiment_id])
    assert found.info.run_name == "r1" and found.info.status == "FINISHED"
    assert found.data.params["optimizer.name"] == "adam" and found.data.params["model"] == "M"
    losses = [(m.step, m.value) for m in client.get_metric_history(found.info.run_id, "val_loss")]
    assert losses == [(int(r["epoch"]), pytest.approx(r["val_loss"])) for r in history(tmp_path / "run")]
    assert found.data.metrics["test_accuracy"] == pytest.approx(run.results["test"]["accuracy"])
    assert [a.path for a in client.list_artifacts(found.info.run_id)] == ["results.json"]


def test_a_missing_logging_package_is_one_line_naming_the_extra(write_spec, monkeypatch):
    real = loggers_module.importlib.util.find_spec
    monkeypatch.setattr(loggers_module.importlib.util, "find_spec",
                        lambda name, *a: None if name == "mlflow" else real(name, *a))
    path = write_spec(SPEC.format(log="log tensorboard, mlflow"))
    result = CliRunner().invoke(main, ["compile", str(path)])
    assert result.exit_code == 1
    assert "log mlflow needs the mlflow package, which is not installed: pip install 'dlspec[mlflow]'" \
        in result.output
    assert ":5:" in result.output.splitlines()[0]  # located at the `log` line
    with pytest.raises(DlspecError, match=r"pip install 'dlspec\[mlflow\]'"):
        dlspec.fit(path, out=str(path.parent / "run"), log=quiet)
    assert not (path.parent / "run").exists()  # refused before anything was written


def test_unknown_logger_and_argument_are_located_errors(write_spec):
    with pytest.raises(UnknownNameError, match="unknown logger 'tensorbord'. Did you mean 'tensorboard'"):
        dlspec.api.compile_spec(write_spec(SPEC.format(log="log tensorbord")))
    with pytest.raises(DlspecError, match="every"):
        dlspec.api.compile_spec(write_spec(SPEC.format(log="log tensorboard(every=-1)")))


class Recorder:
    every = 0.0

    def __init__(self):
        self.steps = []

    def step(self, global_step, scalars):
        self.steps.append((global_step, scalars))


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_draws_with_eta_and_costs_no_reads_without_a_terminal_or_logger(monkeypatch):
    silent = EpochProgress(1, 3, 10, enabled=True, loggers=Loggers([]))  # stderr is no terminal under pytest
    assert silent.bar is None and not silent.due()  # so the loop never reads the loss for it
    screen = Terminal()
    monkeypatch.setattr("sys.stderr", screen)
    bar = EpochProgress(2, 3, 10, enabled=True, loggers=Loggers([]))
    bar.last -= 1.0
    assert bar.due()
    bar.show(4, 0.5, 256)
    bar.close()
    drawn = screen.getvalue()
    assert "epoch 2/3" in drawn and "4/10" in drawn and "loss 0.5000" in drawn and "<" in drawn  # elapsed<ETA


def test_per_step_logs_carry_a_global_step_and_the_learning_rate():
    recorder = Recorder()
    progress = EpochProgress(3, 3, 10, enabled=False, loggers=Loggers([recorder]), lr=lambda: 0.01)
    progress.last = progress.last_log = progress.last - 1.0
    assert progress.due()
    progress.show(4, 0.25, 64)
    [(step, scalars)] = recorder.steps
    assert step == 2 * 10 + 4 and scalars["loss"] == 0.25 and scalars["lr"] == 0.01 and scalars["samples_per_second"] > 0


def test_run_yaml_records_the_loggers(write_spec, tmp_path):
    dlspec.fit(write_spec(SPEC.format(log="log csv, tensorboard")), out=str(tmp_path / "run"), epochs=1, log=quiet)
    import yaml
    settings = yaml.safe_load((tmp_path / "run" / "run.yaml").read_text())
    assert [entry["name"] for entry in settings["log"]] == ["csv", "tensorboard"]
    assert json.loads((tmp_path / "run" / "results.json").read_text())["test"]
