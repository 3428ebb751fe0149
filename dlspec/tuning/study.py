"""`dlspec tune`: a spec with search spaces in, an Optuna study of normal fits out.

Each trial samples every open space, runs `dlspec.fit` with the sampled values
as `--set` overrides into DIR/trials/NNNN (a full run directory) and scores it
by the monitor that decides best.ckpt (`checkpoint monitor=`, else `early_stop
monitor=`, else `val_loss`) at its best epoch.
Each epoch's value goes to the pruner, so a hopeless trial stops early. The
study lives in a storage (DIR/study.db by default) that later runs and other
processes share; trials.csv, best.dlspec and the plots are written at the end.
"""
from __future__ import annotations

import contextlib
import inspect
import math
import os
from dataclasses import dataclass, field
from typing import Callable, Optional

from ..errors import DataError, DlspecError, TrainError, did_you_mean
from ..spec import load
from . import params as P
from . import storage as S
from .abandoned import fail_abandoned, record_owner
from .check import check_spaces, open_spaces

PRUNERS = ("median", "hyperband", "none")
DEFAULT_TRIALS = 20


@dataclass
class TuneResult:
    """What `dlspec.tune` found: the best trial's parameters (spec values), score and run directory."""

    best_params: dict
    best_value: Optional[float]
    best_run_dir: Optional[str]
    best_trial: Optional[int]
    monitor: str
    direction: str  # minimize | maximize
    out_dir: str
    rows: list = field(default_factory=list)  # one dict per trial of the study (report.trial_rows)
    study: object = field(default=None, repr=False)


@dataclass
class _Setup:
    path: str
    train: Optional[str]
    spec: object
    spaces: dict
    overrides: dict
    monitor: str
    direction: str
    epochs: int
    out: str
    fit_options: dict


def optuna_module():
    """Optuna, or the one-line error naming the extra that installs it."""
    try:
        import optuna
    except ImportError:
        raise DlspecError("dlspec tune needs Optuna: pip install 'dlspec[tune]'") from None
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # dlspec prints its own progress and failures
    return optuna


def tune(spec_path, train: Optional[str] = None, trials: Optional[int] = None, timeout: Optional[float] = None,
         out: Optional[str] = None, storage: Optional[str] = None, study: Optional[str] = None, seed: int = 0,
         pruner: str = "median", nproc: Optional[int] = None, overrides: Optional[dict] = None,
         log: Callable[[str], None] = print) -> TuneResult:
    """Search a spec's spaces with Optuna; see docs/tuning.md. Running it again on the same `out`
    (or `storage` and `study`) continues the study."""
    from . import report
    optuna = optuna_module()
    setup = _prepare(spec_path, train, out, pruner, nproc, overrides or {})
    url = storage or S.default_storage(setup.out)
    name = study or S.default_study_name(setup.path, train)
    S.check_same_directory(setup.out, name, url, os.path.abspath(setup.path))
    the_study = _open_study(optuna, url, name, setup, seed, pruner, log)
    S.write_info(setup.out, {"study": name, "storage": url, "spec": os.path.abspath(setup.path), "train": train,
                             "monitor": setup.monitor, "direction": setup.direction})
    n_trials = DEFAULT_TRIALS if trials is None and timeout is None else trials
    log(f"tuning {setup.path}: {n_trials or 'as many'} trial(s){f' within {timeout:g} s' if timeout else ''} of "
        + ", ".join(f"{n} = {s.describe()}" for n, s in setup.spaces.items())
        + f"; objective {setup.monitor} ({setup.direction}); study '{name}' in {S.shown_url(url)}")
    progress = report.Progress(log, n_trials, setup.monitor, list(setup.spaces))
    from ..train.interrupt import signal_name, stop_on_sigterm
    try:
        with stop_on_sigterm():  # SIGTERM stops like Ctrl-C, between trials too (exit status 143)
            the_study.optimize(lambda trial: _objective(trial, setup), n_trials=n_trials, timeout=timeout,
                               catch=(Exception,), callbacks=[progress])
    except KeyboardInterrupt as exc:
        what = "interrupted" if signal_name(exc) == "SIGINT" else f"stopped by {signal_name(exc)}"
        log(f"{what}: the trials so far are kept; run the same command to go on")
        with contextlib.suppress(DlspecError):  # no trial has finished yet: the stop is what to report
            report.finish(the_study, setup, log)
        raise
    return report.finish(the_study, setup, log)


