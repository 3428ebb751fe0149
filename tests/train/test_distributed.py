"""Distributed training on the CPU with gloo: sharding arithmetic, metric sums over ranks, and real
2-process jobs (fit --nproc 2, a failing worker, two torchrun "nodes") compared with one process."""
import os
import socket
import subprocess
import sys
import time

import pytest
import torch
from click.testing import CliRunner

import dlspec
from dlspec.api import compile_spec
from dlspec.cli import main
from dlspec.errors import DlspecError, DlspecWarning, TrainError
from dlspec.train.checkpoint import load_checkpoint
from dlspec.train.parallel.distributed import Dist, load_metric_state, metric_state
from dlspec.train.metrics import check_metrics, make_metrics
from dlspec.train.parallel.sharding import StepPlan, global_batch_sizes, rank_slice, shard

SPEC = """model Net {
    input image(1, 8, 8)
    flatten
    LAYERS
    linear(32) -> relu
    linear(10)
}
data digits {
    source sklearn_digits
    split train=0.6 val=0.2 test=0.2 seed=0
    batch BATCH
}
train {
    optimizer sgd(lr=0.1, momentum=0.9)
    epochs 2
    metrics accuracy, f1
    device cpu
    seed 1
    SETTINGS
}
"""
# 1078 training samples: batch 48 leaves an uneven last batch of 22 (11 per rank), accumulate 2 x 24 too

BOMB = '''import os
import torch
import dlspec

@dlspec.layer("rank_bomb")
class RankBomb(torch.nn.Module):
    """Raises in training on rank 1, at its third batch."""
    def __init__(self, in_features: int):
        super().__init__()
        self.calls = 0
    def forward(self, x):
        self.calls += 1
        if self.training and os.environ.get("RANK") == "1" and self.calls == 3:
            raise RuntimeError("boom on purpose")
        return x
    def output_shape(self, input_shape):
        return tuple(input_shape)
'''


def write(tmp_path, batch=48, settings="", layers="", name="net.dlspec", head=""):
    path = tmp_path / name
    path.write_text(head + SPEC.replace("BATCH", str(batch)).replace("SETTINGS", settings).replace("LAYERS", layers))
    return path


def quiet(*args):
    pass


def max_difference(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k].float() - b[k].float()).abs().max()) for k in a)


def run_cli(args, cwd, timeout=240, env=None):
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "dlspec", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})
    return done, time.monotonic() - start


# ---- the arithmetic, in one process ----

@pytest.mark.parametrize("size,world", [(48, 2), (22, 2), (1, 2), (7, 3), (5, 8)])
def test_rank_slices_cover_a_batch_once_and_evenly(size, world):
    parts = [rank_slice(size, r, world) for r in range(world)]
    assert [i for p in parts for i in p] == list(range(size))
    assert max(map(len, parts)) - min(map(len, parts)) <= 1


def test_step_plan_weights_give_the_global_mean():
    """DDP averages over ranks and each loss is a mean over its micro-batch, so a sample's share of the
    step is weight / (world x count): it must be 1 / (the step's global sample count) for every sample."""
    sizes = global_batch_sizes(1078, 24)
    assert sum(sizes) == 1078 and sizes[-1] == 22
    for world, accumulate in ((1, 4), (2, 1), (2, 2), (4, 3)):
        plans = [StepPlan(1078, 24, accumulate, r, world) for r in range(world)]
        assert plans[0].optimizer_steps == -(-len(sizes) // accumulate)
        start = 0
        for end in [i for i, m in enumerate(plans[0].micros) if m.steps]:
            total = sum(sizes[start:end + 1])
            micros = [p[i] for p in plans for i in range(start, end + 1)]
            assert sum(m.count for m in micros) == total
            for m in micros:
                assert m.weight == (pytest.approx(world * m.count / total) if m.count else 0)
            start = end + 1
        assert start == len(sizes)


def test_shards_of_a_dataloader_and_of_any_iterable_rebuild_each_global_batch():
    data = torch.utils.data.TensorDataset(torch.arange(51.0), torch.arange(51))  # a last batch of 3
    loader = torch.utils.data.DataLoader(data, batch_size=8, shuffle=True, generator=torch.Generator().manual_seed(3))
    loader.generator.manual_seed(3)
    whole = [y.tolist() for _, y in loader]
    dl_parts = [shard(loader, r, 3, keep_empty=False) for r in range(3)]
    iterables = [shard([(torch.tensor(b, dtype=torch.float), torch.tensor(b)) for b in whole], r, 3, False)
                 for r in range(3)]
    for parts in (dl_parts, iterables):
        rebuilt = []
        for r, part in enumerate(parts):
            loader.generator.manual_seed(3)  # every rank draws the same order
            rebuilt.append([y.tolist() for _, y in part])
        assert [sum((rebuilt[r][i] for r in range(3)), []) for i in range(len(whole))] == whole
    # a last global batch of 2: the third rank gets a (weight 0) stand-in only while training
    short = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.arange(50.0), torch.arange(50)),
                                        batch_size=8)
    assert len(list(shard(short, 2, 3, keep_empty=True))) == 7
    assert len(list(shard(short, 2, 3, keep_empty=False))) == 6
    assert len(list(shard(list(short), 2, 3, keep_empty=True))) == 7
    assert len(list(shard(list(short), 2, 3, keep_empty=False))) == 6


