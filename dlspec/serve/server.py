"""Starting the server: a run directory and options in, uvicorn serving the app until stopped.

The run is loaded (and refused, when its spec runs code without trust) before a port is bound, so a
mistake is the usual one-line error. With several workers uvicorn starts processes that each load
the run from the options passed in an environment variable.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict
from typing import Optional

from ..errors import DlspecError

ENV = "DLSPEC_SERVE_OPTIONS"
EXTRA = "dlspec serve needs FastAPI and uvicorn: pip install 'dlspec[serve]'"


def check_extra() -> None:
    """The serve extra installed, or a one-line error naming it."""
    try:
        import fastapi  # noqa: F401
        import python_multipart  # noqa: F401 - python-multipart, for uploads
        import uvicorn  # noqa: F401
    except ImportError:
        raise DlspecError(EXTRA) from None


def build_app(run_dir: str, checkpoint: Optional[str] = None, trust: bool = False, device: str = "cpu",
              max_pixels: Optional[int] = None, **options):
    """The ASGI app for a run (loaded now); `options` are ServeOptions' fields."""
    check_extra()
    from .app import ServeOptions, create_app
    from .served import ServedRun
    _check_options(options)
    served = ServedRun(run_dir, checkpoint, trust, device, max_pixels)
    return create_app(served, ServeOptions(**options))


def serve(run_dir: str, host: str = "127.0.0.1", port: int = 8000, checkpoint: Optional[str] = None,
          workers: int = 1, trust: bool = False, device: str = "cpu", max_pixels: Optional[int] = None,
          log=print, **options) -> None:
    """Serve a run until interrupted (see docs/serve.md)."""
    check_extra()
    import uvicorn
    app = build_app(run_dir, checkpoint, trust, device, max_pixels, **options)
    if workers < 1:
        raise DlspecError(f"--workers must be 1 or more, received {workers}")
    _check_address(host, port)  # before saying "serving": a port in use is one line, not uvicorn's log
    log(f"serving {run_dir} on http://{host}:{port}/  (API: /predict, /metadata, /health, /docs)")
    if workers == 1:
        uvicorn.run(app, host=host, port=port, log_level="warning")
        return
    os.environ[ENV] = json.dumps({"run_dir": os.path.abspath(run_dir), "checkpoint": checkpoint, "trust": trust,
                                  "device": device, "max_pixels": max_pixels,
                                  **asdict(app.state.options)})
    uvicorn.run("dlspec.serve.server:app_from_env", factory=True, host=host, port=port, workers=workers,
                log_level="warning")


def app_from_env():
    """The app of a worker process, from the options its parent wrote (uvicorn's factory for --workers)."""
    return build_app(**json.loads(os.environ[ENV]))


def _check_address(host: str, port: int) -> None:
    """Refuses an address this machine cannot listen on (a port in use, a host not its own), as a DlspecError."""
    import socket
    try:
        family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
            probe.bind(address)
    except OSError as exc:
        raise DlspecError(f"cannot listen on {host}:{port}: {exc.strerror or exc}",
                          hint="another program may hold the port: pick another with --port N, or the address "
                               "with --host (127.0.0.1: this machine only)") from None


def _check_options(options: dict) -> None:
    from .app import ServeOptions
    known = ServeOptions.__dataclass_fields__
    for name, value in options.items():
        if name not in known:
            raise DlspecError(f"serve has no option {name}", hint=f"options: {', '.join(known)}")
        if name == "wait_ms":
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 10_000:
                raise DlspecError(f"wait_ms must be a number of milliseconds from 0 to 10000, received {value!r}")
        elif isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise DlspecError(f"{name} must be a positive whole number, received {value!r}")
