"""Trials whose process died: a study in, its abandoned RUNNING trials marked failed (and said) out.

A `dlspec tune` killed with SIGKILL (or a machine that went down) cannot
finish its trial, which would otherwise stay RUNNING in the study for ever.
Each trial records the process running it (PID and host); the next run on
the same study marks a RUNNING trial failed when that process is gone from
this host. Trials of other hosts are left to Optuna's heartbeat, which fails
a trial whose process stopped beating for the grace period (storage.py).
"""
from __future__ import annotations

import os
import socket
import warnings
from typing import Callable

from ..train.rundir import process_alive

OWNER = "process"  # the trial user attribute holding {"pid", "host"}


def record_owner(trial) -> None:
    """Say which process runs `trial`, so a later run can tell when it died."""
    trial.set_user_attr(OWNER, {"pid": os.getpid(), "host": socket.gethostname()})


def fail_abandoned(optuna, study, storage, log: Callable[[str], None]) -> list:
    """Mark failed every RUNNING trial whose process has died (on this host, or by Optuna's heartbeat);
    returns their numbers."""
    running = optuna.trial.TrialState.RUNNING
    host, failed = socket.gethostname(), []
    for trial in study.get_trials(deepcopy=False, states=(running,)):
        owner = trial.user_attrs.get(OWNER)
        if not isinstance(owner, dict) or owner.get("host") != host or process_alive(owner.get("pid")):
            continue
        error = (f"its process (pid {owner.get('pid')}) died before the trial finished (killed?); "
                 f"marked failed by a later run")
        storage.set_trial_user_attr(trial._trial_id, "error", error)
        if storage.set_trial_state_values(trial._trial_id, optuna.trial.TrialState.FAIL):
            failed.append(trial.number)
    before = {t.number for t in study.get_trials(deepcopy=False, states=(running,))}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Optuna calls fail_stale_trials experimental
        optuna.storages.fail_stale_trials(study)  # other hosts: no heartbeat for the grace period
    failed += sorted(before - {t.number for t in study.get_trials(deepcopy=False, states=(running,))})
    if failed:
        log(f"trial{'s' if len(failed) > 1 else ''} {', '.join(map(str, failed))} had been left running by a "
            f"process that died (killed?): marked failed")
    return failed
