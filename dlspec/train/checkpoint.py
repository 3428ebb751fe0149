"""Checkpoints: training state in, an atomically written file out, and back.

A checkpoint is a plain dict saved with torch.save: the state_dict (never a
pickled model), the spec text and path, resolved settings, optimizer /
scheduler / scaler states, the epoch, history and RNG states. It is read with
`weights_only=True`, so loading a checkpoint cannot run code.
"""
from __future__ import annotations

import os
import random

import torch

from ..errors import DlspecError


def rng_state() -> dict:
    state = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: str, payload: dict) -> None:
    """Write to a temporary file, then rename: a crash never leaves half a checkpoint."""
    tmp = f"{path}.tmp"
    torch.save(payload, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: str) -> dict:
    """Read a checkpoint safely (weights_only=True); a run directory means its last.ckpt."""
    if os.path.isdir(path):
        path = os.path.join(path, "last.ckpt")
    if not os.path.exists(path):
        raise DlspecError(f"checkpoint not found: {path}", hint="pass a run directory made by dlspec fit")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt or foreign file
        raise DlspecError(f"cannot read checkpoint {path}: {exc}") from None
