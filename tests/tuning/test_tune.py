"""dlspec tune (dlspec/tuning/): trials are normal fits scored by the train block's objective, the study
is resumable and shared through its storage, best.dlspec refits the best trial, bad input is a located
error. Tiny MLPs on scikit-learn's digits, one torch thread (the machine is shared), 1-3 epochs."""
import csv
import inspect
import json
import os
import shlex
import subprocess
import sys

import pytest

optuna = pytest.importorskip("optuna")
import torch  # noqa: E402
from click.testing import CliRunner  # noqa: E402

import dlspec  # noqa: E402
from dlspec.cli import main  # noqa: E402
from dlspec.errors import DlspecError  # noqa: E402
from dlspec.language.parser import BOM  # noqa: E402
from dlspec.language.resolve import load_program  # noqa: E402
from dlspec.tuning.rewrite import rewrite_lets  # noqa: E402

SPEC = """\
# a tiny MLP on scikit-learn's digits; its default learning rate is poor on purpose
let lr = loguniform(1e-4, 1e-1, default=1e-4)    # learning rate
let hidden = choice(16, 32, default=16)
let epochs = 3

model M {
    input image(1, 8, 8)
    flatten -> linear(hidden) -> relu -> linear(10)
}
data d {
    source sklearn_digits
    split train=0.6 val=0.2 test=0.2 seed=0
    batch 64
}
train { model M; data d; optimizer adam(lr=lr); epochs epochs; metrics accuracy; seed 0 }
"""


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models train many times faster on one thread when the machine's cores are busy."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tune")
    path = folder / "mlp.dlspec"
    path.write_text(SPEC, encoding="utf-8")
    lines = []
    result = dlspec.tune(str(path), trials=3, out=str(folder / "out"), log=lines.append)
    return path, folder / "out", result, lines


@pytest.mark.slow
def test_a_poor_default_gets_a_clearly_better_validation_loss(tuned):
    _, _, result, lines = tuned
    first = result.rows[0]
    assert (first["trial"], first["lr"], first["hidden"]) == (0, "0.0001", "16")  # trial 0: the spec's defaults
    assert result.direction == "minimize" and result.monitor == "val_loss"
    assert result.best_value < 0.8 * first["value"], result.rows
    assert result.best_params["lr"] > 1e-3
    assert any(line.startswith("trial 1/3 (#0000): val_loss") for line in lines)
    assert any(line.startswith("trial 3/3 (#0002)") and "| best #" in line for line in lines)


