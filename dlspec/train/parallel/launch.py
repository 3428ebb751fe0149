"""`fit --nproc N`: fit's options in, N workers started by torch's elastic launcher, one `Run` out.

The launcher is torch's own (torch.distributed.launcher.api.elastic_launch,
what torchrun runs): a c10d rendezvous on a free localhost port, workers
started with `spawn`, and when one worker fails the agent stops the others
within its monitor interval. This process checks the spec first (an error is
reported once, before any worker starts) and fixes the run directory, so all
workers write to the same one; afterwards it loads the trained weights from
that directory.

Each worker reports a user error into a file of a scratch folder and exits 1;
a worker that only saw a peer vanish exits quietly (see distributed.py). The
first report written is raised here, naming its rank, so it is printed once.
"""
from __future__ import annotations

import glob
import logging
import os
import shutil
import tempfile
import uuid
from typing import Optional

from ...errors import DlspecError, TrainError


class WorkerFailed(DlspecError):
    """A worker's own report (already formatted, naming its rank), raised in the launching process."""

    def __init__(self, report: str):
        super().__init__(report)
        self.text = report

    def report(self) -> str:
        return self.text


def check_nproc(nproc, device: str) -> None:
    """--nproc must be at least 1, and with `device cuda` at most the number of GPUs."""
    if not isinstance(nproc, int) or isinstance(nproc, bool) or nproc < 1:
        raise TrainError(f"--nproc must be a whole number of processes, at least 1; received {nproc}",
                         hint="use --nproc 2 for two processes on this machine")
    import torch
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if device == "auto" and 0 < gpus < nproc:
        raise TrainError(f"--nproc {nproc} with device auto would share {gpus} GPU(s) among {nproc} processes",
                         hint=f"use --nproc {gpus}, or device cpu")
    if device.startswith("cuda"):
        if nproc > gpus:
            raise TrainError(f"--nproc {nproc} with device {device} needs {nproc} GPUs; this machine has {gpus}",
                             hint=f"use --nproc {gpus}" if gpus else "use device cpu (gloo) or auto")
        if device != "cuda":
            raise TrainError(f"device {device} names one GPU, but --nproc {nproc} starts {nproc} processes",
                             hint="use device cuda: each process takes the GPU of its local rank")


def launch(nproc: int, spec, cfg, options: dict):
    """Train with `nproc` local workers; `options` are fit's keyword arguments (picklable), `spec` and `cfg`
    the checked spec and train block (for the returned Run's model)."""
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch
    config = LaunchConfig(min_nodes=1, max_nodes=1, nproc_per_node=nproc, run_id=f"dlspec-{uuid.uuid4().hex[:8]}",
                          rdzv_backend="c10d", rdzv_endpoint="127.0.0.1:0", max_restarts=0,
                          monitor_interval=0.1, start_method="spawn")
    reports = tempfile.mkdtemp(prefix="dlspec-fit-")
    loggers = [logging.getLogger(name) for name in list(logging.root.manager.loggerDict)
               if name.startswith(("torch.distributed.elastic", "torch.multiprocessing"))]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)  # their warnings would repeat our report
    threads = os.environ.get("OMP_NUM_THREADS")
    try:
        os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))
        returned = elastic_launch(config, worker)(options, reports)
    except ChildFailedError as failed:
        raise _failure(failed, reports) from None
    except (SignalException, KeyboardInterrupt) as stop:  # Ctrl-C or SIGTERM: the agent stopped the workers
        return _stopped(stop, options, spec, cfg)
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)
        if threads is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        shutil.rmtree(reports, ignore_errors=True)
    return _run_from(returned[0], spec, cfg)


def _failure(failed, reports: str) -> DlspecError:
    """The first report a worker wrote, else which rank died and how."""
    written = sorted(glob.glob(os.path.join(reports, "rank-*.txt")), key=os.path.getmtime)
    if written:
        with open(written[0], encoding="utf-8") as f:
            return WorkerFailed(f.read().rstrip())
    rank, first = failed.get_first_failure()
    how = (f"was killed by signal {-first.exitcode}" if first.exitcode < 0
           else f"exited with status {first.exitcode}")
    return TrainError(f"rank {rank} {how}; the other workers were stopped",
                      hint="killed by the system: out of host memory? Set DLSPEC_DEBUG=1 to see more")


