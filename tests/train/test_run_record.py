"""The checkpoint as a typed, versioned RunRecord (train/record.py, data/record.py): what a fit writes reads back
field by field, checkpoints written before the version field still load, and an unknown version, a damaged
field or someone else's dict is one line naming what is wrong, through the API and the CLI."""
import dataclasses
import shutil

import pytest
import torch
from click.testing import CliRunner

import dlspec
from dlspec.cli import main
from dlspec.data.record import DataRecord
from dlspec.errors import DlspecError
from dlspec.train.checkpoint import load_record
from dlspec.train.checkpoint_fields import OPTIONAL, REQUIRED, VERSION
from dlspec.train.record import ProgressRecord, RunRecord, SpecRecord
from tests.helpers.table_runs import fit_table_run


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    return fit_table_run(tmp_path_factory.mktemp("record"))


def raw(path):
    return torch.load(path, map_location="cpu", weights_only=True)


def same(a, b) -> bool:
    """Equal values, tensors compared by value (a checkpoint read again holds new tensor objects)."""
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and torch.equal(a, b)
    if isinstance(a, dict) or isinstance(b, dict):
        return isinstance(a, dict) and isinstance(b, dict) and a.keys() == b.keys() and all(
            same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) or isinstance(b, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def same_record(a: RunRecord, b: RunRecord) -> list:
    """The fields where two records differ ([] when they are the same)."""
    differ = [] if a.version == b.version else ["version"]
    for part in ("spec", "data", "progress"):
        for f in dataclasses.fields(getattr(a, part)):
            if not same(getattr(getattr(a, part), f.name), getattr(getattr(b, part), f.name)):
                differ.append(f"{part}.{f.name}")
    return differ


def damaged_copy(clean, tmp_path, edit):
    """A copy of the clean run whose checkpoints were edited by `edit(state)` (the dict torch.load reads)."""
    run = tmp_path / "run"
    shutil.copytree(clean / "run", run)
    for name in ("last.ckpt", "best.ckpt"):
        state = raw(run / name)
        edit(state)
        torch.save(state, run / name)
    return run


# ---- round trips ------------------------------------------------------------------------------------

def test_a_fits_checkpoint_reads_back_field_by_field(clean):
    state = raw(clean / "run" / "last.ckpt")
    record = RunRecord.from_state(state, "last.ckpt")
    again = record.to_state()
    assert again.keys() == state.keys()
    assert [k for k in state if not same(state[k], again[k])] == []
    assert state["version"] == record.version == VERSION
    spec_text = (clean / "net.dlspec").read_text()
    assert record.spec.spec_text == spec_text and record.spec.spec_file == str(clean / "net.dlspec")
    assert record.spec.settings["model"] == "Net" and record.spec.overrides == {}
    assert record.data.classes == ["0", "1", "2"] and record.data.task == "classification"
    assert record.data.sample_shape == [4] and [c["name"] for c in record.data.table["columns"]] == list("abcd")
    assert record.data.fingerprint == {str(clean / "rows.csv"): record.data.fingerprint[str(clean / "rows.csv")]}
    assert record.progress.epoch == 1 and [row["epoch"] for row in record.progress.history] == [1]
    assert set(record.progress.model) == {"linear.weight", "linear.bias", "linear_1.weight", "linear_1.bias"}


def test_every_field_written_is_checked_when_read(clean):
    """The record's keys are exactly those checkpoint_fields checks: a new field cannot go unchecked."""
    written = set(raw(clean / "run" / "last.ckpt"))
    assert written == set(REQUIRED) | set(OPTIONAL)


def constructed() -> RunRecord:
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.ones(1, 3)).sum().backward()
    optimizer.step()
    return RunRecord(
        SpecRecord("model M { input vector(3); linear(2) }", "/specs/m.dlspec",
                   {"train": None, "model": "M", "epochs": 3}, {"lr": 0.1}, {"modules": ["mine"], "entry_points": []}),
        DataRecord(classes=["cat", "dog"], normalization={"mean": [0.5], "std": [0.25]}, task="classification",
                   vocab=None, target_scale=None, series=None, features=["a", "b", "c"],
                   table={"columns": [{"name": n, "kind": "number", "fill": 0.0} for n in "abc"]},
                   sample_shape=[3], fingerprint={"/data/rows.csv": "0" * 64}),
        ProgressRecord(model.state_dict(), optimizer.state_dict(), 2,
                       [{"epoch": 1, "loss": 0.9}, {"epoch": 2, "loss": 0.7}],
                       {"torch": torch.get_rng_state(), "python": [3, [1, 2, 3], None]},
                       best={"value": 0.7, "epoch": 2, "monitor": "loss"}, stop_best=None, bad_epochs=0,
                       train_time=1.5, train_samples=96, loggers={"mlflow": {"run_id": "abc"}}))


