"""Where a study lives: a tune directory and a storage URL in, an open Optuna storage out.

The default storage is DIR/study.db (SQLite), so running the same command again
continues the study; any Optuna storage URL (PostgreSQL, MySQL, another SQLite
file) lets several processes or machines share one. DIR/tune.yaml records which
study and storage a tune directory belongs to, for `dlspec tune --show DIR`.
"""
from __future__ import annotations

import contextlib
import os
import warnings
from typing import Optional

import yaml

from ..errors import DlspecError, warn

INFO = "tune.yaml"


def default_storage(out: str) -> str:
    return "sqlite:///" + os.path.abspath(os.path.join(out, "study.db"))


def default_study_name(path, train: Optional[str]) -> str:
    stem = os.path.splitext(os.path.basename(os.fspath(path)))[0]
    return f"{stem}-{train}" if train else stem


def shown_url(url: str) -> str:
    """The URL with any password hidden, for messages."""
    try:
        from sqlalchemy.engine import make_url
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL sqlalchemy can read: shown as given (opening it will say why)
        return url


def open_storage(optuna, url: str):
    """An Optuna RDB storage; a URL that cannot be opened is a one-line error naming it."""
    engine = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}  # processes take turns
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Optuna calls the heartbeat (a crashed process's trial fails) experimental
            return optuna.storages.RDBStorage(url, engine_kwargs=engine, heartbeat_interval=60, grace_period=180)
    except Exception as exc:
        reason = (str(getattr(exc, "orig", None) or exc).strip().splitlines() or [type(exc).__name__])[0]
        raise DlspecError(f"cannot open the study storage {shown_url(url)}: {reason}",
                          hint="--storage takes an Optuna storage URL, e.g. sqlite:///study.db or "
                               "postgresql://user@host/db (its database driver must be installed)") from None


@contextlib.contextmanager
def creation_lock(url: str, out: str):
    """Hold a file lock while a study is created, so that processes starting together on one SQLite
    file (or one tune directory) do not race to create its tables and its first trial."""
    path = url[len("sqlite:///"):] + ".lock" if url.startswith("sqlite:///") else os.path.join(out, ".study.lock")
    try:
        import fcntl
        handle = open(path, "a")
    except (ImportError, OSError):  # no fcntl (Windows) or an unwritable folder: go on unlocked
        yield
        return
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def write_info(out: str, info: dict) -> None:
    """DIR/tune.yaml: the study, storage, spec and objective this directory tunes."""
    path = os.path.join(out, INFO)
    tmp = f"{path}.{os.getpid()}.tmp"
    from ..train.rundir import writing
    with writing(path):
        with open(tmp, "w", encoding="utf-8") as f:
            yaml.safe_dump(info, f, sort_keys=False)
        os.replace(tmp, path)


def check_same_directory(out: str, study: str, url: str, spec: str) -> None:
    """A tune directory holds one study: the trial folders of two would share numbers. Another spec
    continuing the study is allowed (a renamed or edited copy) but said."""
    if not os.path.isfile(os.path.join(out, INFO)):
        return
    info = read_info(out)
    if (info["study"], info["storage"]) != (study, url):
        raise DlspecError(f"{out} holds the trials of study '{info['study']}' in {shown_url(info['storage'])}, "
                          f"not of '{study}' in {shown_url(url)}",
                          hint="give another --out, or the same --study and --storage to continue it")
    if info.get("spec") not in (None, spec):
        warn(f"{out} has tuned {info['spec']} so far; its study now goes on with {spec}",
             hint="give another --out to start a separate study")


def read_info(out: str) -> dict:
    path = os.path.join(out, INFO)
    if not os.path.isfile(path):
        raise DlspecError(f"{out} is not a dlspec tune directory (it has no {INFO})",
                          hint="give the --out folder of a `dlspec tune` run")
    with open(path, encoding="utf-8") as f:
        info = yaml.safe_load(f)
    if not isinstance(info, dict) or not {"study", "storage"} <= set(info):
        raise DlspecError(f"{path} does not describe a study (it needs study: and storage:)")
    return info
