"""The trainer: a spec and a train block in, a trained model and a run directory out.

Reads top to bottom: seed, device, data, model, optimizer, then epochs of
train/validate/checkpoint, then best weights, test metrics and the run files.
`--resume DIR` reloads everything from DIR/last.ckpt and continues (its
loggers too: the same MLflow run and TensorBoard folder, see train/loggers/);
on the CPU the result is bit-identical to an uninterrupted run.
"""
from __future__ import annotations

import os
import random
import time
from dataclasses import dataclass, field, replace
from typing import Optional

import torch

from ..compiler import build_model
from ..data.fingerprint import check_run_data, fingerprint
from ..data.record import DataRecord
from ..errors import TrainError
from ..planning.layer_init import with_layer_init
from ..plugins.discovery import loaded_plugins
from ..spec import Spec
from . import rundir
from .checkpoint import check_choice, load_record, restore_rng, rng_state, save_checkpoint, select_checkpoint
from .checkpoint_fields import check_optimizer_state, check_weights, restoring
from .config import TrainConfig
from .parallel.distributed import Dist
from .faults import is_out_of_memory, out_of_memory
from .finetune import freeze, frozen_leaves, init_weights, param_groups, unfreeze_due
from .fit_data import load_data, plan_for_data
from .interrupt import EXIT_STATUS, interrupted_message, signal_name, stop_on_sigterm
from .loggers import Loggers, Resume, flat_hparams, open_loggers
from .loop import NonFiniteLoss, StepSetup, autocast_dtype, evaluate, move, select_device, train_epoch
from .output_losses import Objective, make_output_metrics
from .targets import recorded_outputs
from .measure import Measured
from .progress import EpochProgress
from .best import Monitors
from .metrics import make_metrics
from .record import ProgressRecord, RunRecord, SpecRecord
from .parallel.sharding import StepPlan
from .vectors import load_vectors


@dataclass
class Run:
    """The outcome of `dlspec.fit`: where the files are, the history, the results."""

    out_dir: str
    history: list
    results: dict
    model: torch.nn.Module = field(repr=False)
    config: TrainConfig = field(repr=False)
    interrupted: bool = False
    exit_status: int = 0  # for the CLI: 130 after Ctrl-C, 143 after SIGTERM
    rank: int = 0  # this process's rank in a distributed job; only rank 0 reports

    def path(self, name: str) -> str:
        return os.path.join(self.out_dir, name)


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)
    try:
        import numpy as np
        np.random.seed(seed)
    except ImportError:
        pass


