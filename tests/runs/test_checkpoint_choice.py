"""Which weights a finished run uses: best.ckpt by its monitor by default, last.ckpt on request."""
import json

import pytest
import torch
from click.testing import CliRunner

import dlspec
from dlspec.cli import main
from dlspec.errors import DlspecError, DlspecWarning
from dlspec.train.checkpoint import load_checkpoint

MODEL = "model M { input image(1, 8, 8); flatten -> linear(10) }\n"
DATA = "data d {{ source sklearn_digits; split {split}; batch 256 }}\n"
# mode=max on the training loss: the best epoch is the first (the loss falls), so best and last differ
FIRST_IS_BEST = "train { epochs 3; metrics accuracy; optimizer adam(lr=1e-2); early_stop monitor=loss mode=max patience=9 }\n"


def quiet(*a):
    pass


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    base = tmp_path_factory.mktemp("bestlast")
    (base / "s.dlspec").write_text(MODEL + DATA.format(split="train=0.6 val=0.2 test=0.2") + FIRST_IS_BEST)
    run = dlspec.fit(base / "s.dlspec", out=str(base / "run"), log=quiet)
    return base / "run", run


def weights(path):
    return load_checkpoint(str(path))["model"]


def linear(state):
    """The weight matrix of the model's one linear layer, whatever the compiler names it."""
    return next(v for k, v in state.items() if k.endswith("weight"))


def test_fit_tests_the_best_epoch_and_says_so(run_dir):
    out, run = run_dir
    results = json.loads((out / "results.json").read_text())
    assert results["best_epoch"] == 1 and results["checkpoint"] == "best" and results["checkpoint_epoch"] == 1
    assert torch.equal(linear(run.model.state_dict()), linear(weights(out / "best.ckpt")))
    assert not torch.equal(linear(weights(out / "best.ckpt")), linear(weights(out / "last.ckpt")))
    assert dlspec.evaluate(str(out)) == pytest.approx(results["test"])  # evaluate defaults to the same weights


def test_checkpoint_last_in_fit_evaluate_predict_and_export(run_dir, tmp_path):
    out, _ = run_dir
    (tmp_path / "s.dlspec").write_text((out / "spec.dlspec").read_text())
    last_run = dlspec.fit(tmp_path / "s.dlspec", out=str(tmp_path / "run"), log=quiet, checkpoint="last")
    assert last_run.results["checkpoint"] == "last" and last_run.results["checkpoint_epoch"] == 3
    assert dlspec.evaluate(str(tmp_path / "run"), checkpoint="last") == pytest.approx(last_run.results["test"])
    best, last = dlspec.evaluate(str(out)), dlspec.evaluate(str(out), checkpoint="last")
    assert best["loss"] != pytest.approx(last["loss"])
    exported = {}
    for which in ("best", "last"):
        folder = tmp_path / f"export-{which}"
        dlspec.export(str(out), "python", out=str(folder), checkpoint=which)
        exported[which] = torch.load(folder / "weights.pt", weights_only=True)
        assert torch.equal(linear(exported[which]), linear(weights(out / f"{which}.ckpt")))


def test_predict_follows_the_choice(run_dir, tmp_path):
    out, _ = run_dir
    from PIL import Image
    from sklearn.datasets import load_digits
    image = tmp_path / "d.png"
    Image.fromarray((load_digits().images[5] / 16 * 255).astype("uint8")).save(image)
    best = dlspec.predict(str(out), [str(image)], top=10)[0]
    last = dlspec.predict(str(out), [str(image)], top=10, checkpoint="last")[0]
    assert [t["probability"] for t in best["top"]] != pytest.approx([t["probability"] for t in last["top"]])


def test_cli_checkpoint_option_and_a_wrong_choice(run_dir):
    out, _ = run_dir
    # stdout only: the spec's mode=max on the loss is on purpose, and its warning goes to stderr
    best = CliRunner().invoke(main, ["evaluate", str(out)]).stdout
    last = CliRunner().invoke(main, ["evaluate", str(out), "--checkpoint", "last"]).stdout
    assert best.startswith("test_loss") and best != last
    wrong = CliRunner().invoke(main, ["evaluate", str(out), "--checkpoint", "first"])
    assert wrong.exit_code == 2 and "'first' is not one of 'best', 'last'" in wrong.output
    with pytest.raises(DlspecError, match="checkpoint must be best or last, received 'first'"):
        dlspec.evaluate(str(out), checkpoint="first")


@pytest.mark.parametrize("split, monitor", [("train=0.8 val=0.1 test=0.1", "val_loss"), ("train=0.9 test=0.1", "loss")])
def test_best_is_kept_without_early_stopping_by_val_loss_else_the_training_loss(write_spec, tmp_path, split, monitor):
    path = write_spec(MODEL + DATA.format(split=split) + "train { epochs 2 }\n")
    run = dlspec.fit(path, out=str(tmp_path / "run"), log=quiet)
    best = load_checkpoint(str(tmp_path / "run" / "best.ckpt"))
    assert run.results["monitor"] == monitor and best["best"]["monitor"] == monitor
    assert run.results["checkpoint"] == "best" and run.results["checkpoint_epoch"] == best["epoch"]
    values = [row[monitor] for row in run.history]
    assert best["best"]["value"] == min(values)


def test_a_run_without_best_ckpt_uses_last(run_dir, tmp_path):
    import shutil
    out, _ = run_dir
    copy = tmp_path / "old-run"
    shutil.copytree(out, copy)
    (copy / "best.ckpt").unlink()  # as runs made before every run kept one
    with pytest.warns(DlspecWarning, match="has no best.ckpt: using last.ckpt"):
        without_best = dlspec.evaluate(str(copy))
    assert without_best == pytest.approx(dlspec.evaluate(str(out), checkpoint="last"))


def test_the_trust_check_reads_the_checkpoint_that_is_loaded(run_dir, tmp_path):
    import shutil
    from dlspec.train.trust import UntrustedRunError
    out, _ = run_dir
    copy = tmp_path / "crafted"
    shutil.copytree(out, copy)
    state = load_checkpoint(str(copy / "best.ckpt"))
    state["spec_text"] = 'use "evil.py"\n' + state["spec_text"]  # someone edited only best.ckpt
    torch.save(state, copy / "best.ckpt")
    with pytest.raises(UntrustedRunError, match='use "evil.py"'):
        dlspec.evaluate(str(copy))
    assert "loss" in dlspec.evaluate(str(copy), checkpoint="last")  # last.ckpt's spec runs no code