def _prepare(path, train, out, pruner, nproc, overrides) -> _Setup:
    if pruner not in PRUNERS:
        raise DlspecError(f"unknown pruner '{pruner}'." + did_you_mean(str(pruner), PRUNERS),
                          hint=f"--pruner takes {', '.join(PRUNERS)}")
    spec = load(os.fspath(path), overrides)
    from ..train.config import find_train, read_train
    from ..train.measure import Measurements
    spaces = open_spaces(spec)
    checked = check_spaces(spec, None, train) if spaces else spec
    measurements = Measurements(checked)  # vector(auto) measures the data of the train block tuned
    for name in checked.model_names:  # every model, also without spaces: a space outside a let is reported as such
        measurements.plan(name, train)
    decl = find_train(spec.program, train)
    if not spaces:
        raise DlspecError(f"{path} has no search space to tune: no `let` is a loguniform, uniform, int or choice",
                          decl.loc, hint="e.g. let lr = loguniform(1e-4, 1e-1, default=1e-3) and "
                                         "optimizer adam(lr=lr)")
    for space in spaces.values():
        if space.let_loc.file != spec.filename:
            raise DlspecError(f"the search space '{space.name}' is in an included file, so best.dlspec could not "
                              "carry its best value", space.let_loc, hint=f"move `let {space.name}` into {path}")
    cfg = read_train(checked, train, measurements=measurements)
    monitor, direction = objective_of(cfg)
    out = out or os.path.join("runs", f"{S.default_study_name(path, train)}-tune")
    return _Setup(os.fspath(path), train, spec, spaces, dict(overrides), monitor, direction, cfg.epochs, out,
                  _fit_options(nproc))


def objective_of(cfg) -> tuple:
    """The value a trial is scored by (what decides best.ckpt: checkpoint's monitor, else early_stop's,
    else val_loss) and its direction."""
    from ..train.best import Tracker
    best = cfg.best_by(has_val=True)  # the trainer's own rule; tune needs a val split for a val_ monitor
    monitor = best["monitor"]
    if monitor.startswith("val_") and not cfg.data.fractions.get("val"):
        raise DataError(f"dlspec tune scores each trial by {monitor}, but data {cfg.data.name} has no val split",
                        cfg.data.split_loc, hint="add a val part: split train=0.7 val=0.15 test=0.15")
    return monitor, "maximize" if Tracker.of(best).higher else "minimize"


def _fit_options(nproc: Optional[int]) -> dict:
    """--nproc goes to fit as it is, when this installation's fit takes it."""
    if nproc is None:
        return {}
    from ..train.fit import fit
    if "nproc" not in inspect.signature(fit).parameters:
        raise DlspecError("--nproc needs multi-process training in dlspec fit, which this installation lacks",
                          hint="leave --nproc out (each trial then trains in one process)")
    return {"nproc": nproc}


# ---- the study ---------------------------------------------------------------------


def _open_study(optuna, url: str, name: str, setup: _Setup, seed: int, pruner: str, log: Callable[[str], None]):
    from ..train.rundir import writing
    with writing(setup.out):
        os.makedirs(setup.out, exist_ok=True)
    with S.creation_lock(url, setup.out):  # two processes starting at once create one study
        storage = S.open_storage(optuna, url)
        study = optuna.create_study(storage=storage, study_name=name, direction=setup.direction,
                                    load_if_exists=True, sampler=_sampler(optuna, seed),
                                    pruner=_pruner(optuna, pruner, setup.epochs))
        _check_same_study(optuna, study, setup, name)
        fail_abandoned(optuna, study, storage, log)  # trials a killed process left RUNNING
        if not study.trials:  # the first trial tries the spec as written: its defaults
            defaults = {n: P.to_param(s, s.default) for n, s in setup.spaces.items() if s.has_default}
            if defaults:
                study.enqueue_trial(defaults, skip_if_exists=True)
            study.set_user_attr("monitor", setup.monitor)
    return study