class Trainer:
    """Holds one training run; `run()` does the work."""

    on_epoch = None  # called with each epoch's row once it is saved (dlspec tune's pruning); may raise to stop

    def __init__(self, spec: Spec, cfg: TrainConfig, out: str, resumed: Optional[RunRecord], log, progress, overrides,
                 dist: Optional[Dist] = None, checkpoint: Optional[str] = None, measured: Optional[Measured] = None):
        self.spec, self.cfg, self.out, self.log = spec, cfg, out, log
        self.resumed = resumed  # the record --resume (or a restarted job) goes on from; None for a new run
        self.measured = measured  # the data read_train loaded for a vector(auto) width: trained on, not read again
        self.dist = dist or Dist()  # one process unless fit joined a job (see parallel/distributed.py)
        self.checkpoint = check_choice(checkpoint)  # the weights the test metrics and Run.model use
        self.show_progress = progress
        self.loggers = Loggers([])  # tensorboard, mlflow: opened once the run directory is written
        self.overrides = overrides if resumed is None else resumed.spec.overrides

    # ---- setup ----

    def _setup(self) -> None:
        cfg = self.cfg
        _seed_everything(cfg.seed)
        self.device = self.dist.place(select_device(cfg.device))
        self.amp = autocast_dtype(cfg.precision, self.device)
        self.data = self._build_data()
        # the data the run first trained on: a resume on changed data keeps saying so to later evaluates
        self.data_fingerprint = (self.resumed.data.fingerprint if self.resumed else None) or fingerprint(cfg.data)
        if self.resumed is not None:  # --resume: the data must still be what the run was trained on
            check_run_data(cfg.data, self.resumed.data, self.data, "--resume")
        self.cfg, plan, self.targets = plan_for_data(self.spec, cfg, self.data, self.log)
        cfg = self.cfg
        self.model = self._build_model(plan)
        self._freeze()
        opt_def, opt_args = cfg.optimizer
        self.optimizer = opt_def.build(self._param_groups(), opt_args)
        self.plan = StepPlan(self.data.sizes["train"], cfg.data.batch, cfg.accumulate, self.dist.rank,
                             self.dist.world)
        self.steps_per_epoch = self.plan.optimizer_steps
        self.scheduler = None
        if cfg.schedule:
            sched_def, sched_args = cfg.schedule
            self.scheduler = sched_def.build(self.optimizer, sched_args, cfg.epochs, self.steps_per_epoch)
        use_scaler = self.amp == torch.float16 and self.device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda") if use_scaler else None
        self.step_setup = self._step_setup()  # what each step uses; its model may be a torch.compile wrapper
        # after the presets (they set the cached loaders' memory format): this process's share of each batch
        self.data.loaders = self.dist.shard(self.data.loaders)
        self.history, self.start_epoch = [], 0
        self.monitors = Monitors(cfg, "val" in self.data.loaders, self.log)  # best.ckpt and early_stop
        self.saved_epoch = None  # the epoch last.ckpt holds, once this run has one
        self.train_time, self.train_samples = 0.0, 0
        if self.resumed is not None:
            self._restore(self.resumed)
        self.dist.seed_rank(cfg.seed)  # dropout and augmentation differ between processes

    def _build_data(self):
        measured, self.measured = self.measured, None  # the trainer owns the bundle now (its loaders are sharded)
        return load_data(self.cfg, measured, self.device, self.dist, self.resumed)

    def _build_model(self, plan) -> torch.nn.Module:
        """The torch model on this run's device: a train block's layer_init rule, word vectors and init
        included (a resumed run's weights already hold the last two)."""
        cfg = self.cfg
        model = build_model(with_layer_init(plan, cfg.layer_init))
        if self.resumed is None:
            for line in load_vectors(model, plan, self.data.vocab):
                self.log(line)
        model = self.dist.prepare_model(model, cfg.sync_batchnorm, self.device, cfg.locs.get("sync_batchnorm"))
        if cfg.init and self.resumed is None:
            self.log(init_weights(model, cfg.init, cfg.locs.get("init")))
        return model.to(self.device)

    def _step_setup(self) -> StepSetup:
        """The StepSetup of this run, built once: the loss entry decides the targets (loop.prepare_target),
        and its model is the built model or its torch.compile wrapper (train/presets.py)."""
        from .presets import apply_gpu_presets, compiled_model, wants_batch
        cfg = self.cfg
        loss_def, loss_args = cfg.loss
        per_step = self.scheduler if cfg.schedule and cfg.schedule[0].per_step else None
        setup = StepSetup(self.model, loss_def, loss_def.build(loss_args), self.device, amp_dtype=self.amp,
                          optimizer=self.optimizer, scaler=self.scaler, per_step_scheduler=per_step,
                          clip_norm=cfg.clip_grad_norm, clip_value=cfg.clip_grad_value, plan=self.plan,
                          reduce=self.dist.reduce_totals, objective=Objective(cfg.outputs) if cfg.outputs else None,
                          target_input=cfg.target == "input")
        presets = apply_gpu_presets(self.model, self.device, cfg.precision, self.data.loaders)
        self.log(self.data.path + (f"; GPU presets: {', '.join(presets)}" if presets else ""))
        with torch.random.fork_rng(devices=[]):
            batch = next(iter(self.data.loaders["train"])) if wants_batch(cfg.compile, self.device) else None
        if batch is not None:
            batch = tuple(move(t, self.device, False) for t in batch)
        if self.dist.active and cfg.compile != "off":  # DDP over a compiled module is not tried here
            self.log("compile: off with several processes (DistributedDataParallel trains the eager model)")
            return setup
        return replace(setup, model=compiled_model(setup, cfg.compile, batch, self.steps_per_epoch * cfg.epochs,
                                                   self.log))

    def _freeze(self) -> None:
        self.unfrozen: list = []
        freeze(self.model, self.cfg.freeze)

    def _frozen_leaves(self) -> list:
        return frozen_leaves(self.model, self.cfg.freeze, self.unfrozen)

    def _param_groups(self) -> list:
        return param_groups(self.model, self.cfg.optimizer[1].get("lr_for") or {}, self.cfg.locs.get("freeze"))

    def _apply_unfreezes(self, epoch_number: int) -> None:
        for label, params in unfreeze_due(self.model, self.cfg, self.optimizer, self.scheduler, self.unfrozen,
                                          epoch_number):
            self.log(f"epoch {epoch_number}: unfroze {label} ({sum(p.numel() for p in params):,} parameters)")

    def _restore(self, record: RunRecord) -> None:
        path, saved = os.path.join(self.out, "last.ckpt"), record.progress
        check_weights(self.model, saved.model, path)
        self.model.load_state_dict(saved.model)
        self._apply_unfreezes(saved.epoch)  # the optimizer had these groups when it was saved
        with restoring(path, "optimizer"):
            self.optimizer.load_state_dict(saved.optimizer)
        check_optimizer_state(self.optimizer, path)
        if self.scheduler is not None and saved.scheduler:
            with restoring(path, "scheduler"):
                self.scheduler.load_state_dict(saved.scheduler)
        if self.scaler is not None and saved.scaler:
            with restoring(path, "scaler"):
                self.scaler.load_state_dict(saved.scaler)
        self.history = list(saved.history)
        self.monitors.restore(saved)
        self.start_epoch = self.saved_epoch = saved.epoch
        self.train_time, self.train_samples = saved.train_time, saved.train_samples
        restore_rng(saved.rng, path)

    # ---- the run ----

    def run(self) -> Run:
        with stop_on_sigterm():  # outside the epochs too, so a SIGTERM still releases the lock
            if not self.dist.is_main:
                return self._run()  # rank 0 alone writes the run directory
            rundir.prepare(self.out)  # a read-only or impossible --out fails here, before any data is loaded
            lock = rundir.RunLock(self.out)
            lock.acquire()
            failed = True
            try:
                rundir.remove_leftovers(self.out)
                run = self._run()
                failed = run.interrupted
                return run
            finally:
                self.loggers.close(failed)
                lock.release()

    def _run(self) -> Run:
        self.started = time.perf_counter()
        self._setup()
        cfg = self.cfg
        if self.dist.is_main:
            rundir.write_spec_and_settings(self.out, self.spec.text, {**cfg.resolved(), "device": str(self.device),
                                                                      "overrides": self.overrides or {}})
            self.loggers = open_loggers(cfg.log, self.out, self._logger_resume(), self.log)  # rank 0 alone logs
            self.loggers.start(flat_hparams(cfg.resolved()))
        self.log(f"training {cfg.model} on {cfg.data.name} ({self.data.sizes.get('train', 0)} train / "
                 f"{self.data.sizes.get('val', 0)} val / {self.data.sizes.get('test', 0)} test samples) "
                 f"on {self.device}; run directory {self.out}")
        epoch, stopped = self.start_epoch, None
        try:
            for epoch in range(self.start_epoch, cfg.epochs):
                if self._epoch(epoch):
                    break
        except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM via stop_on_sigterm
            stopped = signal_name(exc)
        if stopped:
            self.log(interrupted_message(stopped, epoch + 1, self.saved_epoch, self.out))
            return Run(self.out, self.history[:self.saved_epoch or 0], {}, self.model, cfg, True,
                       EXIT_STATUS.get(stopped, 130), self.dist.rank)
        self._use_checkpoint()
        return Run(self.out, self.history, self._results(), self.model, cfg, rank=self.dist.rank)

    def _logger_resume(self):
        """Where a resumed run's loggers go on from (the same MLflow run and TensorBoard folder); None for a new run."""
        if self.resumed is None:
            return None
        return Resume(self.start_epoch, self.start_epoch * len(self.data.loaders["train"]), list(self.history),
                      self.resumed.progress.loggers or {})

    def _use_checkpoint(self) -> None:
        """Load the chosen weights (best.ckpt by default) for the test metrics and the returned model;
        rank 0 reads them (only it may see the run directory) and the other ranks take them from it."""
        used = None
        if self.dist.is_main:
            which, path = select_checkpoint(self.out, "last" if self.checkpoint == "last" else None)  # best, else last (warned)
            best = load_record(path).progress if which == "best" else None  # the model already holds the last epoch
            if best is not None:
                check_weights(self.model, best.model, path)
                self.model.load_state_dict(best.model)
            used = {"checkpoint": which, "checkpoint_epoch": best.epoch if best else self.saved_epoch}
        self.used = self.dist.broadcast_object(used)
        if self.used["checkpoint"] == "best":
            self.dist.broadcast_module(self.model)

    def _epoch(self, epoch: int) -> bool:
        """Train and validate one epoch, write checkpoints; True when early stopping fires."""
        cfg, loaders = self.cfg, self.data.loaders
        self._apply_unfreezes(epoch + 1)
        loaders["train"].set_epoch(epoch)
        metrics = self._fresh_metrics()
        lr = self.optimizer.param_groups[0]["lr"]  # logged: the rate of the epoch's first step, not the next epoch's
        progress = EpochProgress(epoch + 1, cfg.epochs, len(loaders["train"]), self.show_progress, self.loggers,
                                 lambda: self.optimizer.param_groups[0]["lr"])
        try:
            # the model inside DDP's wrapper when distributed
            setup = replace(self.step_setup, model=self.dist.wrap(self.step_setup.model))
            loss, values, samples, seconds = train_epoch(setup, loaders["train"], metrics, progress,
                                                         self._frozen_leaves())
        except NonFiniteLoss as bad:
            progress.close()
            raise self._non_finite(epoch + 1, bad.step) from None
        except Exception as exc:  # out of memory in backward or the optimizer step
            progress.close()
            if not is_out_of_memory(exc) or os.environ.get("DLSPEC_DEBUG"):
                raise
            raise out_of_memory(f"in epoch {epoch + 1}", cfg.data.batch, self.device,
                                cfg.data.loc) from None
        self.train_time += seconds
        self.train_samples += samples
        row = {"epoch": epoch + 1, "lr": lr, "loss": loss, **values}
        if "val" in loaders:
            val = evaluate(self.step_setup, loaders["val"], self._fresh_metrics())
            row.update({f"val_{k}": v for k, v in val.items()})
        row.update(self._test_curve(epoch))
        row["samples_per_second"] = samples / max(seconds, 1e-9)
        self.history.append(row)
        if self.scheduler is not None and self.step_setup.per_step_scheduler is None:
            self.scheduler.step(row.get(cfg.schedule[1]["monitor"], loss))
        self.log(rundir.epoch_line(row, cfg.epochs))  # before _track_best, which may announce an early stop
        stop = self._track_best(row, epoch)
        self._save("last.ckpt", epoch + 1)
        self.saved_epoch = epoch + 1
        self.loggers.epoch(epoch + 1, row)  # after the checkpoint: a resume never finds a later epoch logged
        if self.dist.is_main:
            rundir.write_metrics_csv(self.out, self.history)
        if self.on_epoch is not None:
            self.on_epoch(dict(row))
        return stop

    def _test_curve(self, epoch: int) -> dict:
        """`test_every N`: test_* columns every N epochs and at the last, for a curve; no monitor may name them,
        so they never pick best.ckpt or stop training (the final test metrics still use the chosen weights)."""
        every = self.cfg.test_every
        if not every or ((epoch + 1) % every and epoch + 1 != self.cfg.epochs):
            return {}
        if "test" not in self.data.loaders:
            if epoch + 1 == every:
                self.log(f"test_every {every}: data {self.cfg.data.name} has no test split, so no test_* columns")
            return {}
        return {f"test_{k}": v for k, v in evaluate(self.step_setup, self.data.loaders["test"],
                                                      self._fresh_metrics()).items()}

    def _non_finite(self, epoch: int, step: int) -> TrainError:
        """The NaN report; it mentions a checkpoint only when one exists."""
        if self.saved_epoch and os.path.exists(os.path.join(self.out, "last.ckpt")):
            kept = f"{self.out}/last.ckpt still holds epoch {self.saved_epoch}"
        else:
            kept = "no checkpoint was saved (no epoch had completed)"
        return TrainError(f"the loss became NaN or infinite at epoch {epoch}, step {step}; training stopped and "
                          f"{kept}", self.cfg.locs.get("optimizer", self.cfg.loc),
                          hint="lower the learning rate, add clip_grad_norm, or check the data for NaN, "
                               "infinite or huge values")

    def _fresh_metrics(self) -> dict:
        if self.cfg.outputs:
            return make_output_metrics(self.cfg.outputs, self.step_setup.objective, self.targets)
        return make_metrics(self.cfg.metrics, self.data.target_scale)

    def _track_best(self, row: dict, epoch: int) -> bool:
        """Save best.ckpt when the checkpoint monitor improves; True when early stopping fires."""
        if self.monitors.improved(row, epoch + 1):
            self._save("best.ckpt", epoch + 1)
        return self.monitors.should_stop(row, epoch + 1)

    def _save(self, name: str, epoch: int) -> None:
        if not self.dist.is_main:
            return
        spec_file = self.spec.filename
        record = RunRecord(
            SpecRecord(self.spec.text, spec_file if spec_file.startswith("<") else os.path.abspath(spec_file),
                       self.cfg.resolved(), dict(self.overrides or {}),
                       self._plugins(),  # code a later load of this run must be trusted to import
                       recorded_outputs(self.cfg, self.targets)),  # several outputs: names, tasks, classes
            DataRecord.of(self.data, self.data_fingerprint),  # predict, vector(auto), the data-changed warning
            ProgressRecord(
                self.model.state_dict(), self.optimizer.state_dict(), epoch, self.history, rng_state(),
                scheduler=self.scheduler.state_dict() if self.scheduler is not None else None,
                scaler=self.scaler.state_dict() if self.scaler is not None else None,
                **self.monitors.saved(), train_time=self.train_time, train_samples=self.train_samples,
                loggers=self.loggers.record()))  # e.g. the MLflow run id, so --resume goes on with that run
        save_checkpoint(os.path.join(self.out, name), record.to_state())

    def _plugins(self) -> dict:
        """The plugins recorded in the resumed checkpoint, and those this process loaded."""
        recorded, now = (self.resumed.spec.plugins if self.resumed else None) or {}, loaded_plugins()
        return {k: list(dict.fromkeys(list(recorded.get(k, [])) + v)) for k, v in now.items()}

    def _results(self) -> dict:
        test = {}
        if "test" in self.data.loaders:
            test = evaluate(self.step_setup, self.data.loaders["test"], self._fresh_metrics())
            scaled = {"loss": "loss (scaled units)"} if self.data.target_scale else {}  # metrics: original units
            self.log("test: " + ", ".join(f"{scaled.get(k, k)} {v:.4f}" for k, v in test.items()) +
                     f"  ({self.used['checkpoint']} weights, epoch {self.used['checkpoint_epoch']})")
        best = self.monitors.keeper.best
        best_row = next((r for r in self.history if best and r["epoch"] == best["epoch"]), None)
        results = {"final": self.history[-1] if self.history else None, "best": best_row,
                   "best_epoch": best["epoch"] if best else None,
                   "monitor": self.monitors.monitor, "test": test, **self.used,
                   "train_samples_per_second": self.train_samples / max(self.train_time, 1e-9),
                   "duration_seconds": time.perf_counter() - self.started}
        if not self.dist.is_main:
            return results
        rundir.write_results(self.out, results)
        self.loggers.end(results)
        rundir.write_metrics_csv(self.out, self.history)
        if self.history:
            rundir.plot_curves(self.out, self.history)
        return results
