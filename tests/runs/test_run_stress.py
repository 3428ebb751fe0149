"""Run directories under stress: interruption, NaN, untrusted runs, locks, write faults, CLI input."""
import errno
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
import torch
from click.testing import CliRunner

import dlspec
from dlspec.cli import main
from dlspec.errors import DataError, DlspecError, TrainError
from dlspec.train import loop
from dlspec.train.checkpoint import load_checkpoint
from dlspec.train.trust import UntrustedRunError

# Tiny and fast: 96 CSV rows, shuffled batches of 8, dropout (uses the RNG) and a per-step schedule.
SPEC = """
model Net { input vector(4); linear(16) -> relu -> dropout(0.2) -> linear(3) }
data rows {
    source csv("rows.csv", target="label")
    split train=0.75 val=0.25 seed=0
    batch 8
}
train {
    model Net
    data rows
    optimizer sgd(lr=0.1, momentum=0.9)
    schedule cosine
    epochs EPOCHS
    seed 1
}
"""


def quiet(*a):
    pass


def write_spec(tmp_path, epochs=3, text=SPEC):
    rows = "".join(f"{i % 5 / 5},{i % 7 / 7},{i % 3 / 3},{i % 11 / 11},{i % 3}\n" for i in range(96))
    (tmp_path / "rows.csv").write_text("a,b,c,d,label\n" + rows)
    path = tmp_path / "net.dlspec"
    path.write_text(text.replace("EPOCHS", str(epochs)))
    return path


def weights(run):
    return run.model.state_dict()


# ---- interruption ---------------------------------------------------------

def interrupt_at(monkeypatch, call, exc=KeyboardInterrupt):
    """Raise `exc` at the call-th forward pass (counting train and val batches)."""
    real, calls = loop.forward, []

    def forward(*args):
        calls.append(1)
        if len(calls) == call:
            raise exc()
        return real(*args)
    monkeypatch.setattr(loop, "forward", forward)


def test_ctrl_c_mid_epoch_resumes_bit_identical(tmp_path, monkeypatch):
    path = write_spec(tmp_path)
    straight = dlspec.fit(path, out=str(tmp_path / "a"), log=quiet)
    messages = []
    interrupt_at(monkeypatch, 9 + 3 + 4)  # epoch 1 is 9 train + 3 val batches: stop at step 4 of epoch 2
    stopped = dlspec.fit(path, out=str(tmp_path / "b"), log=messages.append)
    assert stopped.interrupted and stopped.exit_status == 130 and len(stopped.history) == 1
    assert load_checkpoint(str(tmp_path / "b"))["epoch"] == 1
    assert "interrupted (Ctrl-C) during epoch 2" in messages[-1] and "last.ckpt holds epoch 1" in messages[-1]
    assert f"dlspec fit --resume {tmp_path / 'b'}" in messages[-1]
    monkeypatch.undo()
    resumed = dlspec.fit(None, resume=str(tmp_path / "b"), log=quiet)
    assert [r["loss"] for r in resumed.history] == [r["loss"] for r in straight.history]
    for (ka, a), (kb, b) in zip(weights(straight).items(), weights(resumed).items()):
        assert ka == kb and torch.equal(a, b), ka
    assert not os.path.exists(tmp_path / "b" / ".lock")


def test_ctrl_c_in_the_first_epoch_says_nothing_was_saved(tmp_path, monkeypatch):
    messages = []
    interrupt_at(monkeypatch, 3)
    run = dlspec.fit(write_spec(tmp_path), out=str(tmp_path / "run"), log=messages.append)
    assert run.interrupted and not (tmp_path / "run" / "last.ckpt").exists()
    assert "before any epoch completed: no checkpoint was saved" in messages[-1]


@pytest.mark.slow
def test_sigterm_stops_cleanly_and_the_run_resumes(tmp_path):
    path = write_spec(tmp_path, epochs=100000)
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "dlspec", "fit", str(path), "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        deadline = time.time() + 120
        while not (out / "last.ckpt").exists() and time.time() < deadline and proc.poll() is None:
            time.sleep(0.2)
        assert (out / ".lock").exists()
        os.kill(proc.pid, signal.SIGTERM)
        output, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, output
    assert "stopped by SIGTERM during epoch" in output and f"dlspec fit --resume {out}" in output
    assert "Traceback" not in output and not (out / ".lock").exists()
    saved = load_checkpoint(str(out))["epoch"]
    resumed = dlspec.fit(None, resume=str(out), epochs=saved + 1, log=quiet)
    assert [r["epoch"] for r in resumed.history][-1] == saved + 1


