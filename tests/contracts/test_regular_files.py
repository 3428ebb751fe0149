"""Every path dlspec reads that a user named must be a regular file (dlspec/language/files.py): a named pipe
would hang, a link to /dev/zero never end, a folder or a foreign file crash. Checked for `use` lines
(compile and the language server's diagnosis), checkpoints and `init` weights, the best/last choice
inside a run directory, and the files `dlspec runs` lists."""
import os
import pickle
import shutil
import signal
import subprocess
import sys

import pytest
from click.testing import CliRunner

import dlspec
from dlspec.cli import main
from dlspec.errors import DlspecError, DlspecWarning, PluginError, TrainError
from dlspec.runs.table import list_runs
from dlspec.train.checkpoint import read_weights_file, select_checkpoint
from tests.conftest import ROOT

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo") or not os.path.exists("/dev/zero"),
                                reason="needs named pipes and /dev/zero")

# how each kind of non-regular file is made, and how the message names it
SPECIAL = {
    "pipe": (lambda path: os.mkfifo(path), "a named pipe"),
    "device": (lambda path: os.symlink("/dev/zero", path), "a character device"),
    "folder": (lambda path: os.mkdir(path), "a folder"),
}
UNREADABLE = ["pipe", "device"]  # the ones that would hang or never end if read


@pytest.fixture(autouse=True)
def no_hang():
    """A regression that opens a pipe in this process would block forever: fail after two minutes."""
    def fail(*_):
        raise TimeoutError("blocked: a named pipe was opened for reading")
    previous = signal.signal(signal.SIGALRM, fail)
    signal.alarm(120)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def make(kind, path):
    SPECIAL[kind][0](str(path))
    return SPECIAL[kind][1]


def run_cli(args, cwd, timeout=120):
    """`python -m dlspec ARGS` in a subprocess, so that a hang fails the test instead of stalling it."""
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    try:
        return subprocess.run([sys.executable, "-m", "dlspec", *args], cwd=cwd, env=env, capture_output=True,
                              text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"dlspec {' '.join(args)} hung (a pipe or device was read)")


# ---- use lines -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", list(SPECIAL))
def test_use_of_a_path_that_is_no_regular_file_is_an_error_at_the_use_line(kind, write_spec, tmp_path):
    what = make(kind, tmp_path / "plug.py")
    path = write_spec('let a = 1\nuse "plug.py"\nmodel M { input vector(2); relu }')
    with pytest.raises(PluginError) as info:
        dlspec.load(path)
    assert info.value.message == f"plugin file {tmp_path / 'plug.py'} is not a regular file ({what})"
    assert (info.value.line, info.value.column) == (2, 1)
    diagnosis = dlspec.diagnose(path)  # what compile and the language server report
    assert [(e.line, e.message) for e in diagnosis.errors] == [(2, info.value.message)]


