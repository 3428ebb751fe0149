"""The process group: torchrun / srun / `fit --nproc` environment in, a `Dist` the trainer asks out.

`Dist` is what the trainer needs from torch.distributed, and nothing in one
process: `is_main` (rank 0 writes the run directory and prints), `wrap`
(SyncBatchNorm when asked, then DistributedDataParallel), `shard` (this
rank's part of each global batch, see sharding.py), `reduce_totals` (loss
sums, sample counts and metric states summed over ranks, so every sample is
counted once), `local_first` (downloads on one process per node),
`broadcast_module` and `barrier`.

A process joins a job when WORLD_SIZE > 1 is in its environment (torchrun,
srun, `fit --nproc`): RANK, LOCAL_RANK, WORLD_SIZE and MASTER_ADDR/PORT, or
SLURM's SLURM_PROCID / SLURM_LOCALID / SLURM_NTASKS. The backend is gloo on
the CPU and nccl for CUDA tensors. Waiting for the other processes is
bounded: DLSPEC_RENDEZVOUS_TIMEOUT seconds (default 300) to meet,
DLSPEC_COLLECTIVE_TIMEOUT (default 1800) for any later exchange.
"""
from __future__ import annotations

import contextlib
import os
import socket
from datetime import timedelta
from typing import Optional

import torch

from ...errors import DlspecError, TrainError, warn

PEER_GONE_EXIT = 3  # the exit status of a worker that stopped because another one failed (that one reports)
RENDEZVOUS_TIMEOUT = "DLSPEC_RENDEZVOUS_TIMEOUT"
COLLECTIVE_TIMEOUT = "DLSPEC_COLLECTIVE_TIMEOUT"


def _env_int(*names: str) -> Optional[int]:
    for name in names:
        value = os.environ.get(name)
        if value not in (None, "") and value.lstrip("-").isdigit():
            return int(value)
    return None


def job_environment() -> Optional[dict]:
    """rank, local_rank, world and restarts of the job this process belongs to; None when it is alone."""
    world = _env_int("WORLD_SIZE", "SLURM_NTASKS")
    if not world or world <= 1:
        return None
    rank = _env_int("RANK", "SLURM_PROCID")
    if rank is None:
        raise TrainError(f"WORLD_SIZE is {world} but neither RANK nor SLURM_PROCID says which process this is",
                         hint="launch with torchrun, srun or dlspec fit --nproc N")
    return {"rank": rank, "world": world, "local_rank": _env_int("LOCAL_RANK", "SLURM_LOCALID") or 0,
            "local_world": _env_int("LOCAL_WORLD_SIZE", "SLURM_NTASKS_PER_NODE") or 1,
            "restarts": _env_int("TORCHELASTIC_RESTART_COUNT") or 0}


def _seconds(name: str, default: int) -> int:
    value = _env_int(name)
    return value if value and value > 0 else default


