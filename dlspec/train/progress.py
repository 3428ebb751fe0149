"""Within an epoch: step counts in, a tqdm progress bar with ETA and rate-limited per-step logs out.

The training loop asks `due()` after every step (one clock read) and calls
`show(step, loss, samples)` only when it is due, so the loss is read from the
device (a host sync on a GPU) a few times a second at most, and not at all when
there is neither a terminal to draw on nor a logger to feed. The bar redraws
four times a second on a terminal; loggers get `step/loss`, `step/lr` and
`step/samples_per_second` at most once every `every` seconds.
"""
from __future__ import annotations

import sys
import time
from typing import Callable, Optional

BAR_EVERY = 0.25  # seconds between redraws of the bar


class EpochProgress:
    """The loop's progress hook for one epoch (train_epoch calls due, show and close)."""

    def __init__(self, epoch: int, epochs: int, steps: int, enabled: bool, loggers=None,
                 lr: Optional[Callable[[], float]] = None):
        self.epoch, self.epochs, self.steps = epoch, epochs, steps
        self.loggers, self.lr = loggers, lr
        self.bar = _bar(epoch, epochs, steps) if enabled and sys.stderr.isatty() else None
        self.log_every = loggers.step_every if loggers else None
        intervals = ([BAR_EVERY] if self.bar is not None else []) + ([self.log_every] if self.log_every is not None else [])
        self.every = min(intervals) if intervals else None
        self.start = self.last = self.last_log = time.perf_counter()

    def due(self) -> bool:
        return self.every is not None and time.perf_counter() - self.last > self.every

    def show(self, step: int, loss: float, samples: int) -> None:
        now = self.last = time.perf_counter()
        rate = samples / max(now - self.start, 1e-9)
        if self.bar is not None:
            self.bar.set_postfix_str(f"loss {loss:.4f}, {rate:,.0f} samples/s", refresh=False)
            self.bar.update(step - self.bar.n)
        if self.log_every is not None and now - self.last_log >= self.log_every:
            self.last_log = now
            scalars = {"loss": loss, "samples_per_second": rate}
            if self.lr is not None:
                scalars["lr"] = self.lr()
            self.loggers.step((self.epoch - 1) * self.steps + step, scalars)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _bar(epoch: int, epochs: int, steps: int):
    from tqdm import tqdm
    # leave=False: the epoch's summary line takes the bar's place when it ends
    return tqdm(total=steps, desc=f"epoch {epoch}/{epochs}", unit="batch", leave=False, file=sys.stderr,
                dynamic_ncols=True, mininterval=0)  # show() is rate-limited already