def _check_same_study(optuna, study, setup: _Setup, name: str) -> None:
    """A study resumed with another objective or other spaces would mix incomparable trials."""
    wanted = optuna.study.StudyDirection[setup.direction.upper()]
    monitor = study.user_attrs.get("monitor")
    if study.direction != wanted or monitor not in (None, setup.monitor):
        raise DlspecError(f"study '{name}' scores trials by {monitor or 'another objective'} "
                          f"({study.direction.name.lower()}), this spec by {setup.monitor} ({setup.direction})",
                          hint="use another --study or --out for a different objective")
    from optuna.distributions import check_distribution_compatibility
    for trial in study.get_trials(deepcopy=False):
        for pname, dist in trial.distributions.items():
            if pname in setup.spaces:
                try:
                    check_distribution_compatibility(dist, P.distribution(setup.spaces[pname]))
                except ValueError:
                    space = setup.spaces[pname]
                    raise DlspecError(f"the space of '{pname}' is {space.describe()}, but study '{name}' searched "
                                      f"it differently (trial {trial.number})", space.loc,
                                      hint="use another --study or --out for a changed space") from None


def _sampler(optuna, seed: int):
    """TPE whose randomness for trial n comes from (seed, n): the same command gives the same trials, a
    resumed study does not repeat its first ones, and processes sharing a study draw different ones."""

    class SeededTPE(optuna.samplers.BaseSampler):
        def __init__(self):
            self._inner = optuna.samplers.TPESampler(seed=seed)

        def before_trial(self, study, trial):
            self._inner = optuna.samplers.TPESampler(seed=(seed * 1_000_003 + trial.number) % 2 ** 32)
            self._inner.before_trial(study, trial)

        def infer_relative_search_space(self, study, trial):
            return self._inner.infer_relative_search_space(study, trial)

        def sample_relative(self, study, trial, search_space):
            return self._inner.sample_relative(study, trial, search_space)

        def sample_independent(self, study, trial, param_name, param_distribution):
            return self._inner.sample_independent(study, trial, param_name, param_distribution)

        def after_trial(self, study, trial, state, values):
            self._inner.after_trial(study, trial, state, values)

    return SeededTPE()


def _pruner(optuna, name: str, epochs: int):
    if name == "median":  # three finished trials give a median worth comparing with
        return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=0)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max(epochs, 1))
    return optuna.pruners.NopPruner()


# ---- one trial ---------------------------------------------------------------------


def _objective(trial, setup: _Setup) -> float:
    import optuna
    from ..train.fit import fit
    texts = P.suggest(trial, setup.spaces)
    run_dir = os.path.join(setup.out, "trials", f"{trial.number:04d}")
    trial.set_user_attr("run_dir", run_dir)
    trial.set_user_attr("epochs", 0)
    record_owner(trial)  # so a later run can tell this trial was abandoned if this process is killed
    try:
        run = fit(setup.path, setup.train, overrides={**setup.overrides, **texts}, out=run_dir,
                  log=_TrialLog(run_dir), progress=False, on_epoch=_Reporter(trial, setup.monitor),
                  **setup.fit_options)
    except optuna.TrialPruned:
        raise
    except Exception as exc:  # recorded with the trial; the study goes on
        trial.set_user_attr("error", error_text(exc))
        raise
    if run.interrupted:  # Ctrl-C or SIGTERM during the fit: stop the study with the same signal
        from ..train.interrupt import Stopped
        raise Stopped("SIGTERM") if run.exit_status == 143 else KeyboardInterrupt()
    value = (run.results.get("best") or {}).get(setup.monitor)
    if value is None or not math.isfinite(value):
        error = TrainError(f"the run recorded no finite {setup.monitor} (value {value})")
        trial.set_user_attr("error", error_text(error))
        raise error
    return value


def error_text(exc: BaseException) -> str:
    """One line saying what went wrong in a trial (kept in the study and trials.csv)."""
    if isinstance(exc, DlspecError):
        where = f"{exc.loc}: " if exc.loc is not None else ""
        return f"{where}{exc.kind}: {exc.message}"
    return f"{type(exc).__name__}: {exc}".splitlines()[0]


class _Reporter:
    """fit's on_epoch: each epoch's objective value goes to the pruner, which may stop the trial."""

    def __init__(self, trial, monitor: str):
        self.trial, self.monitor = trial, monitor

    def __call__(self, row: dict) -> None:
        import optuna
        epoch, value = row["epoch"], row.get(self.monitor)
        self.trial.set_user_attr("epochs", epoch)
        if value is None or not math.isfinite(value):
            return
        self.trial.report(value, epoch)
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"pruned after epoch {epoch}: {self.monitor} {value:.4g}")


class _TrialLog:
    """fit's log for a trial: its lines go to the trial's fit.log, not the terminal."""

    def __init__(self, run_dir: str):
        self.path = os.path.join(run_dir, "fit.log")

    def __call__(self, line: str) -> None:
        with contextlib.suppress(OSError):
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(f"{line}\n")


