"""The run directory: training history in, files a person can read out.

spec.dlspec (a copy), run.yaml (resolved settings), metrics.csv (a row per
epoch), results.json (final, best and test metrics, throughput) and
curves.png (loss and metrics per epoch).
"""
from __future__ import annotations

import csv
import json
import math
import os
import time

import yaml


def default_run_dir(name: str) -> str:
    """runs/<name>-<timestamp>: the train block's name, or its model's when the block is unnamed."""
    return os.path.join("runs", f"{name}-{time.strftime('%Y%m%d-%H%M%S')}")


def write_spec_and_settings(out: str, spec_text: str, settings: dict) -> None:
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "spec.dlspec"), "w", encoding="utf-8") as f:
        f.write(spec_text)
    with open(os.path.join(out, "run.yaml"), "w", encoding="utf-8") as f:
        yaml.safe_dump(settings, f, sort_keys=False)


def write_metrics_csv(out: str, history: list) -> None:
    if not history:
        return
    columns = list(dict.fromkeys(k for row in history for k in row))
    with open(os.path.join(out, "metrics.csv"), "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(history)


def write_results(out: str, results: dict) -> None:
    with open(os.path.join(out, "results.json"), "w", encoding="utf-8") as f:
        json.dump(_finite(results), f, indent=2)


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
    fig.savefig(os.path.join(out, "curves.png"), dpi=90)
    plt.close(fig)
