"""A real dlspec server on a free loopback port (uvicorn in a thread) and a urllib client, for tests/serve
and the browser test. `serving(run_dir, **options)` yields the base URL; `post`/`get` return (status, JSON)."""
import contextlib
import json
import socket
import threading
import time
import urllib.error
import urllib.request

import dlspec


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serving(run_dir, **options):
    """A server for `run_dir` (dlspec.api.serve_app, served by uvicorn) until the block ends."""
    return serving_app(dlspec.api.serve_app(str(run_dir), **options))


@contextlib.contextmanager
def serving_app(app):
    """uvicorn serving `app` on a free loopback port in a thread until the block ends; yields the base URL."""
    import uvicorn
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{server.config.port}"
    finally:
        server.should_exit = True
        thread.join(10)


def request(url, body=None, content_type=None, headers=None):
    """(status, parsed JSON body or raw bytes) of a GET (no body) or POST."""
    request = urllib.request.Request(url, data=body, headers={**({"Content-Type": content_type} if content_type
                                                                   else {}), **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            status, data, kind = response.status, response.read(), response.headers.get("content-type", "")
    except urllib.error.HTTPError as exc:
        status, data, kind = exc.code, exc.read(), exc.headers.get("content-type", "")
    return status, json.loads(data) if kind.startswith("application/json") else data


def post_json(url, payload):
    return request(url, json.dumps(payload).encode(), "application/json")


def post_files(url, files, field="file"):
    """A multipart/form-data POST of [(filename, bytes)]."""
    boundary = "dlspec-test-boundary-7d1f"
    parts = [f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{name}\"\r\n"
             f"Content-Type: application/octet-stream\r\n\r\n".encode() + data + b"\r\n" for name, data in files]
    return request(url, b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}")


DIGITS_SPEC = """
model Digits { input image(1, 14, 14); flatten -> linear(64) -> relu -> linear(10) }
data d { source image_folder("bundled:digit_images", mode="L"); split train=0.7 val=0.15 test=0.15 seed=0; batch 32
         transform { resize(14) -> normalize(auto) } }
train { optimizer adam(lr=0.003); epochs EPOCHS; metrics accuracy }
"""


def make_digit_run(base, epochs=8, hidden=64):
    """A small MLP (`hidden` units) trained on the 300 bundled MNIST digits (seconds); returns the run directory."""
    spec = base / "digits.dlspec"
    spec.write_text(DIGITS_SPEC.replace("EPOCHS", str(epochs)).replace("linear(64)", f"linear({hidden})"))
    dlspec.fit(spec, out=str(base / "digits"), log=lambda *a: None, progress=False)
    return base / "digits"


def digit_images():
    """The bundled digit PNG files, {digit: [paths]}."""
    import pathlib
    from dlspec.data.bundled import bundled_path
    root = pathlib.Path(bundled_path("digit_images"))
    return {int(d.name): sorted(d.glob("*.png")) for d in sorted(root.iterdir()) if d.is_dir()}


ROWS_IMAGES_SPEC = """
model M {
    input photo: image(3, 8, 8)
    input facts: vector(auto)
    h = concat(photo -> flatten, facts -> linear(4)) -> linear(8) -> relu
    output price = h -> linear(1)
}
data d { source csv("rows.csv", inputs={photo: "photo", facts: ["sqm", "town"]}, target="price")
         split train=0.5 val=0.25 test=0.25 }
train { model M; data d; loss mse; epochs 1 }
"""


def make_rows_images_run(base):
    """A run whose rows name image files (`photo`: 24 coloured 8x8 PNGs beside rows.csv) and hold a number
    and a category; trained one epoch in `base` (seconds); returns `base` (the run is base / "run")."""
    import random
    from PIL import Image
    rng = random.Random(5)
    lines = ["photo,sqm,town,price"]
    for i in range(24):
        shade = rng.randint(0, 255)
        Image.new("RGB", (8, 8), (shade, 255 - shade, 80)).save(base / f"{i:02d}.png")
        lines.append(f"{i:02d}.png,{rng.randint(20, 120)},{'ab'[i % 2]},{100 + shade}.0")
    (base / "rows.csv").write_text("\n".join(lines) + "\n")
    (base / "m.dlspec").write_text(ROWS_IMAGES_SPEC)
    dlspec.fit(str(base / "m.dlspec"), out=str(base / "run"), progress=False, log=lambda *a: None)
    return base
