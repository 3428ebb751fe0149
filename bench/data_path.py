"""Benchmark: the cost of augmentation on the cached (batched) path and on the per-sample path, in one process.

Trains the small CNN of specs/digits.dlspec on sklearn digits three ways and
prints training samples/s and two ratios:

- augmented (random_crop(8, padding=1) -> rotate(10) -> flip(horizontal) -> noise(0.05), batched,
  `cache auto`: issue 27's steps and a flip) vs the same spec without augmentation   (goal: at least 0.85)
- the batched path vs the per-sample DataLoader path (`cache none`) on the
  same augmented spec                                        (goal: at least 2x)

Each configuration runs `--rounds` times, interleaved, and keeps its best
epoch after the first (other load on the machine only ever slows a run down);
the augmented/plain ratio is also given per round (median and range).

    python bench/data_path.py [--epochs N] [--rounds 3] [--device cpu] [--threads 1] [--issue]

--issue measures what issue 27 measured instead: two convs, batch 64, random_crop -> rotate -> noise
(12 epochs by default: each lasts about 40 ms on a CPU).

--threads sets torch's intra-op threads (1 by default, 0 leaves torch's default), as bench/fit_overhead.py
does: on a small machine shared with other work two threads mostly wait for each other (a conv backward
then takes ten times as long), which swamps what augmentation costs.
"""
import argparse
import os
import statistics
import sys
import tempfile

import torch

import dlspec

SPEC = """
model DigitsCNN {
    input image(1, 8, 8)
    conv(32, 3, padding=1) -> batchnorm -> relu
    conv(32, 3, padding=1) -> batchnorm -> relu -> maxpool(2)
    conv(64, 3, padding=1) -> batchnorm -> relu
    global_avgpool -> flatten
    dropout(0.2)
    linear(10)
}
data digits {
    source sklearn_digits
    split train=0.7 val=0.15 test=0.15 seed=0
    batch 32
    cache CACHE
    AUGMENT
}
train {
    model DigitsCNN
    data digits
    optimizer adamw(lr=3e-3, weight_decay=1e-4)
    epochs EPOCHS
    device DEVICE
    seed 0
}
"""
AUGMENT = "augment { random_crop(8, padding=1) -> rotate(10) -> flip(horizontal) -> noise(0.05) }"
CONFIGS = {"plain": ("auto", ""), "batched": ("auto", AUGMENT), "per-sample": ("none", AUGMENT)}

# --issue: what issue 27 measured (two convs, batch 64, random_crop -> rotate -> noise)
ISSUE_MODEL = """    conv(32, 3, padding=1) -> batchnorm -> relu
    conv(32, 3, padding=1) -> batchnorm -> relu -> maxpool(2)
    conv(64, 3, padding=1) -> batchnorm -> relu
"""
ISSUE_SPEC = SPEC.replace(ISSUE_MODEL, """    conv(16, 3, padding=1) -> relu -> maxpool(2)
    conv(32, 3, padding=1) -> relu
""").replace("batch 32", "batch 64")
ISSUE_AUGMENT = "augment { random_crop(8, padding=1) -> rotate(10) -> noise(0.05) }"


def rate(cache: str, augment: str, epochs: int, device: str, spec: str = SPEC) -> float:
    """Best training samples/s of one run, after its first epoch."""
    text = spec.replace("CACHE", cache).replace("AUGMENT", augment).replace("EPOCHS", str(epochs)) \
        .replace("DEVICE", device)
    with tempfile.TemporaryDirectory() as out:
        run = dlspec.fit(dlspec.loads(text, "data_path.dlspec"), out=os.path.join(out, "run"),
                         log=lambda *a: None, progress=False)
    rates = [row["samples_per_second"] for row in run.history]
    return max(rates[1:] or rates)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=None,
                        help="4; 12 with --issue, whose epochs last about 40 ms: a few epochs are mostly jitter")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (0: torch's default)")
    parser.add_argument("--issue", action="store_true",
                        help="issue 27's configuration: two convs, batch 64, random_crop -> rotate -> noise")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    spec, configs = SPEC, CONFIGS
    args.epochs = args.epochs or (12 if args.issue else 4)
    if args.issue:
        spec = ISSUE_SPEC
        configs = {name: (cache, ISSUE_AUGMENT if augment else "") for name, (cache, augment) in CONFIGS.items()}
    assert spec.count("conv(") == (2 if args.issue else 3)
    best = {name: 0.0 for name in CONFIGS}
    rounds = []
    for _ in range(args.rounds):
        this = {name: rate(cache, augment, args.epochs, args.device, spec) for name, (cache, augment) in configs.items()}
        rounds.append(this["batched"] / this["plain"])
        best = {name: max(best[name], this[name]) for name in CONFIGS}
    for name, value in best.items():
        print(f"{name:>10}: {value:8,.0f} samples/s")
    print(f"augmented (batched) / no augmentation: {best['batched'] / best['plain']:.2f} (goal >= 0.85); per round: "
          f"median {statistics.median(rounds):.2f}, range {min(rounds):.2f}-{max(rounds):.2f}, load "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores, torch threads {torch.get_num_threads()}")
    print(f"batched / per-sample, same augmented spec: {best['batched'] / best['per-sample']:.2f}x (goal >= 2)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