def test_compile_of_a_use_on_a_pipe_ends_with_the_error(write_spec, tmp_path):
    os.mkfifo(tmp_path / "fifo.py")
    path = write_spec('use "fifo.py"\nmodel M { input vector(2); relu }')
    result = run_cli(["compile", str(path)], tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr + result.stdout
    assert f"plugin file {tmp_path / 'fifo.py'} is not a regular file (a named pipe)" in result.stderr + result.stdout


@pytest.mark.parametrize("name", ["plug.txt", "plug"])
def test_use_of_a_file_that_is_not_python_is_a_located_error(name, write_spec, tmp_path):
    (tmp_path / name).write_text("x = 1\n")
    path = write_spec(f'use "{name}"\nmodel M {{ input vector(2); relu }}')
    with pytest.raises(PluginError) as info:
        dlspec.load(path)
    assert info.value.message == f"plugin file {tmp_path / name} is not a Python file (.py)"
    assert info.value.line == 1 and ".py" in info.value.hint


# ---- a trained run -----------------------------------------------------------------------------------------

SPEC = ("model M { input image(1, 8, 8); flatten -> linear(10) }\n"
        "data d { source sklearn_digits; split train=0.6 val=0.2 test=0.2; batch 256 }\n"
        "train { epochs 1 }\n")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    base = tmp_path_factory.mktemp("regular")
    (base / "s.dlspec").write_text(SPEC)
    dlspec.fit(base / "s.dlspec", out=str(base / "run"), log=lambda *a: None)
    return base / "run"


@pytest.fixture
def run_copy(trained, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(trained, copy)
    return copy


# ---- checkpoints and init weights ---------------------------------------------------------------------------

@pytest.mark.parametrize("kind", UNREADABLE)
def test_a_checkpoint_path_that_is_no_regular_file_is_refused_unread(kind, tmp_path):
    what = make(kind, tmp_path / "w.pth")
    with pytest.raises(DlspecError) as info:
        read_weights_file(str(tmp_path / "w.pth"))
    assert info.value.message == f"checkpoint {tmp_path / 'w.pth'} is not a regular file ({what})"


@pytest.mark.parametrize("kind", UNREADABLE)
def test_a_run_whose_last_ckpt_is_no_regular_file_says_so(kind, run_copy):
    (run_copy / "last.ckpt").unlink()
    what = make(kind, run_copy / "last.ckpt")
    for checkpoint in (None, "last"):
        with pytest.raises(DlspecError) as info:
            dlspec.evaluate(str(run_copy), checkpoint=checkpoint)
        assert info.value.message == f"checkpoint {run_copy / 'last.ckpt'} is not a regular file ({what})"


@pytest.mark.parametrize("verb", [["predict", "fifo.pth", "new.csv"], ["evaluate", "fifo.pth"],
                                  ["export", "fifo.pth"], ["fit", "--resume", "fifo.pth"]])
def test_commands_given_a_pipe_as_run_end_with_the_error(verb, tmp_path):
    os.mkfifo(tmp_path / "fifo.pth")
    (tmp_path / "new.csv").write_text("a\n1\n")
    (tmp_path / "s.dlspec").write_text(SPEC)
    result = run_cli(verb, tmp_path)
    out = result.stdout + result.stderr
    assert result.returncode == 1 and "Traceback" not in out, out
    assert "fifo.pth is not a regular file (a named pipe)" in out, out


def _text(path):
    path.write_text("these are not weights\n")


def _code(path):
    with open(path, "wb") as f:
        pickle.dump(print, f)  # a pickle that names a function: refused by weights_only, never called


NOT_WEIGHTS = "not a PyTorch weights file, or one holding objects other than tensors (only tensors are loaded, safely)"


@pytest.mark.parametrize("kind, write, reason", [
    ("pipe", lambda p: os.mkfifo(p), "is not a regular file (a named pipe)"),
    ("device", lambda p: os.symlink("/dev/zero", p), "is not a regular file (a character device)"),
    ("text", _text, NOT_WEIGHTS),
    ("code", _code, NOT_WEIGHTS),
    ("empty", lambda p: open(p, "wb").close(), "it is empty (0 bytes)"),
])
def test_init_from_an_unusable_file_is_one_line_at_the_init_line(kind, write, reason, tmp_path):
    from dlspec.train.finetune import read_weights
    write(tmp_path / "w.pth")
    with pytest.raises(TrainError) as info:
        read_weights(str(tmp_path / "w.pth"), "w.pth", None)
    message = info.value.message
    assert message.startswith("init: ") and message.endswith(reason), message
    assert str(tmp_path / "w.pth") in message and "\n" not in message
    assert "weights_only" not in message + info.value.hint  # never the advice to turn safe loading off


def test_init_on_a_pipe_in_a_train_block_ends_with_the_error(tmp_path):
    os.mkfifo(tmp_path / "fifo.pth")
    (tmp_path / "s.dlspec").write_text(SPEC.replace("train { epochs 1 }", 'train { epochs 1\n  init "fifo.pth" }'))
    result = run_cli(["fit", "s.dlspec", "--out", str(tmp_path / "out")], tmp_path)
    out = result.stdout + result.stderr
    assert result.returncode == 1 and "s.dlspec:4:3" in out, out
    assert f"init: weights file {tmp_path / 'fifo.pth'} is not a regular file (a named pipe)" in out, out


# ---- best or last inside a run directory ---------------------------------------------------------------------

@pytest.mark.parametrize("kind", UNREADABLE)
def test_a_best_ckpt_that_is_no_regular_file_is_an_error_never_passed_over(kind, run_copy):
    (run_copy / "best.ckpt").unlink()
    what = make(kind, run_copy / "best.ckpt")
    for checkpoint in (None, "best"):
        with pytest.raises(DlspecError) as info:
            select_checkpoint(str(run_copy), checkpoint)
        assert info.value.message == f"checkpoint {run_copy / 'best.ckpt'} is not a regular file ({what})"
        assert "--checkpoint last" in info.value.hint
    assert select_checkpoint(str(run_copy), "last") == ("last", str(run_copy / "last.ckpt"))


def test_an_explicit_best_needs_best_ckpt_and_the_default_warns_when_falling_back(run_copy):
    (run_copy / "best.ckpt").unlink()
    result = CliRunner().invoke(main, ["evaluate", str(run_copy), "--checkpoint", "best"])
    assert result.exit_code == 1 and f"error: --checkpoint best: {run_copy / 'best.ckpt'} not found" in result.output
    with pytest.warns(DlspecWarning, match="has no best.ckpt: using last.ckpt") as caught:
        assert select_checkpoint(str(run_copy)) == ("last", str(run_copy / "last.ckpt"))
    assert len([w for w in caught if "best.ckpt" in str(w.message)]) == 1
    result = CliRunner().invoke(main, ["evaluate", str(run_copy)])
    assert result.exit_code == 0 and result.output.count("has no best.ckpt: using last.ckpt") == 1, result.output


# ---- dlspec runs -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["results.json", "metrics.csv", "run.yaml"])
@pytest.mark.parametrize("kind", UNREADABLE)
def test_runs_skips_a_run_whose_file_is_no_regular_file(name, kind, trained, tmp_path):
    shutil.copytree(trained, tmp_path / "good")
    shutil.copytree(trained, tmp_path / "odd")
    (tmp_path / "odd" / name).unlink()
    what = make(kind, tmp_path / "odd" / name)
    with pytest.warns(DlspecWarning) as caught:
        rows = list_runs(str(tmp_path))
    assert [r["run"] for r in rows] == ["good"]
    assert [str(w.message.args[0]) for w in caught if "skipping" in str(w.message.args[0])] == [
        f"skipping run {tmp_path / 'odd'}: file {tmp_path / 'odd' / name} is not a regular file ({what})"]


def test_runs_on_a_folder_holding_a_pipe_ends(trained, tmp_path):
    shutil.copytree(trained, tmp_path / "odd")
    (tmp_path / "odd" / "results.json").unlink()
    os.mkfifo(tmp_path / "odd" / "results.json")
    result = run_cli(["runs", str(tmp_path)], tmp_path)
    assert result.returncode == 0 and "results.json is not a regular file (a named pipe)" in result.stderr


# ---- torchvision weights files -------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", UNREADABLE)
def test_a_torchvision_weights_file_that_is_no_regular_file_is_refused_at_its_line(kind, tmp_path):
    pytest.importorskip("torchvision")
    what = make(kind, tmp_path / "w.pth")
    spec = dlspec.loads(f'model M {{\n input image(3, 32, 32)\n torchvision.resnet18(weights="{tmp_path / "w.pth"}")\n}}',
                        str(tmp_path / "m.dlspec"))
    with pytest.raises(DlspecError) as info:
        spec.check()
    assert f"torchvision.resnet18: weights file {tmp_path / 'w.pth'} is not a regular file ({what})" in info.value.message
    assert info.value.line == 3


def test_an_include_of_a_pipe_names_what_it_is(write_spec, tmp_path):
    os.mkfifo(tmp_path / "inc.dlspec")
    path = write_spec('include "inc.dlspec"\nmodel M { input vector(2); relu }')
    with pytest.raises(DlspecError) as info:
        dlspec.load(path)
    assert info.value.message == f"cannot read {tmp_path / 'inc.dlspec'}: it is not a regular file (a named pipe)"
    assert info.value.line == 1


# ---- TensorBoard event files on resume ------------------------------------------------------------------------

def test_resume_treats_an_event_file_that_is_a_pipe_as_damaged_and_never_reads_it(tmp_path):
    from dlspec.train.loggers import Resume
    from dlspec.train.loggers.event_files import drop_after_checkpoint
    os.mkfifo(tmp_path / "events.out.tfevents.1.host")
    history = [{"epoch": 1}, {"epoch": 2}]
    # a damaged file may hold any epoch up to the checkpoint: all of them count as logged
    assert drop_after_checkpoint(str(tmp_path), Resume(epoch=2, global_step=8, history=history)) == {1, 2}
    assert (tmp_path / "events.out.tfevents.1.host").exists()  # left as it is