def test_metric_states_summed_over_ranks_equal_one_pass():
    """f1 from the summed confusion matrix (not a mean of per-rank f1), accuracy from summed counts."""
    torch.manual_seed(0)
    out, y = torch.randn(90, 4), torch.randint(0, 4, (90,))
    checked = check_metrics([_step(n) for n in ("accuracy", "f1")])
    whole = make_metrics(checked)
    for m in whole.values():
        m.update(out, y)
    ranks = [make_metrics(checked) for _ in range(3)]
    for r, metrics in enumerate(ranks):
        for m in metrics.values():
            if r < 2:  # the third rank saw nothing (a short validation split)
                m.update(out[r * 45:(r + 1) * 45], y[r * 45:(r + 1) * 45])
    for name in whole:
        states = [metric_state(metrics[name]) for metrics in ranks]
        load_metric_state(ranks[2][name], states, torch.device("cpu"))
        assert ranks[2][name].compute() == pytest.approx(whole[name].compute(), abs=1e-12)


def _step(name):
    from dlspec.errors import Loc
    from dlspec.schema.settings import Step
    return Step(name, (), {}, Loc("<test>", 1, 1))


def test_one_process_dist_is_a_no_op():
    dist = Dist()
    model = torch.nn.Linear(2, 2)
    assert dist.is_main and not dist.active and dist.wrap(model) is model
    total, samples = dist.reduce_totals(torch.tensor(3.0), 4, {})
    assert float(total) == 3.0 and samples == 4


# ---- accumulation, one process ----

def test_accumulate_equals_the_big_batch(tmp_path):
    big = dlspec.fit(write(tmp_path, 48, name="big.dlspec"), out=str(tmp_path / "big"), log=quiet, epochs=1)
    small = dlspec.fit(write(tmp_path, 12, "accumulate 4", name="small.dlspec"), out=str(tmp_path / "small"),
                       log=quiet, epochs=1)
    assert max_difference(big.model.state_dict(), small.model.state_dict()) < 1e-5
    assert small.history[-1]["val_loss"] == pytest.approx(big.history[-1]["val_loss"], rel=1e-5)


# ---- real jobs with 2 processes ----

@pytest.fixture(scope="module")
def job(tmp_path_factory):
    """One `python -m dlspec fit --nproc 2` run (batch 24 x accumulate 2 per step) and its one-process twin
    (batch 48): the same samples in every optimizer step."""
    tmp = tmp_path_factory.mktemp("job")
    spec = write(tmp, 24, "accumulate 2", name="two.dlspec")
    done, seconds = run_cli(["fit", str(spec), "--nproc", "2", "--out", str(tmp / "two")], tmp)
    assert done.returncode == 0, done.stderr
    one = dlspec.fit(write(tmp, 48, name="one.dlspec"), out=str(tmp / "one"), log=quiet)
    return {"tmp": tmp, "out": done.stdout, "err": done.stderr, "one": one, "seconds": seconds}


@pytest.mark.slow
def test_two_processes_end_with_the_weights_of_one(job):
    two = load_checkpoint(str(job["tmp"] / "two"))["model"]
    assert not any(k.startswith("module.") for k in two)  # the unwrapped model, as one process saves it
    assert max_difference(job["one"].model.state_dict(), two) < 1e-5


@pytest.mark.slow
def test_two_processes_report_the_metrics_of_one_once(job):
    import json
    results = json.loads((job["tmp"] / "two" / "results.json").read_text())
    one = job["one"].results
    for key in ("val_loss", "val_accuracy", "val_f1", "loss", "accuracy"):
        assert results["final"][key] == pytest.approx(one["final"][key], rel=1e-5), key
    for key in ("loss", "accuracy", "f1"):
        assert results["test"][key] == pytest.approx(one["test"][key], rel=1e-5), key
    lines = job["out"].splitlines()
    for start in ("training Net", "epoch 1/2", "epoch 2/2", "test:", "run directory:"):
        assert sum(line.startswith(start) for line in lines) == 1, (start, job["out"])
    assert "Traceback" not in job["err"]
    assert not (job["tmp"] / "two" / ".lock").exists()
    assert set(dlspec.evaluate(str(job["tmp"] / "two"))) == {"loss", "accuracy", "f1"}


@pytest.mark.slow
def test_a_two_process_run_resumes_with_one(job):
    """The 2-process run, resumed by 1 process for a third epoch, equals one process all along."""
    resumed = dlspec.fit(None, resume=str(job["tmp"] / "two"), epochs=3, log=quiet)
    straight = dlspec.fit(None, resume=str(job["tmp"] / "one"), epochs=3, log=quiet)
    assert [r["epoch"] for r in resumed.history] == [1, 2, 3]
    assert max_difference(resumed.model.state_dict(), straight.model.state_dict()) < 1e-5


