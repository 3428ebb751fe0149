"""Best-value tracking: a monitored column, its direction and min_delta in; "did this epoch improve?" out.

A run keeps two trackers side by side: one decides best.ckpt (`checkpoint
monitor=`, else early_stop's monitor, else val_loss), the other counts the
epochs early_stop has waited without improvement on its own monitor.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

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
