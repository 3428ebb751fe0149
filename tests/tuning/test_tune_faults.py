"""dlspec tune stopped from outside: a trial whose process was killed (SIGKILL) is marked failed, and
said, by the next run on the study; SIGTERM stops tune with exit status 143, as it stops fit."""
import os
import signal
import subprocess
import sys
import time

import pytest

optuna = pytest.importorskip("optuna")

import dlspec  # noqa: E402

SPEC = """\
let lr = loguniform(1e-4, 1e-1, default=1e-3)
let epochs = 400

model M {
    input image(1, 8, 8)
    flatten -> linear(16) -> relu -> linear(10)
}
data d {
    source sklearn_digits
    split train=0.6 val=0.2 test=0.2 seed=0
    batch 64
}
train { model M; data d; optimizer adam(lr=lr); epochs epochs; seed 0 }
"""


def start_tune(tmp_path):
    """`dlspec tune` in its own process, returned once its first trial has trained an epoch."""
    (tmp_path / "mlp.dlspec").write_text(SPEC)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "dlspec", "tune", str(tmp_path / "mlp.dlspec"), "--trials", "1",
                             "--out", str(tmp_path / "out")], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=env)
    log = tmp_path / "out" / "trials" / "0000" / "fit.log"
    deadline = time.time() + 120
    while not (log.exists() and "epoch 1/" in log.read_text()):
        if proc.poll() is not None or time.time() > deadline:
            proc.kill()
            pytest.fail(f"tune did not start its trial: {proc.communicate()[0]}")
        time.sleep(0.2)
    return proc


def trial_states(out):
    study = optuna.load_study(study_name="mlp", storage=f"sqlite:///{out / 'study.db'}")
    return {t.number: (t.state.name, t.user_attrs.get("error")) for t in study.trials}


def test_a_killed_trial_is_marked_failed_by_the_next_run(tmp_path):
    proc = start_tune(tmp_path)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert trial_states(tmp_path / "out")[0][0] == "RUNNING"  # what SIGKILL leaves behind
    lines = []
    dlspec.tune(str(tmp_path / "mlp.dlspec"), trials=1, out=str(tmp_path / "out"), overrides={"epochs": "1"},
                log=lines.append)
    assert "trial 0 had been left running by a process that died (killed?): marked failed" in lines
    states = trial_states(tmp_path / "out")
    assert states[0][0] == "FAIL" and f"(pid {proc.pid}) died before the trial finished" in states[0][1]
    assert states[1][0] == "COMPLETE"
    more = []
    dlspec.tune(str(tmp_path / "mlp.dlspec"), trials=1, out=str(tmp_path / "out"), overrides={"epochs": "1"},
                log=more.append)
    assert not [line for line in more if "left running" in line]  # said once, when it is marked


def test_a_live_trial_of_another_process_is_left_running(tmp_path):
    proc = start_tune(tmp_path)
    try:
        lines = []
        from dlspec.tuning.abandoned import fail_abandoned
        study = optuna.load_study(study_name="mlp", storage=f"sqlite:///{tmp_path / 'out' / 'study.db'}")
        assert fail_abandoned(optuna, study, study._storage, lines.append) == [] and lines == []
        assert trial_states(tmp_path / "out")[0][0] == "RUNNING"
    finally:
        proc.kill()
        proc.wait()


def test_sigterm_stops_tune_with_exit_status_143(tmp_path):
    proc = start_tune(tmp_path)
    proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == 143, output
    assert "stopped by SIGTERM: the trials so far are kept; run the same command to go on" in output
    assert "Traceback" not in output
    assert trial_states(tmp_path / "out")[0][0] == "FAIL"  # not left RUNNING