@pytest.mark.slow
def test_a_failing_worker_ends_the_job_naming_its_rank(tmp_path):
    (tmp_path / "bomb.py").write_text(BOMB)
    spec = write(tmp_path, 48, layers="rank_bomb", head='use "bomb.py"\n')
    done, seconds = run_cli(["fit", str(spec), "--nproc", "2", "--out", str(tmp_path / "run")], tmp_path)
    assert done.returncode == 1, done.stderr
    assert done.stderr.count("boom on purpose") == 1, done.stderr
    assert "rank 1: layer rank_bomb" in done.stderr and "Traceback" not in done.stderr
    assert seconds < 180
    assert not (tmp_path / "run" / ".lock").exists()


@pytest.mark.slow
def test_two_torchrun_nodes_on_this_machine_finish_and_agree(tmp_path):
    spec = write(tmp_path, 48)
    port = _free_port()
    command = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc-per-node", "1",
               "--rdzv-backend", "c10d", "--rdzv-endpoint", f"127.0.0.1:{port}", "--rdzv-id", "dlspec-test",
               "-m", "dlspec", "fit", str(spec), "--epochs", "1", "--out", str(tmp_path / "run")]
    nodes = [subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outputs = [node.communicate(timeout=240) for node in nodes]
    assert [node.returncode for node in nodes] == [0, 0], outputs
    printed = "".join(out for out, _ in outputs)
    assert printed.count("epoch 1/1") == 1 and printed.count("run directory:") == 1
    one = dlspec.fit(write(tmp_path, 48, name="one.dlspec"), out=str(tmp_path / "one"), log=quiet, epochs=1)
    assert max_difference(one.model.state_dict(), load_checkpoint(str(tmp_path / "run"))["model"]) < 1e-5


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- bad input ----

def test_nproc_zero_is_refused(tmp_path):
    result = CliRunner().invoke(main, ["fit", str(write(tmp_path)), "--nproc", "0"])
    assert result.exit_code == 1
    assert "--nproc must be a whole number of processes, at least 1; received 0" in result.output


@pytest.mark.skipif(torch.cuda.device_count() >= 2, reason="this machine has the GPUs")
def test_more_processes_than_gpus_is_refused(tmp_path):
    with pytest.raises(TrainError, match=rf"--nproc 2 with device cuda needs 2 GPUs; this machine has "
                                         rf"{torch.cuda.device_count()}"):
        dlspec.fit(write(tmp_path), nproc=2, device="cuda", out=str(tmp_path / "run"), log=quiet)
    assert not (tmp_path / "run").exists()


def test_a_batch_the_processes_cannot_share_names_its_line(tmp_path):
    with pytest.raises(TrainError) as info:
        dlspec.fit(write(tmp_path, 47), nproc=2, out=str(tmp_path / "run"), log=quiet)
    assert "batch 47 is the global batch and cannot be shared evenly by 2 processes" in info.value.message
    assert info.value.line == SPEC.splitlines().index("    batch BATCH") + 1
    assert "batch 46" in info.value.hint


def test_accumulate_zero_is_refused_at_compile(tmp_path):
    with pytest.raises(DlspecError, match="accumulate") as info:
        compile_spec(write(tmp_path, settings="accumulate 0"))
    assert info.value.line == SPEC.splitlines().index("    SETTINGS") + 1


def test_sync_batchnorm_without_batchnorm_warns(tmp_path):
    with pytest.warns(DlspecWarning, match="sync_batchnorm true, but the model has no BatchNorm layer"):
        dlspec.fit(write(tmp_path, settings="sync_batchnorm true"), out=str(tmp_path / "run"), log=quiet,
                   epochs=1)


def test_sync_batchnorm_on_cpu_processes_is_refused():
    model = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.BatchNorm1d(3))
    with pytest.raises(TrainError, match="sync_batchnorm needs CUDA GPUs"):
        Dist(rank=0, world=2).prepare_model(model, True, torch.device("cpu"))


def test_an_unreachable_rendezvous_fails_in_bounded_time(tmp_path, monkeypatch):
    port = _free_port()
    for key, value in {"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1", "MASTER_ADDR": "127.0.0.1",
                       "MASTER_PORT": str(port), "DLSPEC_RENDEZVOUS_TIMEOUT": "2"}.items():
        monkeypatch.setenv(key, value)
    start = time.monotonic()
    with pytest.raises(TrainError, match=rf"rank 1 of 2 could not reach the rendezvous at 127.0.0.1:{port} "
                                         r"within 2 s"):
        dlspec.fit(write(tmp_path), out=str(tmp_path / "run"), log=quiet)
    assert time.monotonic() - start < 30


def test_nproc_inside_a_job_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    with pytest.raises(TrainError, match="inside a job that torchrun or srun already started"):
        dlspec.fit(write(tmp_path), nproc=2, log=quiet)