@pytest.mark.slow
def test_trials_table_csv_plots_and_run_directories(tuned):
    _, out, result, lines = tuned
    with open(out / "trials.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["trial"] for r in rows] == ["0", "1", "2"]
    assert {r["state"] for r in rows} == {"complete"} and {r["epochs"] for r in rows} == {"3"}
    assert list(rows[0])[:7] == ["trial", "state", "value", "epochs", "seconds", "lr", "hidden"]
    for r in rows:  # each trial is a full run directory whose best val_loss is the trial's value
        with open(os.path.join(r["run_dir"], "results.json")) as f:
            results = json.load(f)
        assert results["best"]["val_loss"] == pytest.approx(float(r["value"]), abs=1e-12)
    assert (out / "history.png").stat().st_size > 1000 and (out / "importance.png").stat().st_size > 1000
    table = next(line for line in lines if line.startswith("trial  state"))
    assert table.split()[:7] == ["trial", "state", "val_loss", "epochs", "seconds", "lr", "hidden"]


@pytest.mark.slow
def test_best_spec_changes_only_the_searched_lets_and_refits_to_the_best_value(tuned, tmp_path):
    path, out, result, _ = tuned
    original, best = SPEC.splitlines(), (out / "best.dlspec").read_text().splitlines()
    assert len(best) == len(original)
    changed = [i for i, (a, b) in enumerate(zip(original, best)) if a != b]
    assert changed == [1, 2]
    assert best[1] == f"let lr = {result.best_params['lr']!r}    # learning rate"
    assert best[2] == f"let hidden = {result.best_params['hidden']}"
    refit = dlspec.fit(str(out / "best.dlspec"), out=str(tmp_path / "refit"), log=lambda line: None, progress=False)
    assert abs(refit.results["best"]["val_loss"] - result.best_value) <= 1e-6


@pytest.mark.slow
def test_the_printed_refit_command_works_from_another_folder(tuned, tmp_path, monkeypatch):
    _, _, result, lines = tuned
    command = next(line for text in lines for line in text.splitlines() if line.startswith("refit it: dlspec fit "))
    args = shlex.split(command[len("refit it: dlspec "):])
    monkeypatch.chdir(tmp_path)  # anywhere: the spec's own paths resolve against its folder
    done = CliRunner().invoke(main, args + ["--out", str(tmp_path / "refit")])
    assert done.exit_code == 0, done.output
    best = json.loads((tmp_path / "refit" / "results.json").read_text())["best"]["val_loss"]
    assert abs(best - result.best_value) <= 1e-6


@pytest.mark.slow
def test_show_reprints_the_table(tuned):
    _, out, result, _ = tuned
    shown = CliRunner().invoke(main, ["tune", "--show", str(out)])
    assert shown.exit_code == 0, shown.output
    rows = [line.split() for line in shown.output.splitlines()[1:] if line[:1].isdigit()]
    assert [r[:2] for r in rows] == [["0", "complete"], ["1", "complete"], ["2", "complete"]]
    assert f"best: trial #{result.best_trial:04d}" in shown.output


@pytest.mark.slow
def test_running_again_continues_the_study_and_its_numbering(tuned):
    path, out, _, _ = tuned
    again = dlspec.tune(str(path), trials=1, out=str(out), log=lambda line: None)
    assert [r["trial"] for r in again.rows] == [0, 1, 2, 3]
    assert (out / "trials" / "0003" / "results.json").exists()
    assert again.rows[3]["lr"] not in {r["lr"] for r in again.rows[:3]}


@pytest.mark.slow
def test_two_processes_on_one_sqlite_storage_share_the_study(tmp_path):
    path = tmp_path / "mlp.dlspec"
    path.write_text(SPEC, encoding="utf-8")
    out = tmp_path / "out"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "dlspec", "tune", str(path), "--trials", "2", "--out", str(out),
               "--set", "epochs=1", "--pruner", "none"]
    procs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
             for _ in range(2)]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert all("trial 2/2" in o for o in outputs)
    study = optuna.load_study(study_name="mlp", storage=f"sqlite:///{out}/study.db")
    numbers = sorted(t.number for t in study.trials)
    assert numbers == [0, 1, 2, 3]
    assert {t.state.name for t in study.trials} == {"COMPLETE"}
    assert len({tuple(sorted(t.params.items())) for t in study.trials}) == 4  # no trial repeated
    assert sorted(os.listdir(out / "trials")) == ["0000", "0001", "0002", "0003"]


PRUNE_SPEC = """\
let lr = choice(0.05, 1e-6, 1e12, default=0.05)
model M {
    input image(1, 8, 8)
    flatten -> linear(16) -> relu -> linear(10)
}
data d { source sklearn_digits; split train=0.6 val=0.2 test=0.2 seed=0; batch 64 }
train { model M; data d; optimizer sgd(lr=lr); epochs 3; metrics accuracy; seed 0 }
"""


