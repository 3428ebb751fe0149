"""The run directory: training history in, files a person can read out.

spec.dlspec (a copy), run.yaml (resolved settings), metrics.csv (a row per
epoch), results.json (final, best and test metrics, throughput) and
curves.png (loss and metrics per epoch). Each is serialised in memory and
written through safe_write.py: whole or not at all, and never through a
symbolic link planted in the folder.
"""
from __future__ import annotations

import contextlib
import csv
import glob
import io
import json
import math
import os
import socket
import time

import yaml

from ..errors import DlspecError
from .safe_write import make_folder, write_error, write_file, writing  # noqa: F401 - write_error, writing: API

LOCK = ".lock"


TIMESTAMP = "%Y%m%d-%H%M%S"


def default_run_dir(name: str, when: str = "") -> str:
    """runs/<name>-<timestamp>: the train block's name, or its model's when the block is unnamed; `when`
    stands in for the timestamp (explain shows `runs/NAME-<YYYYMMDD-HHMMSS>`: the time is fit's)."""
    return os.path.join("runs", f"{name}-{when or time.strftime(TIMESTAMP)}")


def prepare(out: str) -> None:
    """Create the run directory and check it can be written, before any training (the probe file
    is removed even when the disk is full)."""
    make_folder(out, out)


def remove_leftovers(out: str) -> None:
    """Remove *.tmp files that an earlier crash or full disk left behind (with the lock held,
    so never the file another fit is writing)."""
    for stale in glob.glob(os.path.join(glob.escape(out), "*.tmp")):
        with contextlib.suppress(OSError):
            os.remove(stale)


class RunLock:
    """`out/.lock` (PID and host) while a fit writes the run directory, so a second
    fit into it is refused; a lock whose process has died on this host is stale and taken over."""

    def __init__(self, out: str):
        self.path = os.path.join(out, LOCK)
        self.held = False

    def acquire(self) -> None:
        mine = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()})
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                self._refuse_unless_stale()
                continue
            with writing(self.path), os.fdopen(fd, "w") as f:
                f.write(mine)
            self.held = True
            return
        self._refuse_unless_stale()

    def _refuse_unless_stale(self) -> None:
        owner = _read_lock(self.path)
        if owner is not None and (owner.get("host") != socket.gethostname() or process_alive(owner.get("pid"))):
            since = owner.get("since")
            since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(since)) if isinstance(since, (int, float)) \
                else "an unknown time"
            raise DlspecError(f"{os.path.dirname(self.path)} is being written by another dlspec fit "
                              f"(process {owner.get('pid')} on {owner.get('host')}, since {since})",
                              hint=f"wait for it, or use another --out; if that process is gone, delete {self.path}")
        with contextlib.suppress(FileNotFoundError):
            os.remove(self.path)  # stale: its process has died

    def release(self) -> None:
        if self.held:
            with contextlib.suppress(OSError):
                os.remove(self.path)
            self.held = False


def _read_lock(path: str):
    if os.path.islink(path) or (os.path.exists(path) and not os.path.isfile(path)):
        return None  # not a lock dlspec wrote (a link could point at a device that never ends): stale
    try:
        with open(path, encoding="utf-8") as f:
            owner = json.load(f)
        return owner if isinstance(owner, dict) else None
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return None  # half-written or garbage: treated as stale


def process_alive(pid) -> bool:
    """Whether process `pid` runs on this host."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def write_spec_and_settings(out: str, spec_text: str, settings: dict) -> None:
    write_file(out, os.path.join(out, "spec.dlspec"), spec_text)
    write_file(out, os.path.join(out, "run.yaml"), yaml.safe_dump(settings, sort_keys=False))


def write_metrics_csv(out: str, history: list) -> None:
    if not history:
        return
    columns = list(dict.fromkeys(k for row in history for k in row))
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=columns)
    writer.writeheader()
    writer.writerows(history)
    write_file(out, os.path.join(out, "metrics.csv"), text.getvalue())


def write_results(out: str, results: dict) -> None:
    write_file(out, os.path.join(out, "results.json"), json.dumps(_finite(results), indent=2))


def _finite(value):
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def plot_curves(out: str, history: list) -> None:
    """curves.png: one panel for the losses, one per metric (train and val)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    keys = [k for k in history[0] if k not in ("epoch", "lr", "time", "samples_per_second") and not k.startswith("val_")]
    fig, axes = plt.subplots(1, len(keys), figsize=(4.5 * len(keys), 3.5), squeeze=False)
    epochs = [row["epoch"] for row in history]
    for ax, key in zip(axes[0], keys):
        for name in (key, f"val_{key}"):
            values = [row.get(name) for row in history]
            if any(v is not None for v in values):
                ax.plot(epochs, values, marker="o", label=name)
        ax.set_xlabel("epoch")
        ax.set_title(key)
        ax.legend()
    fig.tight_layout()
    image = io.BytesIO()
    fig.savefig(image, format="png", dpi=90)
    plt.close(fig)
    write_file(out, os.path.join(out, "curves.png"), image.getvalue())


def epoch_line(row: dict, epochs: int) -> str:
    """One epoch's console line: losses and metrics, then samples per second."""
    parts = [f"epoch {row['epoch']}/{epochs}"]
    for k, v in row.items():
        if k in ("epoch", "samples_per_second") or not isinstance(v, float):
            continue
        parts.append(f"{k} {v:.3g}" if k == "lr" else f"{k} {v:.4f}")
    parts.append(f"{row['samples_per_second']:,.0f} samples/s")
    return "  ".join(parts)
