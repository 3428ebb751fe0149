"""`dlspec fit`: a spec (or a run directory to resume) in, a trained `Run` out.

One process by default; `nproc=N` starts N workers through torch's elastic
launcher (train/parallel/launch.py), and a process started by torchrun or srun joins
the job it finds in its environment (train/parallel/distributed.py).
"""
from __future__ import annotations

import os
import pickle
from typing import Callable, Optional

from ..errors import TrainError
from ..spec import Spec, load
from . import rundir
from .checkpoint import load_record
from .config import read_train
from .parallel.distributed import Dist, job_environment
from .loggers import require_packages
from .loop import check_device_name
from .measure import Measurements
from .trainer import Run, Trainer
from .trust import check_log_folders, load_run_spec


def fit(spec_or_path, train: Optional[str] = None, overrides: Optional[dict] = None, epochs: Optional[int] = None,
        device: Optional[str] = None, out: Optional[str] = None, resume: Optional[str] = None,
        log: Callable[[str], None] = print, progress: bool = True, trust: bool = False,
        nproc: Optional[int] = None, on_epoch: Optional[Callable[[dict], None]] = None,
        checkpoint: Optional[str] = None) -> Run:
    """Train what a train block describes and write a run directory.

    `spec_or_path` is a path or a loaded `Spec`; `overrides` sets `let`s;
    `resume` continues the run in that directory (possibly to more epochs);
    its stored spec may run Python code only with trust=True (see dlspec.train.trust).
    `nproc=N` trains with N processes on this machine (DistributedDataParallel;
    `batch` stays the global batch); `log` must then be picklable (print, click.echo),
    else the workers print. Under torchrun or srun the call joins that job.
    `on_epoch(row)` is called after each epoch with its metrics (dlspec tune reports them to its pruner;
    in one process, or on every rank of a job this call joined).
    `checkpoint` picks the weights for the test metrics and `Run.model`: best (best.ckpt, by the
    early_stop monitor, else val_loss, else the training loss) or last; results.json says which.
    """
    if device is not None:
        check_device_name(device)  # before anything is loaded or written
    if nproc is not None:
        from .parallel.launch import check_nproc
        check_nproc(nproc, "cpu")  # a count below 1 is refused before anything is loaded
        if job_environment() is not None and nproc > 1:
            raise TrainError(f"--nproc {nproc} inside a job that torchrun or srun already started",
                             hint="leave out --nproc: the launcher decides the number of processes")
        if nproc > 1:
            return _launch(nproc, spec_or_path, train, overrides, epochs, device, out, resume, log, progress, trust,
                           checkpoint)
    dist = Dist.join()
    try:
        with dist.named_failures():
            spec, cfg, resumed, out, measured = _prepare(spec_or_path, train, overrides, epochs, device, out, resume,
                                                       trust, dist)
            quiet = not dist.is_main
            trainer = Trainer(spec, cfg, out, resumed, _silent if quiet else log, progress and not quiet, overrides,
                              dist, checkpoint, measured)
            trainer.on_epoch = on_epoch
            return trainer.run()
    finally:
        dist.close()


def _silent(*args) -> None:
    """The log of ranks other than 0: they print nothing unless they fail."""


def _prepare(spec_or_path, train, overrides, epochs, device, out, resume, trust, dist: Dist):
    """The spec, its checked train block, the record to resume from (or None), the run directory and what
    read_train measured of the data (a vector(auto) width: the data loaded, which the trainer then reuses)."""
    resumed = None
    if resume is not None:
        _check_resume_options(spec_or_path, train, overrides, out)
        resumed = dist.broadcast_object(load_record(resume) if dist.is_main else None)
        spec = load_run_spec(resumed.spec, resume, trust)
        train, out = resumed.spec.settings["train"], resume
        epochs = epochs or resumed.spec.settings["epochs"]
    else:
        spec = spec_or_path if isinstance(spec_or_path, Spec) else load(spec_or_path, overrides)
    measurements = Measurements(spec)
    cfg = read_train(spec, train, epochs=epochs, device=device, measurements=measurements)
    if resumed is not None:
        check_log_folders(cfg.log, out, trust)  # the stored spec must not choose a folder outside the run
    require_packages(cfg.log)  # log tensorboard|mlflow without the package: said before any data loads
    dist.check_batch(spec, cfg)
    out = dist.broadcast_object(out or cfg.out or rundir.default_run_dir(cfg.name or cfg.model))
    if resumed is None and dist.restarts and os.path.isfile(os.path.join(out, "last.ckpt")):
        # torchrun --max-restarts started this job again: go on from the last completed epoch
        resumed = dist.broadcast_object(load_record(out) if dist.is_main else None)
    return spec, cfg, resumed, out, measurements.measure(cfg.model, cfg.name)


def _launch(nproc, spec_or_path, train, overrides, epochs, device, out, resume, log, progress, trust,
            checkpoint) -> Run:
    """Check everything here (errors are reported once), then start the workers."""
    from ..plugins.discovery import loaded_plugins
    from .parallel.launch import check_nproc, launch
    spec, cfg, _, run_out, _ = _prepare(spec_or_path, train, overrides, epochs, device, out, resume, trust,
                                     Dist(world=nproc))
    check_nproc(nproc, device or cfg.device)
    options = {"train": train, "overrides": overrides, "epochs": epochs, "device": device, "resume": resume,
               "log": log if _picklable(log) else print, "progress": progress, "trust": trust,
               "checkpoint": checkpoint,
               "plugins": loaded_plugins()["modules"]}
    if resume is None:
        options["out"] = run_out
        if isinstance(spec_or_path, Spec):
            options["spec_source"] = (spec_or_path.text, spec_or_path.filename, dict(spec.program.overrides))
        else:
            options["spec_source"] = os.fspath(spec_or_path)
    else:
        options["spec_source"] = None
    return launch(nproc, spec, cfg, options)


def _picklable(value) -> bool:
    try:
        pickle.dumps(value)
        return True
    except Exception:  # a lambda or a bound method of something unpicklable
        return False


def _check_resume_options(spec_or_path, train, overrides, out) -> None:
    """A resumed run goes on with the spec, settings and folder it was started with; an option
    that would change them would be silently ignored, so it is refused."""
    given = [name for name, value in (("SPEC", spec_or_path), ("--train", train), ("--set", overrides),
                                      ("--out", out)) if value]
    if given:
        raise TrainError(f"--resume continues a run with the spec, settings and folder it was started with, "
                         f"so {', '.join(given)} cannot be given with it",
                         hint="leave them out (only --epochs and --device can change), or start a new run")
