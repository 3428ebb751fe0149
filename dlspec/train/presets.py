"""GPU presets and the `compile` train setting: a loop.StepSetup (the built model, the device, the
loss) and one real batch in, the module the training step calls out (the model itself, or
torch.compile's wrapper of it).

On CUDA with `precision auto`: TF32 matmuls and convolutions are allowed and
bf16 autocast is used where supported (train/loop.py's autocast_dtype);
a model with 2-D convolutions, and the batches the cached path serves, use
channels_last (also with bf16/fp16; `precision fp32` turns every preset
off); cuDNN picks its fastest kernels for the fixed batch shapes.
`compile on` wraps the model with torch.compile; `compile auto` does so only
when a short calibration on a real batch (CUDA only) shows at least 1.1x and
the compile time is under 5% of the planned run. A compile that fails falls
back to eager with a warning. The checkpointed model is always the plain one.
"""
from __future__ import annotations

import os
import time

import torch

from ..errors import warn

MIN_SPEEDUP = 1.1
MAX_COMPILE_SHARE = 0.05
CALIBRATION_STEPS = 5
CALIBRATED_ON = ("cuda",)  # `compile auto` calibrates on these device types; elsewhere it means off


def has_conv2d(model: torch.nn.Module) -> bool:
    return any(isinstance(m, torch.nn.Conv2d) for m in model.modules())


def apply_gpu_presets(model: torch.nn.Module, device: torch.device, precision: str, loaders: dict) -> list:
    """Set the CUDA presets for this run; returns what was turned on, for the fit header."""
    if device.type != "cuda" or precision == "fp32":  # fp32 asks for plain float32 throughout
        return []
    on = []
    torch.backends.cudnn.benchmark = True
    if precision == "auto":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        on.append("TF32")
        if torch.cuda.is_bf16_supported():
            on.append("bf16 autocast")
    if has_conv2d(model):
        model.to(memory_format=torch.channels_last)
        for loader in loaders.values():
            if hasattr(loader, "memory_format"):
                loader.memory_format = torch.channels_last
        on.append("channels_last")
    return on


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed_steps(module, x, y, setup, steps: int) -> float:
    """Seconds per forward+backward of `module` on (x, y), after the timing starts, with the loss and
    mixed precision of the training steps (a loop.StepSetup's loss_of and autocast)."""
    autocast = setup.autocast()
    _sync(setup.device)
    start = time.perf_counter()
    for _ in range(steps):
        with autocast:
            loss = setup.loss_of(module(**x) if isinstance(x, dict) else module(x), y)  # several inputs: by name
        loss.backward()
    _sync(setup.device)
    return (time.perf_counter() - start) / steps


class _Untouched:
    """Calibration steps leave no trace: weights, BatchNorm statistics, gradients and RNG are restored."""

    def __init__(self, model, device):
        self.model, self.device = model, device

    def __enter__(self):
        self.saved = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        self.rng = torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else [])
        self.rng.__enter__()

    def __exit__(self, *exc):
        self.rng.__exit__(*exc)
        self.model.load_state_dict(self.saved)
        self.model.zero_grad(set_to_none=True)
        return False


def wants_batch(setting: str, device: torch.device) -> bool:
    """Whether compiled_model will run steps (and so needs a real batch)."""
    return setting == "on" or (setting == "auto" and device.type in CALIBRATED_ON)


def compiled_model(setup, setting: str, batch, planned_steps: int, log=print):
    """The module to train with: `setup.model` (a loop.StepSetup's), or torch.compile of it when `setting`
    asks and it works; calibration steps compute the loss as the training steps do (setup.loss_of)."""
    model, device = setup.model, setup.device
    if not wants_batch(setting, device):
        return model
    x, y = batch
    model.train()
    with _Untouched(model, device):
        try:
            compiled = torch.compile(model)
            compile_seconds = _timed_steps(compiled, x, y, setup, 1)  # the first call compiles
            if setting == "on":
                log(f"compile: torch.compile took {compile_seconds:.1f} s")
                return compiled
            fast = _timed_steps(compiled, x, y, setup, CALIBRATION_STEPS)
            eager = _timed_steps(model, x, y, setup, CALIBRATION_STEPS)
        except Exception as exc:  # dynamo/inductor raise many kinds; eager still works
            if os.environ.get("DLSPEC_DEBUG"):
                raise
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            warn(f"compile {setting}: torch.compile failed ({type(exc).__name__}: {first}); training eagerly")
            return model
    speedup, share = eager / max(fast, 1e-12), compile_seconds / max(eager * planned_steps, 1e-12)
    use = speedup >= MIN_SPEEDUP and share <= MAX_COMPILE_SHARE
    log(f"compile auto: {speedup:.2f}x per step, compile {compile_seconds:.1f} s = {100 * share:.1f}% of the "
        f"planned run -> {'compiled' if use else 'eager'}")
    return compiled if use else model