@pytest.mark.slow
def test_a_crashing_trial_fails_with_its_error_and_a_hopeless_one_is_pruned(tmp_path):
    path = tmp_path / "p.dlspec"
    path.write_text(PRUNE_SPEC, encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir()
    study = optuna.create_study(storage=f"sqlite:///{out}/study.db", study_name="p", direction="minimize")
    dist = {"lr": optuna.distributions.CategoricalDistribution([0.05, 1e-6, 1e12])}
    for _ in range(3):  # three finished trials that reached a val_loss of 0.1 at every epoch
        study.add_trial(optuna.trial.create_trial(params={"lr": 0.05}, distributions=dist, value=0.1,
                                                  intermediate_values={1: 0.1, 2: 0.1, 3: 0.1}))
    study.enqueue_trial({"lr": 1e12})  # the loss becomes NaN: the trial fails
    study.enqueue_trial({"lr": 1e-6})  # far worse than the median after one epoch: pruned
    result = dlspec.tune(str(path), trials=2, out=str(out), study="p", log=lambda line: None)
    failed, pruned = result.rows[3], result.rows[4]
    assert failed["state"] == "fail" and "the loss became NaN or infinite" in failed["error"]
    assert f"{path}:7:" in failed["error"]  # located, as fit reported it
    assert pruned["state"] == "pruned" and pruned["epochs"] == 1 and pruned["error"] == ""
    with open(out / "trials.csv", newline="") as f:
        states = [r["state"] for r in csv.DictReader(f)]
    assert states == ["complete"] * 3 + ["fail", "pruned"]


def test_the_sampler_repeats_a_seeded_sequence_and_resumes_without_repeating(tmp_path):
    from dlspec.tuning.study import _sampler

    def params(study, n):
        study.optimize(lambda t: t.suggest_float("x", 1e-4, 1.0, log=True), n_trials=n)
        return [t.params["x"] for t in study.trials]

    first = params(optuna.create_study(sampler=_sampler(optuna, 7)), 4)
    assert params(optuna.create_study(sampler=_sampler(optuna, 7)), 4) == first
    assert params(optuna.create_study(sampler=_sampler(optuna, 8)), 4) != first
    url = f"sqlite:///{tmp_path}/s.db"
    params(optuna.create_study(storage=url, study_name="s", sampler=_sampler(optuna, 7)), 2)
    resumed = params(optuna.load_study(storage=url, study_name="s", sampler=_sampler(optuna, 7)), 2)
    assert resumed == first and len(set(resumed)) == 4  # a second process continues the sequence


@pytest.mark.parametrize("text, message, where", [
    ("let lr = 1e-3\nmodel M { input vector(4); linear(2) }\ndata d { source sklearn_digits }\n"
     "train { model M; data d }\n", "has no search space to tune", ":4:1"),
    ("let lr = 1e-3\nmodel M { input vector(4); dropout(uniform(0.1, 0.5, default=0.2)) -> linear(2) }\n",
     "a search space must be the whole value of a `let`", ":2:36"),
    ("let lr = loguniform(0, 1)\n", "loguniform needs bounds > 0", ":1:21"),
    ("let w = int(8, 8)\n", "needs low < high", ":1:16"),
    ("let w = choice()\n", "choice() needs at least one option", ":1:9"),
])
def test_bad_specs_are_located_errors_with_exit_status_1(write_spec, text, message, where):
    path = write_spec(text)
    result = CliRunner().invoke(main, ["tune", str(path), "--trials", "1", "--out", str(path.parent / "o")])
    assert result.exit_code == 1, result.output
    assert message in result.output and f"{path}{where}" in result.output and "Traceback" not in result.output


def test_bad_options_are_errors_with_exit_status_1(write_spec):
    path = write_spec(SPEC)
    out = str(path.parent / "o")

    def run(*options):
        return CliRunner().invoke(main, ["tune", str(path), "--out", out, *options])

    pruner = run("--pruner", "medain")
    assert pruner.exit_code == 1 and "unknown pruner 'medain'. Did you mean 'median'?" in pruner.output
    for url in ("sqlite:////no/such/folder/study.db", "nosuchdb://host/study"):
        storage = run("--storage", url)
        assert storage.exit_code == 1 and f"cannot open the study storage {url}" in storage.output, storage.output
    shown = CliRunner().invoke(main, ["tune", "--show", str(path.parent)])
    assert shown.exit_code == 1 and "is not a dlspec tune directory" in shown.output
    from dlspec.train.fit import fit
    if "nproc" not in inspect.signature(fit).parameters:
        nproc = run("--nproc", "2")
        assert nproc.exit_code == 1 and "--nproc needs multi-process training" in nproc.output
    assert not os.path.exists(os.path.join(out, "trials"))


def test_a_space_in_an_included_file_is_refused(write_spec):
    write_spec("let lr = loguniform(1e-4, 1e-1, default=1e-3)\n", "spaces.dlspec")
    path = write_spec('include "spaces.dlspec"\n' + SPEC.split("\n", 2)[2].replace("let hidden = choice(16, 32, "
                                                                                 "default=16)", "let hidden = 16"))
    with pytest.raises(DlspecError) as err:
        dlspec.tune(str(path), out=str(path.parent / "o"), log=lambda line: None)
    assert "is in an included file" in err.value.message and err.value.file.endswith("spaces.dlspec")


def test_missing_optuna_is_a_one_line_error_naming_the_extra(monkeypatch, write_spec):
    monkeypatch.setitem(sys.modules, "optuna", None)
    with pytest.raises(DlspecError) as err:
        dlspec.tune(str(write_spec(SPEC)), log=lambda line: None)
    assert err.value.report() == "error: dlspec tune needs Optuna: pip install 'dlspec[tune]'"


@pytest.mark.parametrize("text", [
    "let a = choice(16,\n    32, default=16)   # (a comment)\nlet b = 2\n",
    "let a = (choice(16, 32))\nlet b = 2\n",
    'let a = choice("x)", 16, 32)  # ) in a string\nlet b = 2\n',
    BOM + "let a = int(16, 32)\r\nlet b = 2\r\n",
])
def test_rewrite_replaces_only_the_space(text):
    program = load_program("<s>", text=text)
    new = rewrite_lets(text, program.spaces, {"a": "64"})
    assert load_program("<s>", text=new).let_value("a", None) == 64
    assert new.endswith("let b = 2\r\n" if "\r" in text else "let b = 2\n") and new.startswith(text[:8])
    if "#" in text:
        assert text[text.index("#"):] in new
