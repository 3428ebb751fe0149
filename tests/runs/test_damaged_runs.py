"""A damaged run directory is a one-line error naming the damaged field, never an internal error: every
field of a checkpoint given a wrong type, and weights or optimizer states with other names or shapes, for
every verb that loads a run (evaluate, predict, export, fit --resume)."""
import os
import shutil

import pytest
import torch
from click.testing import CliRunner

import dlspec
from dlspec.cli import main
from dlspec.errors import DlspecError
from dlspec.train.checkpoint import load_checkpoint
from dlspec.train.checkpoint_fields import OPTIONAL, REQUIRED
from tests.helpers.table_runs import fit_table_run, quiet

@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    return fit_table_run(tmp_path_factory.mktemp("damaged"), body="linear(8) -> relu -> dropout(0.1) -> linear(3)")


def damage(clean, tmp_path, edit):
    """A copy of the clean run whose two checkpoints were edited by `edit(state)`."""
    run = tmp_path / "run"
    if run.exists():
        shutil.rmtree(run)
    shutil.copytree(clean / "run", run)
    for name in ("last.ckpt", "best.ckpt"):
        state = load_checkpoint(str(run / name))
        edit(state)
        torch.save(state, run / name)
    return run


def verbs(run, clean):
    return {
        "evaluate": lambda: dlspec.evaluate(str(run), split="val"),
        "predict": lambda: dlspec.predict(str(run), [str(clean / "new.csv")]),
        "export": lambda: dlspec.export(str(run), out=str(run / "exp")),
        "resume": lambda: dlspec.fit(None, resume=str(run), epochs=2, log=quiet, progress=False),
    }


def wrong_value(name):
    """A value of a type the field never has."""
    return 12345 if name in ("spec_text", "spec_file", "task") else "not what dlspec wrote"


def assert_one_line(info, run, field, words=""):
    message = info.value.message
    assert "\n" not in message, message
    assert message.startswith((f"{run}/last.ckpt is damaged: its field '{field}'",
                               f"{run}/best.ckpt is damaged: its field '{field}'")), message
    assert words in message
    assert "train the run again" in info.value.hint


@pytest.mark.parametrize("field", list(REQUIRED) + list(OPTIONAL))
def test_a_field_of_the_wrong_type_is_named_by_every_verb(clean, tmp_path, field):
    run = damage(clean, tmp_path, lambda state: state.__setitem__(field, wrong_value(field)))
    for verb, call in verbs(run, clean).items():
        with pytest.raises(DlspecError) as info:
            call()
        assert_one_line(info, run, field, "is not ")


@pytest.mark.parametrize("field", list(REQUIRED))
def test_a_missing_field_is_named(clean, tmp_path, field):
    run = damage(clean, tmp_path, lambda state: state.pop(field))
    with pytest.raises(DlspecError) as info:
        dlspec.evaluate(str(run), split="val")
    assert_one_line(info, run, field, "is missing")


@pytest.mark.parametrize("setting, value", [("train", 7), ("model", ["Net"]), ("epochs", "two"), ("epochs", 0)])
def test_settings_of_the_wrong_type(clean, tmp_path, setting, value):
    run = damage(clean, tmp_path, lambda state: state["settings"].__setitem__(setting, value))
    for verb, call in verbs(run, clean).items():
        with pytest.raises(DlspecError) as info:
            call()
        assert_one_line(info, run, "settings", "is not a dict of settings")


def rename(state):
    weights = state["model"]
    weights["renamed.weight"] = weights.pop(next(iter(weights)))


def extra(state):
    state["model"]["intruder.bias"] = torch.zeros(3)


def missing(state):
    state["model"].pop(list(state["model"])[-1])


def resized(state):
    key = next(iter(state["model"]))
    state["model"][key] = torch.zeros(5, 5)


@pytest.mark.parametrize("edit, words", [
    (rename, "lacks 1 weight (linear.weight); it has 1 weight (renamed.weight) the model lacks"),
    (extra, "has 1 weight (intruder.bias) the model lacks"),
    (missing, "lacks 1 weight (linear_1.bias)"),
    (resized, "has linear.weight of shape [5, 5] where the model's is [8, 4]"),
])
def test_weights_with_other_names_or_shapes(clean, tmp_path, edit, words):
    run = damage(clean, tmp_path, edit)
    for verb, call in verbs(run, clean).items():
        with pytest.raises(DlspecError) as info:
            call()
        assert_one_line(info, run, "model", "does not fit the model its spec builds: it " + words)


