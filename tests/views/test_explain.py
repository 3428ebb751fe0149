"""dlspec explain (dlspec/views/explain.py): every resolved setting with where its value came from."""
from __future__ import annotations

from click.testing import CliRunner

import dlspec
from tests.conftest import ROOT
from dlspec.cli import main
from dlspec.data.config import DATA_SETTINGS
from dlspec.train.config import TRAIN_SETTINGS
from dlspec.views.explain import explain, format_rows

DIGITS = ROOT / "specs" / "digits.dlspec"
CIFAR = ROOT / "specs" / "cifar10.dlspec"


def line_of(path, start: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if line.strip().startswith(start))


def rows_by_key(rows, block="train"):
    return {r.key: r for r in rows if r.block == block}


def test_every_setting_of_both_tables_is_explained():
    rows = explain(dlspec.load(DIGITS))
    keys = {(r.block, r.key.split(".")[0]) for r in rows}
    assert {("train", k) for k in TRAIN_SETTINGS} <= keys
    assert {("data digits", k) for k in DATA_SETTINGS} <= keys


def test_written_values_name_their_line_and_others_say_default():
    train = rows_by_key(explain(dlspec.load(DIGITS)))
    assert (train["epochs"].value, train["epochs"].source) == (15, f"{DIGITS}:{line_of(DIGITS, 'epochs')}")
    assert train["optimizer.lr"].value == 3e-3
    assert train["optimizer.lr"].source == f"{DIGITS}:{line_of(DIGITS, 'optimizer')}"
    assert (train["optimizer.beta1"].value, train["optimizer.beta1"].source) == (0.9, "default")
    assert (train["clip_grad_norm"].value, train["clip_grad_norm"].source) == (None, "default")
    assert train["early_stop.patience"].source == f"{DIGITS}:{line_of(DIGITS, 'early_stop')}"
    assert train["early_stop.mode"].source == "default"


def test_let_and_set_sources():
    train = rows_by_key(explain(dlspec.load(CIFAR)))
    assert train["epochs"].source == f"{CIFAR}:{line_of(CIFAR, 'epochs')} (let epochs at {CIFAR}:{line_of(CIFAR, 'let epochs')})"
    train = rows_by_key(explain(dlspec.load(CIFAR, {"epochs": "5"})))
    assert train["epochs"].value == 5
    assert train["epochs"].source == f"--set epochs=5 (used at {CIFAR}:{line_of(CIFAR, 'epochs')})"


def test_settings_from_an_included_file(tmp_path):
    (tmp_path / "parts").mkdir()
    (tmp_path / "parts" / "train.dlspec").write_text(
        "data d {\n    source sklearn_digits\n    batch 16\n}\n\ntrain {\n    data d\n    epochs 3\n}\n")
    main_spec = tmp_path / "main.dlspec"
    main_spec.write_text('include "parts/train.dlspec"\nmodel M {\n    input image(1, 8, 8)\n'
                         '    flatten -> linear(10)\n}\n')
    rows = explain(dlspec.load(main_spec))
    train, data = rows_by_key(rows), rows_by_key(rows, "data d")
    assert train["epochs"].source.startswith("included ") and train["epochs"].source.endswith("train.dlspec:8")
    assert data["batch"].source.endswith("parts/train.dlspec:3") and data["batch"].value == 16
    assert train["model"].source == "default"


def test_cli_prints_a_table_per_block():
    result = CliRunner().invoke(main, ["explain", str(CIFAR), "--set", "epochs=7"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "train" and "data cifar" in lines
    epochs = next(line for line in lines if line.split()[:1] == ["epochs"])
    assert epochs.split()[1] == "7" and "--set epochs=7" in epochs
    assert format_rows(explain(dlspec.load(CIFAR))).splitlines()[0] == "train"
    result = CliRunner().invoke(main, ["explain", str(CIFAR), "--train", "nope"])
    assert result.exit_code == 1 and "no train block named 'nope'" in result.output


def test_log_shows_csv_as_in_effect_by_default_as_the_docs_say(tmp_path):
    """Issue 23: explain showed `log []` where docs/language.md gives csv as the default."""
    doc_row = next(line for line in (ROOT / "docs" / "language.md").read_text().splitlines()
                   if line.startswith("| `log` |"))
    assert doc_row.rstrip().endswith("| csv |")
    log = rows_by_key(explain(dlspec.load(DIGITS)))["log"]
    assert (log.value, log.source) == (["csv"], "default")
    assert "  log  " in format_rows([log]) and "[csv]" in format_rows([log])
    written = DIGITS.read_text().replace("    epochs", "    log tensorboard(every=2)\n    epochs", 1)
    path = tmp_path / "digits.dlspec"
    path.write_text(written)
    log = rows_by_key(explain(dlspec.load(path)))["log"]
    assert log.value == ["csv", "tensorboard(dir=tensorboard, every=2.0)"]


def test_checkpoint_monitor_is_explained_per_argument(tmp_path):
    text = DIGITS.read_text().replace("    epochs", "    checkpoint monitor=val_accuracy mode=max\n    epochs", 1)
    path = tmp_path / "digits.dlspec"
    path.write_text(text)
    train = rows_by_key(explain(dlspec.load(path)))
    line = next(i for i, t in enumerate(text.splitlines(), 1) if t.strip().startswith("checkpoint"))
    assert (train["checkpoint.monitor"].value, train["checkpoint.monitor"].source) == ("val_accuracy", f"{path}:{line}")
    assert (train["checkpoint.min_delta"].value, train["checkpoint.min_delta"].source) == (0.0, "default")
    assert (rows_by_key(explain(dlspec.load(DIGITS)))["checkpoint"].value, "default") == (None, "default")


def test_out_shows_the_run_directory_fit_makes_by_default(tmp_path):
    """explain showed `out none default`; fit names the run runs/<train, or model when unnamed>-<timestamp>."""
    spec = tmp_path / "two.dlspec"
    spec.write_text("data d { source sklearn_digits }\nmodel Net { input image(1, 8, 8); flatten -> linear(10) }\n"
                    "train { epochs 1 }\ntrain fast { epochs 1 }\ntrain kept { epochs 1; out \"here\" }\n")
    out = {name: rows_by_key(explain(dlspec.load(spec), name))["out"] for name in (None, "fast", "kept")}
    assert (out[None].value, out[None].source) == ("runs/Net-<YYYYMMDD-HHMMSS>", "default")
    assert (out["fast"].value, out["fast"].source) == ("runs/fast-<YYYYMMDD-HHMMSS>", "default")
    assert out["kept"].value.endswith("here") and out["kept"].source == f"{spec}:5"
    import time
    from dlspec.train.rundir import TIMESTAMP, default_run_dir
    made = default_run_dir("fast")  # what fit makes fits the shown pattern
    assert made.startswith("runs/fast-") and len(made) == len("runs/fast-") + len(time.strftime(TIMESTAMP))
