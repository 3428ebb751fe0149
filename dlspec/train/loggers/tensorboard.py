"""TensorBoard logging: the trainer's numbers in, event files under RUN_DIR/tensorboard out.

Tags: `epoch/NAME` per epoch for every metrics.csv column (loss, val_loss,
metrics, lr, samples_per_second), `step/NAME` within an epoch (loss, lr,
samples_per_second; rate-limited by the trainer), and at the end the run's
hyperparameters with `hparam/best_MONITOR` and `hparam/test_METRIC`.
View with: tensorboard --logdir RUN_DIR/tensorboard
"""
from __future__ import annotations

import os

from . import epoch_scalars, final_scalars


class TensorBoardLogger:
    """Writes scalars and hparams with torch.utils.tensorboard.SummaryWriter."""

    def __init__(self, out: str, args: dict):
        from torch.utils.tensorboard import SummaryWriter
        self.dir = args["dir"] if os.path.isabs(args["dir"]) else os.path.join(out, args["dir"])
        self.every = args["every"]
        self.writer = SummaryWriter(log_dir=self.dir)
        self.hparams: dict = {}

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