def test_a_constructed_record_survives_to_state_and_back(tmp_path):
    record = constructed()
    assert RunRecord.from_state(record.to_state()) == record
    torch.save(record.to_state(), tmp_path / "m.ckpt")  # what weights_only=True reads: no pickled objects
    assert same_record(load_record(str(tmp_path / "m.ckpt")), record) == []


# ---- the version ------------------------------------------------------------------------------------

def test_a_checkpoint_from_before_the_version_field_loads(clean, tmp_path):
    def old_format(state):
        for key in ("version", "stop_best", "bad_epochs", "train_time", "train_samples", "loggers"):
            state.pop(key)
    run = damaged_copy(clean, tmp_path, old_format)
    record = load_record(str(run))
    assert record.version == 1
    assert record.progress.stop_best == record.progress.best  # before `checkpoint monitor=`: one best for both
    assert (record.progress.bad_epochs, record.progress.train_time, record.progress.train_samples) == (0, 0.0, 0)
    assert "loss" in dlspec.evaluate(str(run), split="val")
    resumed = dlspec.fit(None, resume=str(run), epochs=2, log=lambda *a: None, progress=False)
    assert [row["epoch"] for row in resumed.history] == [1, 2]
    assert raw(run / "last.ckpt")["version"] == VERSION  # the resumed run writes today's format


@pytest.mark.parametrize("version", [VERSION + 1, 0, -3])
def test_an_unknown_version_is_one_line_naming_it(clean, tmp_path, version):
    run = damaged_copy(clean, tmp_path, lambda s: s.__setitem__("version", version))
    with pytest.raises(DlspecError) as info:
        dlspec.evaluate(str(run), split="val")
    assert info.value.message == (f"{run}/last.ckpt has checkpoint format {version} (its field 'version'), which "
                                  f"this dlspec cannot read: it reads format {VERSION}")
    assert "another version of dlspec" in info.value.hint
    result = CliRunner().invoke(main, ["predict", str(run), str(clean / "new.csv")])
    assert result.exit_code == 1 and "Traceback" not in result.output and "internal error" not in result.output
    assert f"has checkpoint format {version} (its field 'version')" in result.output


# ---- damaged fields and foreign dicts through the CLI ----------------------------------------------

@pytest.mark.parametrize("field, value, words", [
    ("classes", "cats and dogs", "is not a list of class names"),
    ("history", {"epoch": 1}, "is not a list of metric rows with their epoch"),
    ("version", "two", "is not a format version (a whole number)"),
    ("stop_best", {"value": "low"}, "is not early_stop's best epoch (value, epoch, monitor)"),
])
@pytest.mark.parametrize("verb", ["evaluate", "predict"])
def test_a_damaged_field_is_named_by_the_cli(clean, tmp_path, field, value, words, verb):
    run = damaged_copy(clean, tmp_path, lambda s: s.__setitem__(field, value))
    args = ["evaluate", str(run)] if verb == "evaluate" else ["predict", str(run), str(clean / "new.csv")]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and "internal error" not in result.output
    assert f"last.ckpt is damaged: its field '{field}' {words}" in result.output


def plain_state_dict(state):
    weights = state["model"]
    state.clear()
    state.update(weights)


def another_librarys(state):
    weights = state["model"]
    state.clear()
    state.update({"state_dict": weights, "epoch": 3, "global_step": 12})


@pytest.mark.parametrize("edit, what", [
    (plain_state_dict, "a plain state_dict (names to tensors)"),
    (another_librarys, "a dict with keys state_dict, epoch, global_step"),
    (dict.clear, "an empty dict"),
])
def test_a_foreign_dict_is_refused_as_not_a_dlspec_checkpoint(clean, tmp_path, edit, what):
    run = damaged_copy(clean, tmp_path, edit)
    with pytest.raises(DlspecError) as info:
        load_record(str(run))
    assert info.value.message == (f"{run}/last.ckpt is not a dlspec checkpoint: it holds {what}, without the "
                                  "fields dlspec writes (spec_text, settings)")
    assert "dlspec fit" in info.value.hint and "init" in info.value.hint
    result = CliRunner().invoke(main, ["evaluate", str(run)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"is not a dlspec checkpoint: it holds {what}" in result.output


def test_a_dlspec_checkpoint_missing_one_of_its_own_fields_is_damaged_not_foreign(clean, tmp_path):
    run = damaged_copy(clean, tmp_path, lambda s: s.pop("spec_text"))
    with pytest.raises(DlspecError) as info:
        load_record(str(run))
    assert info.value.message == f"{run}/last.ckpt is damaged: its field 'spec_text' is missing"
