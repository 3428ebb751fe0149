"""Benchmark: dlspec's trainer against a hand-written PyTorch loop, same process.

Both train the same model (built from the same spec) on the same in-memory
data (sklearn digits, upsampled to make the steps less tiny) with the same
batch size and optimizer. Prints samples/s of each and their ratio
(target: at least 0.97 on CPU).

    python bench/fit_overhead.py [--device cpu|cuda] [--precision fp32|bf16] [--epochs 3] [--progress] [--threads 1]

--threads sets torch's intra-op threads (1 by default, 0 leaves torch's default): on a small
machine shared with other work, two threads mostly wait for each other, and the ratio of two
runs then swings far more than either loop differs (see bench/overhead_mlp.py).

--progress draws the trainer's progress bar (it draws only on a terminal: run it
under `script -qc "..." /dev/null` when stderr is not one) to measure what the bar costs.
"""
import argparse
import os
import statistics
import sys
import tempfile
import time

import torch

import dlspec

SPEC = """
model Net {
    input image(1, 16, 16)
    conv(32, 3, padding=1) -> batchnorm -> relu -> maxpool(2)
    conv(64, 3, padding=1) -> batchnorm -> relu -> maxpool(2)
    flatten -> linear(128) -> relu -> linear(10)
}
data digits {
    source sklearn_digits
    split train=1.0 seed=0
    batch 128
    transform { resize(16) }
}
train {
    model Net
    data digits
    optimizer sgd(lr=0.05, momentum=0.9)
    epochs EPOCHS
    device DEVICE
    precision PRECISION
    seed 0
}
"""


def hand_written(model, x, y, epochs, device, amp_dtype):
    """The loop a careful person writes by hand."""
    model = model.to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    loss_fn = torch.nn.CrossEntropyLoss()
    rates = []
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(x))
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for i in range(0, len(x), 128):
            idx = order[i:i + 128]
            xb, yb = x[idx].to(device, non_blocking=True), y[idx].to(device, non_blocking=True)
            with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
                loss = loss_fn(model(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        rates.append(len(x) / (time.perf_counter() - start))
    return max(rates[1:] or rates)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--progress", action="store_true", help="draw the progress bar (on a terminal)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    text = (SPEC.replace("EPOCHS", str(args.epochs)).replace("DEVICE", args.device)
            .replace("PRECISION", args.precision))
    spec = dlspec.loads(text, "bench.dlspec")
    from dlspec.data.pipeline import build_data
    from dlspec.train.config import read_train
    from dlspec.train.loop import autocast_dtype
    device = torch.device(args.device)
    loader = build_data(read_train(spec).data).loaders["train"]
    x, y = loader.x, loader.y
    amp = autocast_dtype(args.precision, device)
    ours, theirs = [], []
    for _ in range(args.rounds):
        torch.manual_seed(0)
        theirs.append(hand_written(spec.build("Net"), x, y, args.epochs, device, amp))
        with tempfile.TemporaryDirectory() as out:
            run = dlspec.fit(spec, out=os.path.join(out, "run"), log=lambda *a: None,
                             progress=args.progress)
        rates = [r["samples_per_second"] for r in run.history]
        ours.append(max(rates[1:] or rates))
    a, b = max(ours), max(theirs)
    bar = "on" if args.progress and sys.stderr.isatty() else "off"
    print(f"device {args.device}, precision {args.precision}, {len(x)} samples/epoch, batch 128, progress bar {bar}, "
          f"torch threads {torch.get_num_threads()}, load {os.getloadavg()[0]:.2f}")
    print(f"hand-written loop: {b:,.0f} samples/s")
    print(f"dlspec trainer:    {a:,.0f} samples/s")
    print(f"ratio:             {a / b:.3f} (target >= 0.97)")
    pairs = sorted(o / t for o, t in zip(ours, theirs))  # each round's pair ran back to back
    print(f"per-round ratios:  median {statistics.median(pairs):.3f}, range {pairs[0]:.3f}-{pairs[-1]:.3f} "
          f"over {len(pairs)} rounds")
    return 0


if __name__ == "__main__":
    sys.exit(main())
