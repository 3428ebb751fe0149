"""Plugin discovery: `use` lines, --plugin modules and installed entry points in,
imported (and so registered) plugin modules out.

Plugins run only when a spec or the user names them, or when they are
installed entry points in the group `dlspec.plugins`
(DLSPEC_DISABLE_PLUGIN_AUTOLOAD=1 turns those off). A plugin that fails to
import is an error naming it and the `use` line; a broken entry point is a
warning that names it. This is the low half of `plugins`: it imports no registry, so `spec`, `data` and
`train` may load plugins; what the plugins import (decorators, adapters) registers into them from above.
"""
from __future__ import annotations

import contextlib
import contextvars
import hashlib
import importlib
import importlib.util
import os
import sys
from typing import Optional

from ..errors import Loc, PluginError, warn
from ..language.files import require_regular

ENTRY_POINT_GROUP = "dlspec.plugins"
_loaded_files: dict = {}
# a file whose import failed -> its message, keyed by (path, mtime, size): loading it again (compile loads a
# spec more than once) re-reports the failure instead of re-running the file, whose registrations made before
# it failed would now read as "already registered" and hide the real error; an edited file is tried again
_failed_files: dict = {}
_entry_points_loaded = False
_named_modules: list = []  # --plugin modules, recorded in run checkpoints
_entry_points: list = []  # "name (module:attr)" of each entry point that loaded
_LOADED_BY: contextvars.ContextVar = contextvars.ContextVar("dlspec_plugin_loaded_by", default="")


@contextlib.contextmanager
def loaded_by(how: str):
    """Registrations made inside say how their plugin was loaded: use file, use, --plugin, entry point."""
    token = _LOADED_BY.set(how)
    try:
        yield
    finally:
        _LOADED_BY.reset(token)


def loading_how() -> str:
    """How the plugin being imported now was loaded ("" outside a load by dlspec)."""
    return _LOADED_BY.get()


def load_file(path: str, loc: Optional[Loc] = None):
    """Import a plugin file once (by absolute path); later calls return the same module. A path that is
    no regular .py file (a folder, a pipe, a link to a device) is an error at `loc`, never read."""
    path = os.path.abspath(path)
    if path in _loaded_files:
        return _loaded_files[path]
    if not os.path.exists(path):
        raise PluginError(f"plugin file not found: {path}", loc)
    require_regular(path, PluginError, "plugin file", loc, hint="`use` a Python file (.py) or a module name; "
                                                                 "devices, pipes and sockets are never read")
    digest = hashlib.sha1(path.encode()).hexdigest()[:8]
    name = f"dlspec_plugin_{os.path.splitext(os.path.basename(path))[0]}_{digest}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None:  # the import system knows no loader for the file's suffix
        raise PluginError(f"plugin file {path} is not a Python file (.py)", loc,
                          hint="`use` a Python file ending in .py, or a module name (use my_package.layers)")
    attempt = (path, os.stat(path).st_mtime_ns, os.stat(path).st_size)
    if attempt in _failed_files:
        raise PluginError(_failed_files[attempt], loc)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        with loaded_by("use file"):
            spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        _failed_files[attempt] = f"plugin {os.path.basename(path)} failed to load: {type(exc).__name__}: {exc}"
        raise PluginError(_failed_files[attempt], loc) from None
    _loaded_files[path] = module
    return module


def loaded_files(paths=None) -> list:
    """The modules of the `use` files imported so far (of those at `paths` only, when given), in load order."""
    wanted = None if paths is None else {os.path.abspath(p) for p in paths}
    return [m for path, m in _loaded_files.items() if wanted is None or path in wanted]


def load_module(name: str, loc: Optional[Loc] = None, how: str = "use"):
    """Import a plugin module by dotted name (`how` it was named: use, or --plugin)."""
    try:
        with loaded_by(how):
            return importlib.import_module(name)
    except Exception as exc:
        raise PluginError(f"plugin module {name} failed to load: {type(exc).__name__}: {exc}", loc,
                          hint="is it installed, or on PYTHONPATH?") from None


def load_named_module(name: str):
    """Import a module the user named with --plugin, and remember it for the run's checkpoint."""
    module = load_module(name, how="--plugin")
    if name not in _named_modules:
        _named_modules.append(name)
    return module


def forget_named_modules() -> None:
    """Start a new command: only the --plugin modules it names are recorded in its runs."""
    _named_modules.clear()


def loaded_plugins() -> dict:
    """What plugin code this process imported besides `use` lines: recorded in checkpoints,
    so loading a run knows what code it needs (and can refuse to run it untrusted)."""
    return {"modules": list(_named_modules), "entry_points": list(_entry_points)}


def load_uses(program) -> None:
    """Run the `use` declarations of a program, files relative to their spec."""
    from ..language.resolve import resolve_path
    for use in program.uses:
        if use.is_file:
            load_file(resolve_path(use.target, use.loc), use.loc)
        else:
            load_module(use.target, use.loc)


def load_entry_points() -> None:
    """Import installed plugins once per process, unless autoloading is turned off."""
    global _entry_points_loaded
    if _entry_points_loaded or os.environ.get("DLSPEC_DISABLE_PLUGIN_AUTOLOAD") == "1":
        return
    _entry_points_loaded = True
    from importlib.metadata import entry_points
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            with loaded_by(f"entry point {ep.name}"):
                ep.load()
            _entry_points.append(f"{ep.name} ({ep.value})")
        except Exception as exc:  # a broken plugin must not break dlspec
            warn(f"dlspec plugin '{ep.name}' ({ep.value}) failed to load and is skipped: "
                 f"{type(exc).__name__}: {exc}")
