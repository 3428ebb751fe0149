"""`dlspec fit`: a spec (or a run directory to resume) in, a trained `Run` out."""
from __future__ import annotations

from typing import Callable, Optional

from ..errors import TrainError
from ..spec import Spec, load
from . import rundir
from .checkpoint import load_checkpoint
from .config import read_train
from .loggers import require_packages
from .loop import check_device_name
from .trainer import Run, Trainer
from .trust import load_run_spec


def fit(spec_or_path, train: Optional[str] = None, overrides: Optional[dict] = None, epochs: Optional[int] = None,
        device: Optional[str] = None, out: Optional[str] = None, resume: Optional[str] = None,
        log: Callable[[str], None] = print, progress: bool = True, trust: bool = False,
        checkpoint: str = "best") -> Run:
    """Train what a train block describes and write a run directory.

    `spec_or_path` is a path or a loaded `Spec`; `overrides` sets `let`s;
    `resume` continues the run in that directory (possibly to more epochs);
    its stored spec may run Python code only with trust=True (see dlspec.train.trust).
    `checkpoint` picks the weights for the test metrics and `Run.model`: best (best.ckpt, by the
    early_stop monitor, else val_loss, else the training loss) or last; results.json says which.
    """
    if device is not None:
        check_device_name(device)  # before anything is loaded or written
    state = None
    if resume is not None:
        _check_resume_options(spec_or_path, train, overrides, out)
        state = load_checkpoint(resume)
        spec = load_run_spec(state, resume, trust)
        train, out = state["settings"]["train"], resume
        epochs = epochs or state["settings"]["epochs"]
    else:
        spec = spec_or_path if isinstance(spec_or_path, Spec) else load(spec_or_path, overrides)
    cfg = read_train(spec, train, epochs=epochs, device=device)
    require_packages(cfg.log)  # log tensorboard|mlflow without the package: said before any data loads
    out = out or cfg.out or rundir.default_run_dir(cfg.name or cfg.model)
    return Trainer(spec, cfg, out, state, log, progress, overrides, checkpoint).run()


def _check_resume_options(spec_or_path, train, overrides, out) -> None:
    """A resumed run goes on with the spec, settings and folder it was started with; an option
    that would change them would be silently ignored, so it is refused."""
    given = [name for name, value in (("SPEC", spec_or_path), ("--train", train), ("--set", overrides),
                                      ("--out", out)) if value]
    if given:
        raise TrainError(f"--resume continues a run with the spec, settings and folder it was started with, "
                         f"so {', '.join(given)} cannot be given with it",
                         hint="leave them out (only --epochs and --device can change), or start a new run")