class Dist:
    """One process's place in a job; every method is a no-op when the job is this process alone."""

    def __init__(self, rank: int = 0, world: int = 1, local_rank: int = 0, local_world: int = 1,
                 restarts: int = 0):
        self.rank, self.world, self.local_rank, self.local_world = rank, world, local_rank, local_world
        self.restarts = restarts
        self._wrapped, self._wrapped_key = None, None
        self._owns_group = False  # a group the caller set up is left for the caller to end

    @property
    def active(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    # ---- joining and leaving ----

    @classmethod
    def join(cls) -> "Dist":
        """This process's job from the environment; the process group is set up when there is one."""
        env = job_environment()
        if env is None:
            return cls()
        import torch.distributed as td
        me = cls(**env)
        if not td.is_initialized():
            me._init_process_group()
            me._owns_group = True
        return me

    def _init_process_group(self) -> None:
        import torch.distributed as td
        os.environ.setdefault("MASTER_ADDR", os.environ.get("SLURM_LAUNCH_NODE_IPADDR", "127.0.0.1"))
        os.environ.setdefault("MASTER_PORT", "29500")
        where = f"{os.environ['MASTER_ADDR']}:{os.environ['MASTER_PORT']}"
        meet = _seconds(RENDEZVOUS_TIMEOUT, 300)
        try:
            with _native_stderr_muted():
                store, _, _ = next(td.rendezvous("env://", self.rank, self.world, timeout=timedelta(seconds=meet)))
        except (RuntimeError, ValueError, OSError, socket.error) as exc:
            first = (str(exc).strip().splitlines() or [""])[0]
            waited = (f"waited {meet} s for the {self.world - 1} other process(es) to join at {where}"
                      if self.rank == 0 else f"could not reach the rendezvous at {where} within {meet} s")
            raise TrainError(f"rank {self.rank} of {self.world} {waited} ({type(exc).__name__}: {first[:200]})",
                             hint=f"check MASTER_ADDR/MASTER_PORT (or torchrun --rdzv-endpoint) and that every "
                                  f"node starts; {RENDEZVOUS_TIMEOUT}=SECONDS changes the wait") from None
        exchange = timedelta(seconds=_seconds(COLLECTIVE_TIMEOUT, 1800))
        store.set_timeout(exchange)
        # torchrun keeps its store across --max-restarts: a fresh prefix per attempt, or the restarted
        # workers would read the addresses the failed ones left there and wait forever
        store = td.PrefixStore(f"dlspec/attempt_{self.restarts}", store)
        backend = "cpu:gloo,cuda:nccl" if torch.cuda.is_available() and td.is_nccl_available() else "gloo"
        td.init_process_group(backend, store=store, rank=self.rank, world_size=self.world, timeout=exchange)

    @contextlib.contextmanager
    def named_failures(self):
        """In a job, a user error names its rank; an exchange broken because another rank stopped ends
        this one quietly with PEER_GONE_EXIT, since that rank reports what happened."""
        if not self.active:
            yield
            return
        try:
            yield
        except DlspecError as exc:
            exc.message = f"rank {self.rank}: {exc.message}"
            exc.args = (exc.message,)
            raise
        except Exception as exc:
            if os.environ.get("DLSPEC_DEBUG") or not _peer_gone(exc):
                raise
            raise SystemExit(PEER_GONE_EXIT) from None

    def close(self) -> None:
        if self._owns_group:
            import torch.distributed as td
            if td.is_initialized():
                td.destroy_process_group()

    # ---- placement and the model ----

    def place(self, device: torch.device) -> torch.device:
        """`cuda` (or `device auto` on a GPU machine) becomes this process's GPU, cuda:LOCAL_RANK."""
        if not self.active or device.type != "cuda":
            return device
        if device.index is not None and device.index != self.local_rank:
            raise TrainError(f"device {device} names one GPU, but {self.world} processes train together",
                             hint="use device cuda (or auto): each process takes the GPU of its local rank")
        if self.local_rank >= torch.cuda.device_count():
            raise TrainError(f"local rank {self.local_rank} has no GPU: {torch.cuda.device_count()} GPU(s) here",
                             hint="start at most as many processes per node as it has GPUs")
        torch.cuda.set_device(self.local_rank)
        return torch.device("cuda", self.local_rank)

    def prepare_model(self, model: torch.nn.Module, sync_batchnorm: bool, device, loc=None) -> torch.nn.Module:
        """SyncBatchNorm when asked (a warning when the model has no BatchNorm), before the optimizer sees it.
        torch's SyncBatchNorm runs on GPUs only, so several CPU processes asking for it are refused."""
        if not sync_batchnorm:
            return model
        if not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules()):
            if self.is_main:
                warn("sync_batchnorm true, but the model has no BatchNorm layer: the setting changes nothing", loc)
            return model
        if self.active and device.type == "cpu":
            raise TrainError("sync_batchnorm needs CUDA GPUs: torch's SyncBatchNorm does not run on the CPU", loc,
                             hint="remove sync_batchnorm (each process then keeps its own BatchNorm statistics)")
        return torch.nn.SyncBatchNorm.convert_sync_batchnorm(model) if self.active else model

    def seed_rank(self, seed: int) -> None:
        """Ranks other than 0 draw their own random numbers (dropout, augmentation) once the model is
        built; rank 0 keeps the stream of a one-process run."""
        if self.rank > 0:
            torch.manual_seed(seed * 1_000_003 + self.rank)

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        """The module to train: DistributedDataParallel over `model`, rebuilt when the set of trainable
        parameters changes (an `unfreeze` epoch), since DDP fixes it when it is built."""
        if not self.active:
            return model
        key = tuple(id(p) for p in model.parameters() if p.requires_grad)
        if self._wrapped is None or key != self._wrapped_key:
            from torch.nn.parallel import DistributedDataParallel
            device = next(model.parameters()).device
            ids = [device.index] if device.type == "cuda" else None
            self._wrapped = DistributedDataParallel(model, device_ids=ids)
            self._wrapped_key = key
        return self._wrapped

    def broadcast_module(self, model: torch.nn.Module) -> None:
        """Every rank takes rank 0's weights (e.g. the best epoch, which only rank 0 reads from disk)."""
        if self.active:
            import torch.distributed as td
            for tensor in model.state_dict().values():
                td.broadcast(tensor, 0)

    def broadcast_object(self, value):
        """Rank 0's value on every rank (a checkpoint read from a disk only rank 0 may see)."""
        import torch.distributed as td
        if not self.active or not td.is_initialized():  # alone, or the launching process
            return value
        box = [value if self.is_main else None]
        td.broadcast_object_list(box, 0)
        return box[0]

    # ---- data ----

    def shard(self, loaders: dict) -> dict:
        """Each split's loader cut to this rank's share of every global batch (see sharding.py)."""
        from .sharding import shard
        return {name: shard(loader, self.rank, self.world, keep_empty=name == "train")
                for name, loader in loaders.items()}

    def check_batch(self, spec, cfg) -> None:
        """The global batch must split evenly over the processes; the error names the spec line."""
        batch = cfg.data.batch
        if self.world > 1 and batch % self.world:
            loc = _setting_loc(spec, cfg, "batch")
            raise TrainError(f"batch {batch} is the global batch and cannot be shared evenly by {self.world} "
                             f"processes", loc, hint=f"use a multiple of {self.world}, e.g. batch "
                                                     f"{max(self.world, batch - batch % self.world)}")

    @contextlib.contextmanager
    def local_first(self):
        """Local rank 0 of each node goes first (downloads, caches); the others wait at a barrier."""
        if self.active and self.local_rank != 0:
            self.barrier()
        yield
        if self.active and self.local_rank == 0:
            self.barrier()

    def barrier(self) -> None:
        if self.active:
            import torch.distributed as td
            td.barrier()

    # ---- sums over ranks ----

    def reduce_totals(self, loss_sum: torch.Tensor, samples: int, metrics: dict):
        """(loss sum, sample count) over every rank, with each metric's state summed in place: the
        numbers one process would compute over all samples (f1 from the summed confusion matrix)."""
        if not self.active:
            return loss_sum, samples
        import torch.distributed as td
        mine = {"loss": loss_sum.detach().cpu(), "samples": samples,
                "metrics": {k: metric_state(m) for k, m in metrics.items()}}
        everyone = [None] * self.world
        td.all_gather_object(everyone, mine)
        for name, metric in metrics.items():
            load_metric_state(metric, [e["metrics"][name] for e in everyone], loss_sum.device)
        total = sum(e["loss"] for e in everyone)
        return total.to(loss_sum.device), sum(e["samples"] for e in everyone)


