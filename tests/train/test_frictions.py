"""The small frictions of issue 27: `batch` in the train block, `--set BLOCK.SETTING=VALUE`, a dotted source
beside the spec or from a `use` file, and test metrics every epoch."""
import pytest

import dlspec
from dlspec.errors import DlspecError, UnknownNameError
from dlspec.spec import load
from dlspec.train.config import TRAIN_SETTINGS, read_train
from dlspec.data.config import DATA_SETTINGS
from tests.conftest import ROOT

DIGITS = str(ROOT / "specs" / "digits.dlspec")

TWO_RUNS = """\
model M {
    input image(1, 8, 8)
    flatten -> linear(10)
}
data digits {
    source sklearn_digits
    batch 64
}
train small {
    batch 8
    epochs 1
}
train plain {
    epochs 1
}
"""


def test_train_block_batch_wins_over_the_data_blocks():
    spec = dlspec.loads(TWO_RUNS)
    assert read_train(spec, "small").data.batch == 8
    assert read_train(spec, "plain").data.batch == 64
    assert read_train(spec, "small").resolved()["batch"] == 8


def test_train_block_batch_is_checked_at_its_line():
    with pytest.raises(DlspecError) as exc:
        read_train(dlspec.loads(TWO_RUNS.replace("batch 8", "batch 0")), "small")
    assert exc.value.loc.line == 10 and "batch" in str(exc.value)


def test_set_reaches_data_and_train_settings():
    cfg = read_train(load(DIGITS, {"digits.batch": "16", "train.seed": "5", "digits.split": "train=0.5 val=0.5"}))
    assert (cfg.data.batch, cfg.seed, cfg.data.fractions) == (16, 5, {"train": 0.5, "val": 0.5, "test": 0.0})
    plain = read_train(load(DIGITS))
    assert (plain.data.batch, plain.seed) == (32, 0)


def test_set_adds_a_setting_the_block_does_not_write_and_reads_paths_as_text():
    cfg = read_train(load(DIGITS, {"digits.workers": "1", "train.out": "runs/a"}))
    assert cfg.data.workers == 1 and cfg.out == "runs/a"


def test_set_let_still_means_the_let_and_is_kept_beside_settings():
    spec = load(DIGITS, {"width": "8", "digits.batch": "16"})
    assert spec.program.let_value("width", None) == 8
    again = spec.program.with_overrides({"width": "4"})
    assert read_train(dlspec.spec.Spec(again, spec.text)).data.batch == 16


def test_set_unknown_train_setting_lists_the_valid_ones():
    with pytest.raises(UnknownNameError) as exc:
        read_train(load(DIGITS, {"train.sed": "1"}))
    assert "unknown train setting 'sed'" in str(exc.value) and "Did you mean 'seed'" in str(exc.value)
    assert "train settings: " + ", ".join(sorted(TRAIN_SETTINGS)) in exc.value.hint


def test_set_unknown_data_setting_names_the_nearest():
    with pytest.raises(UnknownNameError) as exc:
        read_train(load(DIGITS, {"digits.bach": "16"}))
    assert "unknown data setting 'bach'" in str(exc.value) and "'batch'" in str(exc.value)
    assert all(k in exc.value.hint for k in DATA_SETTINGS)


def test_set_unknown_block_names_the_blocks():
    with pytest.raises(UnknownNameError) as exc:
        load(DIGITS, {"digitz.batch": "16"})
    assert "no data or train block named 'digitz'. Did you mean 'digits'?" in str(exc.value)
    assert "blocks: digits, train" in exc.value.hint


def test_set_bad_value_is_located_in_the_set():
    with pytest.raises(DlspecError) as exc:
        read_train(load(DIGITS, {"digits.batch": "abc"}))
    assert exc.value.loc.file == "<--set digits.batch>" and "expects an integer" in str(exc.value)


def test_set_name_without_a_let_points_at_block_settings():
    with pytest.raises(UnknownNameError) as exc:
        load(DIGITS, {"seed": "1"})
    assert "no `let seed`" in str(exc.value) and "train.seed" in exc.value.hint
