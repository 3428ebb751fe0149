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


# ---- fit --resume goes on with the run's loggers ----

def stop_after(epoch):
    """An on_epoch hook that interrupts the fit once `epoch` is saved, as Ctrl-C between epochs does."""
    def hook(row):
        if row["epoch"] == epoch:
            raise KeyboardInterrupt
    return hook


def edit_checkpoint(run_dir, change):
    import torch
    path = run_dir / "last.ckpt"
    state = torch.load(path, weights_only=True)
    change(state)
    torch.save(state, path)


def scalars(folder):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    events = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def test_resumed_tensorboard_holds_each_epoch_and_step_once(write_spec, tmp_path):
    from torch.utils.tensorboard import SummaryWriter
    out = tmp_path / "run"
    path = write_spec(SPEC.format(log="log tensorboard(every=0.000001)").replace("epochs 2", "epochs 4"))
    stopped = dlspec.fit(path, out=str(out), log=quiet, on_epoch=stop_after(2))
    assert stopped.interrupted
    late = SummaryWriter(str(out / "tensorboard"))  # what a process killed in epoch 3 had logged by then
    for step in range(17, 21):
        late.add_scalar("step/loss", 99.0, step)
    late.add_scalar("epoch/loss", 99.0, 3)
    late.close()
    run = dlspec.fit(None, resume=str(out), log=quiet)
    logged, rows = scalars(out / "tensorboard"), history(out)
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4]
    for column in ("loss", "accuracy", "val_loss", "val_accuracy", "lr", "samples_per_second"):
        assert logged[f"epoch/{column}"] == [(int(r["epoch"]), pytest.approx(r[column], rel=1e-6)) for r in rows]
    assert [step for step, _ in logged["step/loss"]] == list(range(1, 4 * 8 + 1))  # 8 batches an epoch
    assert 99.0 not in [value for _, value in logged["step/loss"]]
    assert logged["hparam/test_accuracy"] == [(0, pytest.approx(run.results["test"]["accuracy"]))]


def test_resuming_a_finished_run_replaces_its_tensorboard_hparams(write_spec, tmp_path):
    out = tmp_path / "run"
    dlspec.fit(write_spec(SPEC.format(log="log tensorboard")), out=str(out), epochs=1, log=quiet)
    run = dlspec.fit(None, resume=str(out), epochs=2, log=quiet)
    logged = scalars(out / "tensorboard")
    assert [step for step, _ in logged["epoch/val_loss"]] == [1, 2]
    assert logged["hparam/best_val_loss"] == [(0, pytest.approx(run.results["best"]["val_loss"]))]
    assert len(list((out / "tensorboard").glob("events.out.tfevents.*"))) == 2  # one file a process


def test_a_tensorboard_folder_outside_the_run_keeps_the_files_of_other_runs(write_spec, tmp_path):
    import torch
    from torch.utils.tensorboard import SummaryWriter
    shared, out = tmp_path / "tb", tmp_path / "run"
    other = SummaryWriter(str(shared))  # another run logging into the same folder, further along
    for epoch in range(1, 6):
        other.add_scalar("epoch/loss", 1.0 / epoch, epoch)
    other.close()
    [other_file] = list(shared.iterdir())
    before = other_file.read_bytes()
    dlspec.fit(write_spec(SPEC.format(log=f'log tensorboard(dir="{shared}")')), out=str(out), epochs=1, log=quiet)
    dlspec.fit(None, resume=str(out), epochs=2, log=quiet, trust=True)  # a folder outside the run needs --trust
    assert other_file.read_bytes() == before
    mine = torch.load(out / "last.ckpt", weights_only=True)["loggers"]["tensorboard"]["files"]
    assert len(mine) == 2 and other_file.name not in mine and all((shared / name).exists() for name in mine)


def test_dropping_events_after_a_checkpoint_keeps_the_rest_byte_for_byte(tmp_path):
    from torch.utils.tensorboard import SummaryWriter
    from dlspec.train.loggers import Resume
    from dlspec.train.loggers.event_files import drop_after_checkpoint
    writer = SummaryWriter(str(tmp_path))
    for step in range(1, 13):
        writer.add_scalar("step/loss", float(step), step)
    for epoch in (1, 2, 3):
        writer.add_scalar("epoch/loss", float(epoch), epoch)
    writer.add_scalar("other/tag", 5.0, 99)  # not dlspec's: kept whatever its step
    writer.close()
    [path] = list(tmp_path.iterdir())
    whole = path.read_bytes()
    path.write_bytes(whole + whole[-30:-10])  # a record cut short by a kill while writing
    assert drop_after_checkpoint(str(tmp_path), Resume(epoch=2, global_step=8)) == {1, 2}
    assert len(path.read_bytes()) < len(whole)
    logged = scalars(tmp_path)  # read with checksums: a record copied wrongly would end the reading there
    assert [s for s, _ in logged["step/loss"]] == list(range(1, 9)) and [s for s, _ in logged["epoch/loss"]] == [1, 2]
    assert logged["other/tag"] == [(99, 5.0)]