@contextlib.contextmanager
def _native_stderr_muted():
    """c10d logs every failed connection attempt with a C++ stack to stderr; the error we raise says it
    once (DLSPEC_DEBUG=1 keeps them)."""
    if os.environ.get("DLSPEC_DEBUG"):
        yield
        return
    import sys
    sys.stderr.flush()
    saved = os.dup(2)
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


_PEER_WORDS = ("connection closed by peer", "connection reset by peer", "broken pipe", "gloo", "nccl")


def _peer_gone(exc: BaseException) -> bool:
    """An exchange failed because another process is gone (it failed, or was stopped)."""
    import torch.distributed as td
    return isinstance(exc, getattr(td, "DistError", ())) or any(w in str(exc).lower() for w in _PEER_WORDS)


def _setting_loc(spec, cfg, key: str):
    """Where the data block sets `key` (its own line), else the data block."""
    decl = spec.program.data.get(cfg.data.name)
    for setting in getattr(decl, "settings", ()):
        if setting.key == key:
            return setting.loc
    return cfg.data.loc


def _inner(metric):
    """The accumulator itself, inside its wrappers (OriginalUnits, an output's OutputMetric)."""
    inner = getattr(metric, "metric", None)
    while inner is not None and hasattr(inner, "update"):
        metric, inner = inner, getattr(inner, "metric", None)
    return metric


_SUMS = ("total", "count", "matrix")  # what dlspec's own metrics accumulate (train/metrics.py)


def metric_state(metric) -> dict:
    """A metric's sums as CPU values (None while it has seen nothing): a dlspec metric's total, count and
    matrix; a plugin metric class's tensors, numbers and lists."""
    from ..metrics import Metric
    inner = _inner(metric)
    own = isinstance(inner, Metric)
    state = {}
    for key, value in vars(inner).items():
        if own and key not in _SUMS:
            continue
        if isinstance(value, torch.Tensor):
            state[key] = value.detach().cpu()
        elif value is None or isinstance(value, (int, float, list)) and not isinstance(value, bool):
            state[key] = value
    return state


def load_metric_state(metric, states: list, device) -> None:
    """Sum the ranks' states into `metric`: tensors and numbers added, lists joined, None skipped."""
    inner = _inner(metric)
    for key in states[0]:
        values = [s.get(key) for s in states if s.get(key) is not None]
        if not values:
            continue
        if isinstance(values[0], list):
            merged = [item for v in values for item in v]
        elif isinstance(values[0], torch.Tensor):
            merged = sum(v.to(values[0].dtype) for v in values[1:]) + values[0] if len(values) > 1 else values[0]
            merged = merged.to(device)
        else:
            merged = sum(values)
        setattr(inner, key, merged)