def _stopped(stop, options: dict, spec, cfg):
    """The launching process reports a stop once (the workers' own messages are dropped, see _WorkerLog)."""
    import signal
    from ..checkpoint import load_record
    from ..interrupt import EXIT_STATUS, interrupted_message
    sigval = getattr(stop, "sigval", signal.SIGINT)
    name = signal.Signals(sigval).name if sigval in (signal.SIGINT, signal.SIGTERM) else "SIGTERM"
    out = options.get("out") or options["resume"]
    last = os.path.join(out, "last.ckpt")
    progress = load_record(last).progress if os.path.isfile(last) else None
    saved = progress.epoch if progress else None
    options["log"](interrupted_message(name, (saved or 0) + 1, saved, out))
    summary = {"out_dir": out, "history": progress.history if progress else [], "results": {}, "interrupted": True,
               "exit_status": EXIT_STATUS.get(name, 130)}
    return _run_from(summary, spec, cfg)


class _WorkerLog:
    """Rank 0's log in a launched worker, less the stop message, which the launching process prints."""

    def __init__(self, log):
        self.log = log

    def __call__(self, line: str) -> None:
        if not line.startswith(("interrupted (Ctrl-C) during", "stopped by SIG")):
            self.log(line)


def _interrupt_once():
    """Ctrl-C reaches a worker twice (from the terminal and forwarded by the agent): the first stops it
    like Ctrl-C stops one process, a second must not break the way out."""
    fired = []

    def handler(signum, frame):
        if not fired:
            fired.append(signum)
            raise KeyboardInterrupt
    return handler


def worker(options: dict, reports: str):
    """One worker: fit in this process's place of the job; rank 0 returns what the Run needs."""
    import signal
    import sys
    from ..fit import fit
    signal.signal(signal.SIGINT, _interrupt_once())
    rank = os.environ.get("RANK", "?")
    options = dict(options)
    options["log"] = _WorkerLog(options["log"])
    source = options.pop("spec_source")
    if isinstance(source, tuple):
        from ...spec import loads
        text, filename, overrides = source
        options["spec_or_path"] = loads(text, filename, overrides or None)
    else:
        options["spec_or_path"] = source
    try:
        _load_plugins(options.pop("plugins", None))
        run = fit(**options)
    except KeyboardInterrupt:  # stopped before or after the epochs (the trainer handles it during them)
        os._exit(130)
    except Exception as exc:
        if os.environ.get("DLSPEC_DEBUG"):
            raise
        _write_report(reports, rank, exc)
        sys.exit(1)
    if run.interrupted:  # stopped by the agent: leave at once, so a peer waiting in an exchange is freed
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(run.exit_status)
    if rank != "0":
        return None
    return {"out_dir": run.out_dir, "history": run.history, "results": run.results,
            "interrupted": run.interrupted, "exit_status": run.exit_status}


def _write_report(reports: str, rank: str, exc: Exception) -> None:
    """The worker's report in its own file (written whole, then renamed, so the launcher never reads half)."""
    if isinstance(exc, DlspecError):
        text = exc.report()
    else:  # a bug in dlspec, said as plainly as the CLI says it
        text = (f"internal error on rank {rank}: {type(exc).__name__}: {exc}\n"
                "This is a bug in dlspec; set DLSPEC_DEBUG=1 for the traceback and please report it.")
    path = os.path.join(reports, f"rank-{rank}.txt")
    with open(f"{path}.tmp", "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(f"{path}.tmp", path)


def _load_plugins(plugins: Optional[list]) -> None:
    """--plugin modules the launching process loaded, loaded again in the worker."""
    from ...plugins.discovery import load_named_module
    for name in plugins or ():
        load_named_module(name)


def _run_from(summary: dict, spec, cfg):
    """The launching process's Run: rank 0's history and results, the weights from the run directory."""
    from ..checkpoint import load_record
    from ..trainer import Run
    best = os.path.join(summary["out_dir"], "best.ckpt")
    last = os.path.join(summary["out_dir"], "last.ckpt")
    chosen = best if (summary["results"] or {}).get("checkpoint") == "best" and os.path.exists(best) else last
    record = load_record(chosen) if os.path.exists(chosen) else None
    from ..measure import measure
    facts = record.data.facts() if record else measure(spec, cfg.model, cfg.name).checked()
    model = spec.build(cfg.model, facts)
    if record:
        model.load_state_dict(record.progress.model)
    return Run(summary["out_dir"], summary["history"], summary["results"], model, cfg,
               summary["interrupted"], summary["exit_status"])