def mlflow_runs(store, experiment="tests"):
    from mlflow.tracking import MlflowClient
    client = MlflowClient(tracking_uri=f"file:{store}")
    return client, client.search_runs([client.get_experiment_by_name(experiment).experiment_id])


def metric_steps(client, run, key):
    return [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, key)]


@pytest.mark.slow
def test_resume_goes_on_with_the_same_mlflow_run(write_spec, tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    store, out = tmp_path / "mlruns", tmp_path / "run"
    spec = SPEC.format(log=f'log mlflow(uri="{store}", experiment="tests", run_name="r1", every=0.000001)')
    dlspec.fit(write_spec(spec), out=str(out), log=quiet, on_epoch=stop_after(1))
    client, [first] = mlflow_runs(store)
    assert first.info.status == "FAILED"  # interrupted
    client.log_metric(first.info.run_id, "step_loss", 99.0, step=9)  # logged in epoch 2 before the stop
    lines = []
    run = dlspec.fit(None, resume=str(out), epochs=3, log=lines.append)
    client, [found] = mlflow_runs(store)
    assert found.info.run_id == first.info.run_id and found.info.status == "FINISHED"
    assert found.info.run_name == "r1"
    rows = history(out)
    assert metric_steps(client, found, "val_loss") == [(int(r["epoch"]), pytest.approx(r["val_loss"])) for r in rows]
    assert [step for step, _ in metric_steps(client, found, "loss")] == [1, 2, 3]
    steps = [step for step, _ in metric_steps(client, found, "step_loss")]
    assert steps == list(range(1, 3 * 8 + 1))  # the resumed process starts after the steps already logged
    assert found.data.metrics["test_accuracy"] == pytest.approx(run.results["test"]["accuracy"])
    assert found.data.params["epochs"] == "2" and found.data.tags["resumed.epochs"] == "3"
    assert (f"log mlflow: resumed MLflow run {found.info.run_id} keeps the parameters it was started with; "
            f"now different (set as tags resumed.NAME): epochs 2 -> 3") in lines


@pytest.mark.slow
def test_a_recorded_mlflow_run_that_is_gone_is_a_warning_and_a_new_run(write_spec, tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    store, out = tmp_path / "mlruns", tmp_path / "run"
    dlspec.fit(write_spec(SPEC.format(log=f'log mlflow(uri="{store}", experiment="tests")')), out=str(out),
               epochs=1, log=quiet)
    client, [first] = mlflow_runs(store)
    client.delete_run(first.info.run_id)
    result = CliRunner().invoke(main, ["fit", "--resume", str(out), "--epochs", "2"])
    assert result.exit_code == 0, result.output
    warning = (f"log mlflow: the MLflow run this run logged to ({first.info.run_id}) was deleted from "
               f"file:{store} (experiment tests); the resumed run logs to a new MLflow run")
    assert [line for line in result.output.splitlines() if "log mlflow" in line] == [f"warning: {warning}"]
    client, [new] = mlflow_runs(store)
    assert new.info.run_id != first.info.run_id and new.info.status == "FINISHED"
    assert [step for step, _ in metric_steps(client, new, "val_loss")] == [1, 2]  # epoch 1 from the history
    edit_checkpoint(out, lambda state: state["loggers"]["mlflow"].update(run_id="0" * 32))
    with pytest.warns(dlspec.DlspecWarning, match=f"logged to \\({'0' * 32}\\) is not in file:{store}"):
        dlspec.fit(None, resume=str(out), epochs=3, log=quiet)


@pytest.mark.slow
def test_a_logger_added_on_resume_starts_with_the_epochs_so_far(write_spec, tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    store, out = tmp_path / "mlruns", tmp_path / "run"
    dlspec.fit(write_spec(SPEC.format(log="log csv")), out=str(out), epochs=1, log=quiet)
    added = f'log tensorboard, mlflow(uri="{store}", experiment="tests")'
    edit_checkpoint(out, lambda state: state.update(spec_text=state["spec_text"].replace("log csv", added)))
    dlspec.fit(None, resume=str(out), epochs=2, log=quiet)
    client, [found] = mlflow_runs(store)
    rows = history(out)
    assert metric_steps(client, found, "val_loss") == [(int(r["epoch"]), pytest.approx(r["val_loss"])) for r in rows]
    assert [step for step, _ in scalars(out / "tensorboard")["epoch/val_loss"]] == [1, 2]
