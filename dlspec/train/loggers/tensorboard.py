"""TensorBoard logging: the trainer's numbers in, event files under RUN_DIR/tensorboard out.

Tags: `epoch/NAME` per epoch for every metrics.csv column (loss, val_loss,
metrics, lr, samples_per_second), `step/NAME` within an epoch (loss, lr,
samples_per_second; rate-limited by the trainer), and at the end the run's
hyperparameters with `hparam/best_MONITOR` and `hparam/test_METRIC`.
View with: tensorboard --logdir RUN_DIR/tensorboard

A resumed run writes into the same folder, and what the interrupted process
logged after its checkpoint is dropped from the event files (each rewritten
atomically, only if it holds such events): `epoch/` tags past the checkpoint's
epoch, `step/` tags past its global step (epoch x batches per epoch), and the
hparams of an earlier end. The new event file also starts with TensorBoard's
own purge (SummaryWriter purge_step) at that global step + 1, so a TensorBoard
already showing the folder hides those steps too. Epochs the folder lacks
(tensorboard added to `log` on resume) are written first from the history.
"""
from __future__ import annotations

import contextlib
import glob
import os

from . import epoch_scalars, final_scalars


class TensorBoardLogger:
    """Writes scalars and hparams with torch.utils.tensorboard.SummaryWriter."""

    name = "tensorboard"

    def __init__(self, out: str, args: dict, resume=None):
        from torch.utils.tensorboard import SummaryWriter
        self.dir = args["dir"] if os.path.isabs(args["dir"]) else os.path.join(out, args["dir"])
        self.every = args["every"]
        logged = drop_after_checkpoint(self.dir, resume) if resume is not None else set()
        purge = resume.global_step + 1 if resume is not None else None
        self.writer = SummaryWriter(log_dir=self.dir, purge_step=purge)
        self.hparams: dict = {}
        for row in (resume.history if resume is not None else []):
            if row["epoch"] not in logged:
                self.epoch(row["epoch"], row)

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
        metrics = {f"hparam/{k}": v for k, v in final_scalars(results).items()}
        if metrics:  # run_name "." keeps the hparams beside the scalars, not in a timestamped subfolder
            self.writer.add_hparams(self.hparams, metrics, run_name=".")

    def close(self, status: str = "FINISHED") -> None:
        self.writer.close()


def _stale(event, resume) -> bool:
    """Whether an event was logged after the checkpoint `resume` goes on from (or by an earlier end)."""
    for value in event.summary.value:
        family = value.tag.partition("/")[0]
        if (family == "epoch" and event.step > resume.epoch or family == "step" and event.step > resume.global_step
                or family in ("hparam", "_hparams_")):
            return True
    return False


def drop_after_checkpoint(folder: str, resume) -> set:
    """Rewrite the event files in `folder` without the events logged after the checkpoint; returns the
    epochs `epoch/loss` holds afterwards. A file that cannot be read is left alone (the purge hides it)."""
    from tensorboard.backend.event_processing.event_file_loader import RawEventFileLoader
    from tensorboard.compat.proto.event_pb2 import Event
    from tensorboard.summary.writer.record_writer import RecordWriter
    logged = set()
    for path in sorted(glob.glob(os.path.join(glob.escape(folder), "events.out.tfevents.*"))):
        try:
            records = [(raw, Event.FromString(raw)) for raw in RawEventFileLoader(path).Load()]
        except Exception:  # a damaged file: TensorBoard reads what it can of it, which may be any epoch
            logged.update(row["epoch"] for row in resume.history)
            continue
        kept = [(raw, event) for raw, event in records if not _stale(event, resume)]
        logged.update(e.step for _, e in kept if any(v.tag == "epoch/loss" for v in e.summary.value))
        if len(kept) == len(records):
            continue
        with contextlib.suppress(OSError):  # a read-only file stays; the purge hides its step/ events
            if all(e.WhichOneof("what") == "file_version" for _, e in kept):
                os.remove(path)  # nothing but the header is left
            else:
                _rewrite(path, [raw for raw, _ in kept], RecordWriter)
    return logged


def _rewrite(path: str, records: list, record_writer) -> None:
    tmp = f"{path}.tmp"
    try:
        with open(tmp, "wb") as f:
            writer = record_writer(f)
            for raw in records:
                writer.write(raw)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            os.remove(tmp)
