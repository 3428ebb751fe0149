"""Best-value tracking: a monitored column, its direction and min_delta in; "did this epoch improve?" out.

A run keeps two trackers side by side (`Monitors`, an epoch's row in: "save best.ckpt?" and "stop now?"
out): one decides best.ckpt (`checkpoint monitor=`, else early_stop's monitor, else val_loss), the
other counts the epochs early_stop has waited without improvement on its own monitor.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ..errors import TrainError
from .metrics import higher_is_better


@dataclass
class Tracker:
    monitor: str
    higher: bool
    min_delta: float = 0.0
    best: Optional[dict] = None  # {"value", "epoch", "monitor"} of the best epoch so far

    @classmethod
    def of(cls, settings: dict) -> "Tracker":
        """From `monitor=`, `mode=auto|min|max` and `min_delta=` (auto: by the metric's direction)."""
        mode = settings.get("mode", "auto")
        higher = higher_is_better(settings["monitor"]) if mode == "auto" else mode == "max"
        return cls(settings["monitor"], higher, settings.get("min_delta") or 0.0)

    def update(self, value: float, epoch: int) -> bool:
        """Record `value` of `epoch`; True when it beats the best by more than min_delta (or is the first)."""
        if self.best is not None:
            best = self.best["value"]
            if not (value > best + self.min_delta if self.higher else value < best - self.min_delta):
                return False
        self.best = {"value": value, "epoch": epoch, "monitor": self.monitor}
        return True


class Monitors:
    """best.ckpt's tracker and early_stop's, with its patience, over a run's epoch rows."""

    def __init__(self, cfg, has_val: bool, log):
        self.cfg, self.log = cfg, log
        self.keeper = Tracker.of(cfg.best_by(has_val))  # decides best.ckpt
        self.stopper = Tracker.of(cfg.early_stop) if cfg.early_stop else None  # early_stop's own monitor
        self.bad_epochs = 0

    @property
    def monitor(self) -> str:
        return self.keeper.monitor

    def improved(self, row: dict, epoch: int) -> bool:
        """True when best.ckpt's monitor improves at `epoch` (counted from 1)."""
        return self.keeper.update(self._recorded(row, self.keeper.monitor), epoch)

    def should_stop(self, row: dict, epoch: int) -> bool:
        """True when early_stop's monitor has not improved for more than its patience (said in the log)."""
        if self.stopper is None:
            return False
        if self.stopper.update(self._recorded(row, self.stopper.monitor, "early_stop"), epoch):
            self.bad_epochs = 0
            return False
        self.bad_epochs += 1
        patience = self.cfg.early_stop["patience"]
        if self.bad_epochs > patience:
            best = self.stopper.best
            self.log(f"early stop: {self.stopper.monitor} has not improved for {patience} epochs "
                     f"(best {best['value']:.4f} at epoch {best['epoch']})")
            return True
        return False

    def restore(self, saved) -> None:
        """Go on from a checkpoint's ProgressRecord."""
        self.keeper.best, self.bad_epochs = saved.best, saved.bad_epochs
        if self.stopper is not None:
            self.stopper.best = saved.stop_best

    def saved(self) -> dict:
        """The ProgressRecord fields a checkpoint keeps of them."""
        return {"best": self.keeper.best, "stop_best": self.stopper.best if self.stopper is not None else None,
                "bad_epochs": self.bad_epochs}

    def _recorded(self, row: dict, monitor: str, key=None) -> float:
        """This epoch's value of `monitor`; compile refuses the others, so missing means an empty val split."""
        key = key or ("checkpoint" if self.cfg.checkpoint else "early_stop")
        if row.get(monitor) is None:
            raise TrainError(f"{key} monitors '{monitor}', but this run does not record it (the val split "
                             f"is empty)", self.cfg.locs.get(key) or self.cfg.loc)
        return row[monitor]
