"""Benchmark: dlspec's per-step overhead where it shows, a tiny MLP on an in-memory table.

The model `linear(64) -> relu -> linear(10)` on a 40,000 x 64 table held in memory (36,000
training rows, batch 256, sgd(lr=0.05, momentum=0.9)): each step is a few tens of microseconds
of compute, so anything the trainer does per step beyond a hand-written loop shows in the rate.

The table reaches the spec through a registered data set whose samples are two tensors (`x`, `y`),
so the data block takes the cached route (dlspec.data.cache): its batches are sliced from one
in-memory tensor, as the hand loop's are.

Compared like with like, in one process:
- both time only the training pass of an epoch (dlspec's `samples_per_second` is
  train_epoch's window: reshuffle, steps, the epoch's loss and metric read; validation,
  checkpoints and logging are outside it). The hand loop's window includes its randperm too.
- each run's figure is the median of its epochs after the first (the first pays for
  allocation and warm-up); runs alternate (hand, dlspec, dlspec, hand, ...) after one
  warm-up round that is not counted; the ratio of each adjacent pair is kept and the
  median, quartiles and range of those ratios are printed.
- torch runs with `--threads` intra-op threads (1 by default): on a small, shared machine
  two threads on a 64-wide layer mostly wait for each other and for whatever else runs,
  which is where most of the spread came from (see the report with `--threads 2`).

    python bench/overhead_mlp.py [--rounds 6] [--epochs 4] [--threads 1] [--profile out.prof]

Lightning (a bare Trainer: no logger, no progress bar, no checkpointing) runs beside them when
`lightning` or `pytorch_lightning` is installed; otherwise a line says it was skipped.
"""
import argparse
import os
import statistics
import sys
import tempfile
import time

import torch

import dlspec

ROWS, FEATURES, CLASSES, BATCH = 40_000, 64, 10, 256

SPEC = """
model Mlp {
    input vector(64)
    linear(64) -> relu -> linear(10)
}
data table {
    source bench_overhead_table
    split train=0.9 val=0.1 seed=0
    batch 256
    cache auto
}
train {
    model Mlp
    data table
    optimizer sgd(lr=0.05, momentum=0.9)
    epochs EPOCHS
    device cpu
    seed 0
}
"""


class Table(torch.utils.data.Dataset):
    """40,000 rows of 64 features, ten classes from a fixed random linear rule (learnable)."""

    task = "classification"

    def __init__(self):
        g = torch.Generator().manual_seed(0)
        self.x = torch.randn(ROWS, FEATURES, generator=g)
        self.y = (self.x @ torch.randn(FEATURES, CLASSES, generator=g)).argmax(1)
        self.classes = [str(c) for c in range(CLASSES)]
        self.targets = self.y.tolist()

    def __len__(self):
        return ROWS

    def __getitem__(self, i):
        return self.x[i], self.y[i]


dlspec.dataset("bench_overhead_table")(Table)


def steady(rates: list) -> float:
    """A run's figure: the median epoch rate after the first epoch."""
    return statistics.median(rates[1:] or rates)


def hand_loop(model, x, y, epochs: int) -> list:
    """The loop a careful person writes by hand; samples/s of each epoch."""
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    loss_fn = torch.nn.CrossEntropyLoss()
    rates = []
    for _ in range(epochs):
        model.train()
        start = time.perf_counter()
        order = torch.randperm(len(x))
        for i in range(0, len(x), BATCH):
            idx = order[i:i + BATCH]
            xb, yb = x[idx], y[idx]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
        rates.append(len(x) / (time.perf_counter() - start))
    return rates


def dlspec_run(spec, epochs: int) -> list:
    with tempfile.TemporaryDirectory() as out:
        run = dlspec.fit(spec, out=os.path.join(out, "run"), log=lambda *a: None, progress=False)
    return [row["samples_per_second"] for row in run.history]


def lightning_run(model, x, y, epochs: int):
    """Samples/s of a bare Lightning Trainer on the same tensors, or None when Lightning is not installed."""
    try:
        import lightning as L
    except ImportError:
        try:
            import pytorch_lightning as L
        except ImportError:
            return None

    class Module(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.net, self.loss_fn = model, torch.nn.CrossEntropyLoss()

        def training_step(self, batch, _):
            xb, yb = batch
            return self.loss_fn(self.net(xb), yb)

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.05, momentum=0.9)

    class Timer(L.Callback):
        def __init__(self):
            self.rates, self.start = [], 0.0

        def on_train_epoch_start(self, *_):
            self.start = time.perf_counter()

        def on_train_epoch_end(self, *_):
            self.rates.append(len(x) / (time.perf_counter() - self.start))

    timer = Timer()
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=BATCH, shuffle=True)
    trainer = L.Trainer(max_epochs=epochs, accelerator="cpu", devices=1, logger=False, enable_progress_bar=False,
                        enable_checkpointing=False, enable_model_summary=False, callbacks=[timer])
    trainer.fit(Module(), loader)
    return steady(timer.rates)


def spread(ratios: list) -> str:
    q = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else [ratios[0]] * 3
    return (f"median {statistics.median(ratios):.3f}, quartiles {q[0]:.3f}-{q[2]:.3f}, "
            f"range {min(ratios):.3f}-{max(ratios):.3f} over {len(ratios)} pairs")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=6, help="alternating pairs counted (after one warm-up)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (0: leave torch's default)")
    parser.add_argument("--profile", help="cProfile one long dlspec run (20 epochs) into this file and stop")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    spec = dlspec.loads(SPEC.replace("EPOCHS", str(args.epochs)), "overhead_mlp.dlspec")
    if args.profile:
        import cProfile
        long = dlspec.loads(SPEC.replace("EPOCHS", "20"), "overhead_mlp.dlspec")
        cProfile.runctx("dlspec_run(long, 20)", globals(), {"long": long}, args.profile)
        return 0
    from dlspec.data.pipeline import build_data
    from dlspec.train.config import read_train
    loader = build_data(read_train(spec).data).loaders["train"]
    x, y = loader.x, loader.y

    def hand():
        torch.manual_seed(0)
        return steady(hand_loop(spec.build("Mlp"), x, y, args.epochs))

    def ours():
        return steady(dlspec_run(spec, args.epochs))

    hand(), ours()  # warm-up round, not counted
    ratios, hands, dls = [], [], []
    for r in range(args.rounds):
        if r % 2:
            b = ours()
            a = hand()
        else:
            a = hand()
            b = ours()
        hands.append(a)
        dls.append(b)
        ratios.append(b / a)
    print(f"MLP 64->64->10, {len(x)} training rows, batch {BATCH}, {args.epochs} epochs, cpu, "
          f"torch threads {torch.get_num_threads()}, load {os.getloadavg()[0]:.2f} (1-min average)")
    print(f"hand-written loop: {statistics.median(hands):,.0f} samples/s (median of {len(hands)} runs)")
    print(f"dlspec trainer:    {statistics.median(dls):,.0f} samples/s (median of {len(dls)} runs)")
    print(f"ratio dlspec/hand: {spread(ratios)} (target: median >= 0.95)")
    torch.manual_seed(0)
    light = lightning_run(spec.build("Mlp"), x, y, args.epochs)
    if light is None:
        print("lightning: skipped (neither lightning nor pytorch_lightning is installed)")
    else:
        print(f"lightning bare Trainer: {light:,.0f} samples/s, ratio to the hand loop "
              f"{light / statistics.median(hands):.3f} (one run)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
