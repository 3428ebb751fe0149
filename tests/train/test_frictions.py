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


DATASET_PY = """\
import torch
from torch.utils.data import Dataset


class {name}(Dataset):
    classes = ["a", "b"]

    def __init__(self, n=40):
        self.x = torch.arange(n * 4, dtype=torch.float32).reshape(n, 4) / (n * 4)
        self.y = [i % 2 for i in range(n)]
        self.targets = self.y

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return self.x[i], self.y[i]
"""

SOURCE_SPEC = """\
{use}
model M {{
    input vector(4)
    linear(2)
}}
data d {{
    source {source}(n=40)
    batch 8
}}
train {{
    epochs 1
}}
"""


def _data_of(path):
    from dlspec.data.config import read_data
    from dlspec.data.pipeline import build_data
    spec = load(str(path))
    return build_data(read_data(spec.program.data["d"], spec.program.global_env()))


def test_dotted_source_beside_the_spec_needs_no_pythonpath(tmp_path):
    import sys
    (tmp_path / "beside_spec_data.py").write_text(DATASET_PY.format(name="Beside"))
    spec = tmp_path / "m.dlspec"
    spec.write_text(SOURCE_SPEC.format(use="", source="beside_spec_data.Beside"))
    assert str(tmp_path) not in sys.path
    bundle = _data_of(spec)
    assert sum(bundle.sizes.values()) == 40 and bundle.classes == ["a", "b"]
    assert str(tmp_path) not in sys.path  # only while importing


def test_dotted_source_not_found_says_where_it_looked(tmp_path):
    spec = tmp_path / "m.dlspec"
    spec.write_text(SOURCE_SPEC.format(use="", source="no_such_module_here.Thing"))
    with pytest.raises(DlspecError) as exc:
        _data_of(spec)
    assert "cannot import data set class no_such_module_here.Thing" in str(exc.value)
    assert f"beside the spec, in {tmp_path}" in str(exc.value) and exc.value.loc.line == 7


def test_a_use_files_dataset_class_is_a_source(tmp_path):
    (tmp_path / "used.py").write_text(DATASET_PY.format(name="FromUseFile"))
    spec = tmp_path / "m.dlspec"
    spec.write_text(SOURCE_SPEC.format(use='use "used.py"', source="FromUseFile"))
    bundle = _data_of(spec)
    assert sum(bundle.sizes.values()) == 40


def test_an_unknown_bare_source_suggests_use_file_classes(tmp_path):
    (tmp_path / "used2.py").write_text(DATASET_PY.format(name="FromUseFile2"))
    spec = tmp_path / "m.dlspec"
    spec.write_text(SOURCE_SPEC.format(use='use "used2.py"', source="FromUseFil2"))
    with pytest.raises(UnknownNameError) as exc:
        read_train(load(str(spec)))
    assert "unknown data source 'FromUseFil2'. Did you mean 'FromUseFile2'?" in str(exc.value)
    assert "Dataset class of a `use` file" in exc.value.hint


def test_a_run_with_a_use_file_source_is_untrusted_without_trust(tmp_path):
    from dlspec.train.trust import code_in_run
    from types import SimpleNamespace
    (tmp_path / "used3.py").write_text(DATASET_PY.format(name="FromUseFile3"))
    spec = tmp_path / "m.dlspec"
    spec.write_text(SOURCE_SPEC.format(use='use "used3.py"', source="beside3.Thing"))
    found = code_in_run(dlspec.loads(spec.read_text(), str(spec), run_plugins=False), SimpleNamespace(plugins={}))
    assert any('use "used3.py"' in f for f in found) and any("source beside3.Thing" in f for f in found)


CURVE = """\
model M {
    input image(1, 8, 8)
    flatten -> linear(10)
}
data digits {
    source sklearn_digits
    split train=0.5 val=0.25 test=0.25 seed=0
    batch 128
}
train {
    epochs 3
    metrics accuracy
    test_every 2
}
"""


def test_test_every_logs_test_columns_without_picking_the_checkpoint(tmp_path):
    import csv
    import json
    path = tmp_path / "c.dlspec"
    path.write_text(CURVE)
    run = dlspec.fit(str(path), out=str(tmp_path / "run"), log=lambda *a: None)
    rows = list(csv.DictReader((tmp_path / "run" / "metrics.csv").open()))
    assert [r["epoch"] for r in rows] == ["1", "2", "3"]
    assert [bool(r["test_loss"]) for r in rows] == [False, True, True]  # every 2 epochs, and the last
    assert [bool(r["test_accuracy"]) for r in rows] == [False, True, True]
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    best_val = min(range(3), key=lambda i: float(rows[i]["val_loss"])) + 1
    assert results["monitor"] == "val_loss" and results["best_epoch"] == best_val == results["checkpoint_epoch"]
    assert float(rows[2]["test_loss"]) == pytest.approx(run.history[2]["test_loss"])


def test_test_columns_cannot_be_monitored():
    with pytest.raises(UnknownNameError) as exc:
        read_train(dlspec.loads(CURVE.replace("test_every 2", "test_every 2\n    early_stop monitor=test_loss")))
    assert "early_stop monitors 'test_loss', which is not recorded" in str(exc.value)


def test_test_every_is_checked_at_its_line():
    with pytest.raises(DlspecError) as exc:
        read_train(dlspec.loads(CURVE.replace("test_every 2", "test_every 0")))
    assert exc.value.loc.line == 13 and "test_every" in str(exc.value)


def test_cli_set_on_a_setting_reports_without_a_traceback():
    from click.testing import CliRunner
    from dlspec.cli import main
    bad = CliRunner().invoke(main, ["compile", DIGITS, "--set", "train.sed=1"])
    assert bad.exit_code != 0 and "Traceback" not in bad.output
    assert "<--set train.sed>:1:11: error: unknown train setting 'sed'. Did you mean 'seed'?" in bad.output
    good = CliRunner().invoke(main, ["compile", DIGITS, "--set", "digits.batch=16", "--set", "train.seed=2"])
    assert good.exit_code == 0, good.output


def test_explain_names_set_settings_and_the_winning_batch():
    from dlspec.views.explain import explain
    rows = {(r.block, r.key): r for r in explain(load(DIGITS, {"digits.batch": "16", "train.batch": "8"}))}
    assert rows[("train", "batch")].source == "--set train.batch=8"
    assert rows[("data digits", "batch")].source == "--set digits.batch=16; the train block's batch 8 wins"


@pytest.mark.parametrize("setting, value, shown", [("train.epochs", "abc", "train _ { epochs abc }"),
                                                   ("digits.batch", "abc", "data _ { batch abc }")])
def test_set_bad_value_shows_the_kind_of_block_it_sets(setting, value, shown):
    """A train setting's bad value is echoed as a line of a train block, not of a data block."""
    with pytest.raises(DlspecError) as exc:
        read_train(load(DIGITS, {setting: value}))
    assert shown in str(exc.value) and "expects an integer" in str(exc.value)
