"""Benchmark: `dlspec serve` requests per second on a digits run, against the exported TorchScript model.

Trains a small MLP on the 300 bundled MNIST digits (tests/helpers/served.py's spec), starts
`dlspec serve` in a subprocess, and for 1, 8 and 32 concurrent clients (threads, each with a
keep-alive connection, each request one uploaded PNG) counts answered requests per second,
with batching (--max-batch 32 --wait-ms 5) and without (--max-batch 1). The baseline is what a
script would do without a server: the exported model.pt called in a loop, one image at a time,
with the same decoding and preprocessing (runtime/preprocess.py's load_image) and without it.

    python bench/serve.py [--seconds 5] [--clients 1 8 32] [--hidden 64]
"""
import argparse
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import dlspec  # noqa: E402
from tests.helpers.served import digit_images, free_port, make_digit_run  # noqa: E402


def multipart(path):
    boundary = uuid.uuid4().hex
    with open(path, "rb") as f:
        data = f.read()
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"d.png\"\r\n"
            f"Content-Type: image/png\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def start_server(run, port, max_batch, wait_ms):
    process = subprocess.Popen([sys.executable, "-m", "dlspec", "serve", str(run), "--port", str(port),
                                "--max-batch", str(max_batch), "--wait-ms", str(wait_ms)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ,
                                                                                      "PYTHONPATH": ROOT})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/health")
            if connection.getresponse().status == 200:
                return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit(f"the server did not start: {process.stderr.read().decode()[-2000:]}")


def load(port, clients, seconds, bodies):
    """Requests per second answered by the server for `clients` concurrent clients."""
    counts, failures, stop = [0] * clients, [], time.monotonic() + seconds

    def client(index):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        body, kind = bodies[index % len(bodies)]
        while time.monotonic() < stop:
            connection.request("POST", "/predict", body=body, headers={"Content-Type": kind})
            response = connection.getresponse()
            answer = response.read()
            if response.status != 200:
                failures.append(answer)
                return
            counts[index] += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        raise SystemExit(f"a request failed: {failures[0][:300]}")
    return sum(counts) / (time.monotonic() - started)


def torchscript_loop(run, images, seconds):
    """(requests/s with decoding and preprocessing, model calls/s on a ready tensor) of model.pt in a loop."""
    import torch
    from dlspec.runs.loaded import LoadedRun
    from dlspec.runs.meta import run_meta
    from dlspec.runtime.preprocess import load_image
    path = dlspec.export(str(run), "torchscript")
    model = torch.jit.load(path).eval()
    meta = run_meta(LoadedRun(str(run)))
    rates = []
    for with_preprocessing in (True, False):
        x, count, stop = load_image(str(images[0]), meta).unsqueeze(0), 0, time.monotonic() + seconds
        started = time.monotonic()
        with torch.no_grad():
            while time.monotonic() < stop:
                if with_preprocessing:
                    x = load_image(str(images[count % len(images)]), meta).unsqueeze(0)
                torch.softmax(model(x), 1)
                count += 1
        rates.append(count / (time.monotonic() - started))
    return rates


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--hidden", type=int, default=64, help="the MLP's hidden units (a costlier model: more)")
    args = parser.parse_args()
    import torch
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as tmp:
        import pathlib
        run = make_digit_run(pathlib.Path(tmp), epochs=2 if args.hidden > 256 else 8, hidden=args.hidden)
        images = [paths[0] for paths in digit_images().values()]
        bodies = [multipart(p) for p in images]
        rows = {}
        for label, max_batch, wait_ms in (("batched (max 32, 5 ms)", 32, 5), ("unbatched (max 1)", 1, 0)):
            port = free_port()
            process = start_server(run, port, max_batch, wait_ms)
            try:
                load(port, 4, 1.0, bodies)  # warm-up
                rows[label] = [load(port, n, args.seconds, bodies) for n in args.clients]
            finally:
                process.terminate()
                process.wait(10)
        with_pre, model_only = torchscript_loop(run, images, args.seconds)
    width = max(map(len, rows)) + 2
    print("requests/s".ljust(width) + "".join(f"{n:>4} clients".rjust(14) for n in args.clients))
    for label, rates in rows.items():
        print(label.ljust(width) + "".join(f"{r:14.1f}" for r in rates))
    print(f"model.pt in a loop, decoding + preprocessing each image: {with_pre:.1f} /s")
    print(f"model.pt in a loop, the model call alone:                  {model_only:.1f} /s")
    print(json.dumps({"serve": rows, "torchscript_with_preprocessing": with_pre,
                      "torchscript_model_only": model_only}))


if __name__ == "__main__":
    main()