# ---- NaN ------------------------------------------------------------------

def nan_at(monkeypatch, call):
    real, calls = loop.forward, []

    def forward(*args):
        calls.append(1)
        out = real(*args)
        return out * float("nan") if len(calls) == call else out
    monkeypatch.setattr(loop, "forward", forward)


def test_nan_in_the_first_epoch_claims_no_checkpoint(tmp_path, monkeypatch):
    nan_at(monkeypatch, 2)
    with pytest.raises(TrainError) as info:
        dlspec.fit(write_spec(tmp_path), out=str(tmp_path / "run"), log=quiet)
    message = info.value.message
    assert "NaN or infinite at epoch 1, step 2" in message and "no checkpoint was saved" in message
    assert "last good checkpoint" not in message and "clip_grad_norm" in info.value.hint
    assert not (tmp_path / "run" / "last.ckpt").exists() and not (tmp_path / "run" / ".lock").exists()


def test_nan_later_names_the_checkpoint_that_exists(tmp_path, monkeypatch):
    nan_at(monkeypatch, 9 + 3 + 5)
    with pytest.raises(TrainError) as info:
        dlspec.fit(write_spec(tmp_path), out=str(tmp_path / "run"), log=quiet)
    assert "at epoch 2, step 5" in info.value.message
    assert f"{tmp_path / 'run'}/last.ckpt still holds epoch 1" in info.value.message
    assert load_checkpoint(str(tmp_path / "run"))["epoch"] == 1


# ---- loading a run runs no code unless trusted ----------------------------

@pytest.fixture(scope="module")
def clean_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("clean")
    dlspec.fit(write_spec(tmp, epochs=1), out=str(tmp / "run"), log=quiet)
    (tmp / "new.csv").write_text("a,b,c,d\n0.2,0.3,0.4,0.5\n")
    return tmp


def craft(clean_run, tmp_path, edit, plugins=None):
    """A copy of a clean run whose stored spec (in last.ckpt and best.ckpt) was edited by someone else."""
    import shutil
    run = tmp_path / "crafted"
    shutil.copytree(clean_run / "run", run)
    shutil.copy(clean_run / "rows.csv", tmp_path / "rows.csv")  # the stored spec's data, relative to it
    for name in ("last.ckpt", "best.ckpt"):  # evaluate, predict and export load best.ckpt; --resume last.ckpt
        state = load_checkpoint(str(run / name))
        state["spec_text"] = edit(state["spec_text"])
        state["spec_file"] = str(tmp_path / "net.dlspec")
        if plugins:
            state["plugins"] = plugins
        torch.save(state, run / name)
    return str(run)


def every_verb(run, new_csv, trust=False):
    """Each verb that loads a run, as a thunk."""
    return {
        "evaluate": lambda: dlspec.evaluate(run, split="val", trust=trust),
        "predict": lambda: dlspec.predict(run, [str(new_csv)], trust=trust),
        "export": lambda: dlspec.export(run, out=os.path.join(run, "exp"), trust=trust),
        "resume": lambda: dlspec.fit(None, resume=run, epochs=2, log=quiet, trust=trust),
    }


def test_a_stored_use_line_runs_only_with_trust(clean_run, tmp_path):
    marker = tmp_path / "pwned"
    (tmp_path / "evil.py").write_text(f"open({str(marker)!r}, 'a').write('x')\n")
    run = craft(clean_run, tmp_path, lambda text: 'use "evil.py"\n' + text)
    for verb, call in every_verb(run, clean_run / "new.csv").items():
        with pytest.raises(UntrustedRunError) as info:
            call()
        assert 'net.dlspec:1:1: use "evil.py" (imports Python code)' in info.value.message, verb
        assert "--trust" in info.value.hint and "untrusted" in info.value.hint
        assert not marker.exists(), verb
    result = dlspec.evaluate(run, split="val", trust=True)
    assert marker.exists() and "loss" in result


def test_a_stored_dotted_source_runs_only_with_trust(clean_run, tmp_path):
    marker = tmp_path / "pwned"
    run = craft(clean_run, tmp_path,
                lambda text: text.replace('source csv("rows.csv", target="label")', f'source os.system("touch {marker}")'))
    for verb, call in every_verb(run, clean_run / "new.csv").items():
        with pytest.raises(UntrustedRunError, match=r"source os\.system\(\.\.\.\) \(imports os and calls os\.system\)"):
            call()
        assert not marker.exists(), verb
    with pytest.raises(DataError, match="source os.system is not a torch Dataset class .*it was not called"):
        dlspec.evaluate(run, trust=True)  # trusted, the module is imported, but only a Dataset class is called
    assert not marker.exists()