def test_a_stored_spec_of_another_model_is_a_weights_mismatch(clean, tmp_path):
    run = damage(clean, tmp_path,
                 lambda s: s.__setitem__("spec_text", s["spec_text"].replace("linear(8)", "linear(9)")))
    for verb, call in verbs(run, clean).items():
        with pytest.raises(DlspecError) as info:
            call()
        assert_one_line(info, run, "model", "of shape [8, 4] where the model's is [9, 4]")


def other_optimizer(state):
    exp_avg = next(iter(state["optimizer"]["state"].values()))
    exp_avg["exp_avg"] = torch.zeros(2, 2)


def fewer_groups(state):
    state["optimizer"]["param_groups"][0]["params"] = state["optimizer"]["param_groups"][0]["params"][:1]


def bad_rng(state):
    state["rng"]["torch"] = torch.zeros(3, dtype=torch.uint8)


@pytest.mark.parametrize("edit, field, words", [
    (other_optimizer, "optimizer", "its exp_avg of shape [2, 2] belongs to a parameter of shape [8, 4]"),
    (fewer_groups, "optimizer", "cannot be restored: "),
    (bad_rng, "rng", "cannot be restored: "),
])
def test_resume_names_a_state_that_cannot_be_restored(clean, tmp_path, edit, field, words):
    run = damage(clean, tmp_path, edit)
    with pytest.raises(DlspecError) as info:
        dlspec.fit(None, resume=str(run), epochs=2, log=quiet, progress=False)
    assert_one_line(info, run, field, words)


def test_not_a_dict_and_not_a_checkpoint(clean, tmp_path):
    run = damage(clean, tmp_path, lambda s: None)
    torch.save([1, 2, 3], run / "last.ckpt")
    with pytest.raises(DlspecError, match="last.ckpt is not a dlspec checkpoint: it holds a list, not a dict"):
        dlspec.evaluate(str(run))
    (run / "last.ckpt").write_bytes(b"garbage")
    with pytest.raises(DlspecError) as info:
        dlspec.evaluate(str(run))
    assert info.value.message.startswith(f"cannot read checkpoint {run}/last.ckpt: ") and "\n" not in info.value.message


@pytest.mark.parametrize("verb", ["evaluate", "predict", "export", "fit"])
def test_the_cli_reports_a_damaged_run_without_an_internal_error(clean, tmp_path, verb):
    run = damage(clean, tmp_path, lambda s: s.__setitem__("settings", ["not", "a", "dict"]))
    args = {"evaluate": ["evaluate", str(run)], "predict": ["predict", str(run), str(clean / "new.csv")],
            "export": ["export", str(run)], "fit": ["fit", "--resume", str(run), "--epochs", "2"]}[verb]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1, result.output
    assert "internal error" not in result.output and "Traceback" not in result.output
    assert f"last.ckpt is damaged: its field 'settings' is not a dict of settings" in result.output
    assert not os.path.exists(run / "export")


@pytest.mark.parametrize("field, edit, words", [
    ("table", lambda s: s["table"]["columns"][0].__setitem__("kind", "weird"), "is not a table encoding"),
    ("table", lambda s: s["table"]["columns"].append({"name": "city", "kind": "onehot"}), "is not a table encoding"),
    ("normalization", lambda s: s.__setitem__("normalization", {"mean": "x", "std": [1.0]}),
     "is not normalisation statistics"),
    ("optimizer", lambda s: s["optimizer"]["param_groups"][0].__setitem__("lr", "fast"),
     "is not an optimizer state_dict"),
    ("vocab", lambda s: s.__setitem__("vocab", ["<pad>", "good"]),
     "is set, but the model its spec builds takes no tokens"),
])
def test_damaged_contents_of_a_field(clean, tmp_path, field, edit, words):
    run = damage(clean, tmp_path, edit)
    calls = verbs(run, clean)
    if field == "vocab":  # read by the verbs that use a finished run; a resume takes the vocabulary from the data
        calls.pop("resume")
    for verb, call in calls.items():
        with pytest.raises(DlspecError) as info:
            call()
        assert_one_line(info, run, field, words)


def test_a_table_encoding_of_another_width_is_named(clean, tmp_path):
    run = damage(clean, tmp_path, lambda s: s["table"].__setitem__("columns", s["table"]["columns"][:2]))
    for verb, call in verbs(run, clean).items():
        with pytest.raises(DlspecError) as info:
            call()
        assert_one_line(info, run, "table", "encodes 2 features, but the run's samples had 4 (field 'sample_shape')")


def test_evaluate_names_a_task_the_data_does_not_have(clean, tmp_path):
    run = damage(clean, tmp_path, lambda s: s.__setitem__("task", "regression"))
    with pytest.raises(DlspecError) as info:
        dlspec.evaluate(str(run), split="val")
    assert info.value.message == "this run was trained for regression, but data rows is classification data now"
    assert "field 'task'" in info.value.hint
