"""Benchmark: the bundled sentences (specs/sentiment_lstm.dlspec) through `dlspec.fit` against a hand-written
loop in the same process that pads each batch to its longest sentence and packs it, as a course does.

Both train the same architecture (embedding 64 with padding_idx 0 -> dropout 0.3 -> bidirectional LSTM 64 ->
max over the real steps -> dropout 0.5 -> linear 2) with Adam(lr=2e-3), batch 32, gradient norm clipped at 1,
on the same split and vocabulary (taken from dlspec's own data block), for the same epochs. The runs are
interleaved (dlspec, hand, dlspec, hand...) so a change in the machine's load hits both; each run's rate is
its best epoch after the first (training samples / the epoch's wall time), and the ratio is the median of
the rounds' ratios. Round r seeds both with r; test accuracy after the last epoch is printed for both
(mean and spread over the seeds).

    python bench/text_path.py [--rounds 5] [--epochs 5] [--threads 1]

Target: dlspec / hand >= 0.95 and the same test accuracy within noise (issue 27).
"""
import argparse
import os
import statistics
import sys
import tempfile
import time

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import dlspec

SPEC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "specs", "sentiment_lstm.dlspec")
BATCH, LR, CLIP = 32, 2e-3, 1.0


class HandLSTM(nn.Module):
    """The course's model: packed bidirectional LSTM, max over the real steps."""

    def __init__(self, vocab: int, width: int = 64):
        super().__init__()
        self.embed = nn.Embedding(vocab, width, padding_idx=0)
        self.drop_in, self.drop_out = nn.Dropout(0.3), nn.Dropout(0.5)
        self.lstm = nn.LSTM(width, width, batch_first=True, bidirectional=True)
        self.head = nn.Linear(2 * width, 2)

    def forward(self, ids, lengths):
        packed = pack_padded_sequence(self.drop_in(self.embed(ids)), lengths, batch_first=True,
                                      enforce_sorted=False)
        out, _ = pad_packed_sequence(self.lstm(packed)[0], batch_first=True, padding_value=float("-inf"))
        return self.head(self.drop_out(out.amax(1)))


def hand_batches(x, y, shuffle: bool):
    """Batches padded to their longest sentence, with each sentence's length (the course's collate)."""
    order = torch.randperm(len(x)) if shuffle else torch.arange(len(x))
    lengths = (x != 0).sum(1).clamp_min(1)
    for start in range(0, len(x), BATCH):
        idx = order[start:start + BATCH]
        n = lengths[idx]
        yield x[idx, :int(n.max())], n, y[idx]


def hand_run(vocab: int, train, test, epochs: int, seed: int) -> tuple:
    """(best samples/s after the first epoch, test accuracy) of the hand-written loop."""
    torch.manual_seed(seed)
    model = HandLSTM(vocab)
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    loss_fn = nn.CrossEntropyLoss()
    rates = []
    for _ in range(epochs):
        model.train()
        start = time.perf_counter()
        for xb, n, yb in hand_batches(*train, shuffle=True):
            loss = loss_fn(model(xb, n), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), CLIP)
            opt.step()
        rates.append(len(train[0]) / (time.perf_counter() - start))
    model.eval()
    with torch.no_grad():
        right = sum(int((model(xb, n).argmax(1) == yb).sum()) for xb, n, yb in hand_batches(*test, shuffle=False))
    return max(rates[1:] or rates), right / len(test[0])


def dlspec_run(seed: int, epochs: int) -> tuple:
    """(best samples/s after the first epoch, test accuracy, the data line of the fit header) of `dlspec.fit`
    on the spec, its train block seeded with `seed`."""
    with open(SPEC, encoding="utf-8") as f:
        spec = dlspec.loads(f.read().replace("    epochs 5", f"    epochs 5\n    seed {seed}"), SPEC)
    lines = []
    with tempfile.TemporaryDirectory() as out:
        run = dlspec.fit(spec, epochs=epochs, out=os.path.join(out, "run"), log=lines.append, progress=False,
                         checkpoint="last")
    rates = [r["samples_per_second"] for r in run.history]
    return max(rates[1:] or rates), run.results["test"]["accuracy"], next(l for l in lines if "token batches" in l)


def the_data(spec):
    """The train and test token ids and labels of the spec's data block, and the vocabulary size."""
    from dlspec.data.pipeline import build_data
    from dlspec.train.config import read_train
    bundle = build_data(read_train(spec).data)

    def tensors(loader):
        return loader.x, loader.y
    return tensors(bundle.loaders["train"]), tensors(bundle.loaders["test"]), len(bundle.vocab)


def _spread(values: list) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.3f} +- {sd:.3f} (seeds {', '.join(f'{v:.3f}' for v in values)})"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=5, help="the spec's own 5 by default")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    train, test, vocab = the_data(dlspec.load(SPEC))
    ours, theirs, ours_acc, theirs_acc = [], [], [], []
    for seed in range(args.rounds):  # a seed per round: the accuracies' spread is the noise they differ within
        rate, acc, route = dlspec_run(seed, args.epochs)
        ours.append(rate)
        ours_acc.append(acc)
        rate, acc = hand_run(vocab, train, test, args.epochs, seed)
        theirs.append(rate)
        theirs_acc.append(acc)
    ratios = sorted(o / t for o, t in zip(ours, theirs))
    print(f"cpu, torch threads {torch.get_num_threads()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}; "
          f"{len(train[0])} train / {len(test[0])} test sentences, batch {BATCH}, {args.epochs} epochs, "
          f"{args.rounds} rounds")
    print(route)
    print(f"hand-written loop: {statistics.median(theirs):,.0f} samples/s (median), test accuracy "
          f"{_spread(theirs_acc)}")
    print(f"dlspec fit:        {statistics.median(ours):,.0f} samples/s (median), test accuracy "
          f"{_spread(ours_acc)}")
    print(f"ratio:             median {statistics.median(ratios):.3f}, range {ratios[0]:.3f}-{ratios[-1]:.3f} "
          "(target >= 0.95)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