def test_recorded_plugins_are_listed_and_the_cli_needs_trust(clean_run, tmp_path, monkeypatch):
    marker = tmp_path / "pwned"
    (tmp_path / "evilmod.py").write_text(f"open({str(marker)!r}, 'a').write('x')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    run = craft(clean_run, tmp_path, lambda text: text, plugins={"modules": ["evilmod"], "entry_points": []})
    result = CliRunner().invoke(main, ["evaluate", run, "--split", "val"])
    assert result.exit_code == 1 and "--plugin evilmod (imported when the run was trained)" in result.output
    assert "Traceback" not in result.output and not marker.exists()
    result = CliRunner().invoke(main, ["evaluate", run, "--split", "val", "--trust"])
    assert result.exit_code == 0 and "val_loss" in result.output and marker.exists()


def test_a_run_that_needs_no_code_loads_without_trust(clean_run):
    assert "loss" in dlspec.evaluate(str(clean_run / "run"), split="val")
    assert load_checkpoint(str(clean_run / "run"))["plugins"]["modules"] == []


# ---- one writer per run directory -----------------------------------------

def write_lock(out, pid, host=None):
    import json
    os.makedirs(out, exist_ok=True)
    (out / ".lock").write_text(json.dumps({"pid": pid, "host": host or socket.gethostname(), "since": time.time()}))


def test_a_second_fit_into_a_busy_run_directory_is_refused(tmp_path):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        write_lock(tmp_path / "run", sleeper.pid)
        (tmp_path / "run" / "last.ckpt.tmp").write_bytes(b"being written by the other fit")
        with pytest.raises(DlspecError) as info:
            dlspec.fit(write_spec(tmp_path), out=str(tmp_path / "run"), log=quiet)
        assert f"is being written by another dlspec fit (process {sleeper.pid} on {socket.gethostname()}" \
            in info.value.message and "delete" in info.value.hint
        assert not (tmp_path / "run" / "spec.dlspec").exists()  # refused before writing anything
        assert (tmp_path / "run" / "last.ckpt.tmp").exists()  # and before cleaning up the other's files
    finally:
        sleeper.kill()
        sleeper.wait()
    write_lock(tmp_path / "run", 1, host="another-host")
    with pytest.raises(DlspecError, match="on another-host"):
        dlspec.fit(write_spec(tmp_path), out=str(tmp_path / "run"), log=quiet)


def test_a_stale_lock_and_temporary_files_are_cleaned_up(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    write_lock(tmp_path / "run", dead.pid)
    (tmp_path / "run" / "last.ckpt.tmp").write_bytes(b"half a checkpoint")
    run = dlspec.fit(write_spec(tmp_path, epochs=1), out=str(tmp_path / "run"), log=quiet)
    assert run.history and not (tmp_path / "run" / ".lock").exists()
    assert not list((tmp_path / "run").glob("*.tmp"))
    resumed = dlspec.fit(None, resume=str(tmp_path / "run"), epochs=2, log=quiet)  # a finished run resumes
    assert len(resumed.history) == 2


# ---- write faults ---------------------------------------------------------

def test_an_out_folder_that_cannot_be_made_fails_before_training(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    messages = []
    with pytest.raises(DlspecError) as info:  # (tests run as root, where chmod would not stop writes)
        dlspec.fit(write_spec(tmp_path), out=str(tmp_path / "file" / "run"), log=messages.append)
    assert f"cannot write {tmp_path / 'file' / 'run'}: Not a directory" in info.value.message
    assert "--out" in info.value.hint and messages == []


def test_a_full_disk_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    import dlspec.train.checkpoint as checkpoint
    real, saves = torch.save, []

    def save(obj, f, *a, **k):
        saves.append(1)
        if len(saves) == 4:  # epoch 1 writes best then last; fail while writing epoch 2's last
            f.write(b"partial")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(obj, f, *a, **k)
    monkeypatch.setattr(checkpoint.torch, "save", save)
    out = tmp_path / "run"
    with pytest.raises(DlspecError) as info:
        dlspec.fit(write_spec(tmp_path), out=str(out), log=quiet)
    assert info.value.message == f"cannot write {out}/last.ckpt: No space left on device; the previous last.ckpt is intact"
    assert "free some disk space" in info.value.hint
    monkeypatch.setattr(checkpoint.torch, "save", real)
    assert load_checkpoint(str(out))["epoch"] == 1 and not list(out.glob("*.tmp")) and not (out / ".lock").exists()


def test_a_real_full_tmpfs(tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24k", "tmpfs", str(disk)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.decode().strip() or 'not permitted'}")
    try:
        text = SPEC.replace("linear(16)", "linear(2048)")  # a checkpoint of ~130 KB cannot fit in 24 KB
        with pytest.raises(DlspecError) as info:
            dlspec.fit(write_spec(tmp_path, 1, text), out=str(disk / "run"), log=quiet)
        assert f"cannot write {disk / 'run'}/best.ckpt: No space left on device" in info.value.message
        assert not list((disk / "run").glob("*.tmp"))
    finally:
        import gc
        gc.collect()  # drop any file object a failed write still references
        if subprocess.run(["umount", str(disk)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(disk)])  # busy: detach it anyway, so nothing stays mounted


# ---- command-line input ---------------------------------------------------

def cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_device_gpu_suggests_cuda(tmp_path):
    result = cli("fit", write_spec(tmp_path), "--device", "gpu", "--out", tmp_path / "run")
    assert result.exit_code == 1
    assert "unknown device 'gpu'. Did you mean 'cuda'? Devices: auto, cpu, cuda, cuda:N, mps" in result.output
    assert not (tmp_path / "run").exists()
    assert "unknown device 'cuda:x'" in cli("fit", write_spec(tmp_path), "--device", "cuda:x").output


def test_predict_csv_with_wrong_columns_names_the_expected_ones(clean_run, tmp_path):
    (tmp_path / "bad.csv").write_text("a,b,x\n1,2,3\n")
    with pytest.raises(DataError) as info:
        dlspec.predict(str(clean_run / "run"), [str(tmp_path / "bad.csv")])
    assert "has no column c, d" in info.value.message and "the model was trained on columns a, b, c, d" \
        in info.value.message


def test_cli_ranges_and_not_a_run(clean_run, tmp_path):
    (tmp_path / "empty").mkdir()
    assert "0 is not in the range x>=1" in cli("predict", tmp_path / "empty", "x.png", "--top", "0").output
    assert "0 is not in the range x>=1" in cli("fit", "x.dlspec", "--epochs", "0").output
    assert "-3 is not in the range x>=1" in cli("predict", tmp_path / "empty", "--steps", "-3").output
    for verb in ("evaluate", "predict", "export"):
        result = cli(verb, tmp_path / "empty")
        assert result.exit_code == 1 and result.output.startswith(
            f"error: {tmp_path / 'empty'} is not a run directory: it has no last.ckpt"), verb
    result = cli("fit", "--resume", tmp_path / "empty")
    assert result.exit_code == 1 and "is not a run directory" in result.output
    result = cli("export", clean_run / "run", "--out", clean_run / "rows.csv" / "x")
    assert result.exit_code == 1 and f"cannot write {clean_run / 'rows.csv' / 'x'}: Not a directory" in result.output
    result = cli("fit", "other.dlspec", "--resume", tmp_path / "empty", "--set", "a=1")
    assert result.exit_code == 1 and "so SPEC, --set cannot be given with it" in result.output


PLUGIN = """
import torch
from torch import nn
import dlspec

@dlspec.layer("boom_NAME")
class Boom(nn.Module):
    \"\"\"Raises in forward.\"\"\"
    def forward(self, x):
        raise EXC
    def output_shape(self, input_shape):
        return tuple(input_shape)
"""


@pytest.mark.parametrize("name, exc, words, hint", [
    ("value", "ValueError('bad input for boom')", "plugin error: layer boom_value (plugin boom_value.py:Boom via use file) raised ValueError: bad input for boom",
     "^"),
    ("oom", "torch.OutOfMemoryError('CUDA out of memory. Tried to allocate 9 GiB')",
     "out of memory on cpu in epoch 1, step 1 with batch size 8", "smaller batch (e.g. batch 4"),
])
def test_errors_in_forward_are_train_errors(tmp_path, name, exc, words, hint):
    plugin = tmp_path / f"boom_{name}.py"
    plugin.write_text(PLUGIN.replace("NAME", name).replace("EXC", exc))
    path = write_spec(tmp_path, text=f'use "boom_{name}.py"\n' + SPEC.replace("-> relu ->", f"-> boom_{name} ->"))
    result = cli("fit", path, "--out", tmp_path / "run")
    assert result.exit_code == 1 and "internal error" not in result.output
    assert words in result.output and hint in result.output
