"""TensorBoard logging: the trainer's numbers in, event files under RUN_DIR/tensorboard out.

Tags: `epoch/NAME` per epoch for every metrics.csv column (loss, val_loss,
metrics, lr, samples_per_second), `step/NAME` within an epoch (loss, lr,
samples_per_second; rate-limited by the trainer), and at the end the run's
hyperparameters with `hparam/best_MONITOR` and `hparam/test_METRIC`.
View with: tensorboard --logdir RUN_DIR/tensorboard

A resumed run writes into the same folder, and what the interrupted process
logged after its checkpoint is dropped from the run's event files
(event_files.py; every file in a folder
inside the run directory, else only the files the checkpoint records as this
run's, so a folder shared with other runs keeps theirs): `epoch/` tags past the checkpoint's
epoch, `step/` tags past its global step (epoch x batches per epoch), and the
hparams of an earlier end. The new event file also starts with TensorBoard's
own purge (SummaryWriter purge_step) at that global step + 1, so a TensorBoard
already showing the folder hides those steps too. Epochs the folder lacks
(tensorboard added to `log` on resume) are written first from the history.
"""
from __future__ import annotations

import os

from . import epoch_scalars, final_scalars
from .event_files import drop_after_checkpoint, event_files


class TensorBoardLogger:
    """Writes scalars and hparams with torch.utils.tensorboard.SummaryWriter."""

    name = "tensorboard"

    def __init__(self, out: str, args: dict, resume=None):
        from torch.utils.tensorboard import SummaryWriter
        self.dir = args["dir"] if os.path.isabs(args["dir"]) else os.path.join(out, args["dir"])
        self.every = args["every"]
        recorded = [name for name in ((resume.records if resume else {}).get(self.name) or {}).get("files", [])
                    if os.path.exists(os.path.join(self.dir, name))]
        logged = set()
        if resume is not None:
            logged = drop_after_checkpoint(self.dir, resume, None if _inside(self.dir, out) else set(recorded))
        before = set(event_files(self.dir))
        self.writer = SummaryWriter(log_dir=self.dir, purge_step=resume.global_step + 1 if resume else None)
        self.files = recorded + sorted(set(event_files(self.dir)) - before)  # this run's, for record()
        self.hparams: dict = {}
        for row in (resume.history if resume is not None else []):
            if row["epoch"] not in logged:
                self.epoch(row["epoch"], row)

    def record(self) -> dict:
        return {"files": self.files}

    def start(self, hparams: dict) -> None:
        self.hparams = hparams

    def step(self, global_step: int, scalars: dict) -> None:
        for name, value in scalars.items():
            self.writer.add_scalar(f"step/{name}", value, global_step)

    def epoch(self, epoch: int, row: dict) -> None:
        for name, value in epoch_scalars(row).items():
            self.writer.add_scalar(f"epoch/{name}", value, epoch)
        self.writer.flush()  # a TensorBoard watching the folder sees each epoch as it ends

    def end(self, results: dict) -> None:
        from torch.utils.tensorboard.summary import hparams
        metrics = {f"hparam/{k}": v for k, v in final_scalars(results).items()}
        if metrics:  # what SummaryWriter.add_hparams writes, but into this run's own event file
            for summary in hparams(self.hparams, metrics):
                self.writer.file_writer.add_summary(summary)
            for name, value in metrics.items():
                self.writer.add_scalar(name, value)

    def close(self, status: str = "FINISHED") -> None:
        self.writer.close()


def _inside(folder: str, run_dir: str) -> bool:
    """Whether `folder` is the run directory's own (so every event file in it is this run's)."""
    folder, run_dir = os.path.abspath(folder), os.path.abspath(run_dir)
    try:
        return os.path.commonpath([folder, run_dir]) == run_dir
    except ValueError:  # on another drive
        return False
