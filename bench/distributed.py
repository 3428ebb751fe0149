"""Benchmark: one process against several, on the same spec and global batch.

On the CPU: 1 process with 2 threads against 2 processes (gloo) with 1 thread
each, on a compute-bound CNN. With several GPUs: 1 GPU against all of them
(nccl). Each run is a `dlspec fit` in its own process tree; the figure is the
trainer's own training throughput (samples/s over the training time, so
start-up and data loading are left out). Prints each and their ratio.

    python bench/distributed.py [--epochs 2] [--batch 128]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

SPEC = """
model Net {
    input image(1, 32, 32)
    conv(32, 3, padding=1) -> relu
    conv(64, 3, padding=1) -> relu -> maxpool(2)
    conv(64, 3, padding=1) -> relu -> maxpool(2)
    flatten -> linear(128) -> relu -> linear(10)
}
data digits {
    source sklearn_digits
    split train=1.0 seed=0
    batch BATCH
    transform { resize(32) }
}
train {
    optimizer sgd(lr=0.05, momentum=0.9)
    epochs EPOCHS
    device DEVICE
    precision fp32
    seed 0
}
"""


def throughput(spec_path: str, out: str, device: str, nproc: int, threads: int) -> float:
    """Training samples/s of one `dlspec fit` run (rank 0's figure for the whole job)."""
    command = [sys.executable, "-m", "dlspec", "fit", spec_path, "--device", device, "--out", out]
    if nproc > 1:
        command += ["--nproc", str(nproc)]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
    with open(os.path.join(out, "results.json"), encoding="utf-8") as f:
        return json.load(f)["train_samples_per_second"]


def compare(label: str, folder: str, spec_path: str, device: str, one: tuple, many: tuple) -> None:
    first = throughput(spec_path, os.path.join(folder, f"{label}-1"), device, *one)
    second = throughput(spec_path, os.path.join(folder, f"{label}-n"), device, *many)
    print(f"{label}: 1 process x {one[1]} thread(s) {first:,.0f} samples/s; {many[0]} processes x {many[1]} "
          f"thread(s) {second:,.0f} samples/s; ratio {second / first:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch", type=int, default=128)
    args = parser.parse_args()
    import torch
    with tempfile.TemporaryDirectory() as folder:
        def spec_for(device: str) -> str:
            path = os.path.join(folder, f"{device}.dlspec")
            with open(path, "w", encoding="utf-8") as f:
                f.write(SPEC.replace("BATCH", str(args.batch)).replace("EPOCHS", str(args.epochs))
                        .replace("DEVICE", device))
            return path
        compare("cpu", folder, spec_for("cpu"), "cpu", (1, 2), (2, 1))
        gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if gpus >= 2:
            compare("cuda", folder, spec_for("cuda"), "cuda", (1, 1), (gpus, 1))
        else:
            print(f"cuda: {gpus} GPU(s) here; 1 GPU against several needs at least 2")


if __name__ == "__main__":
    main()
