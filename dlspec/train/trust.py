"""Loading a run safely: a checkpoint's stored spec in, a `Spec` out, no code run unless trusted.

`evaluate`, `predict`, `export` and `fit --resume` rebuild the model from the
spec text stored in the checkpoint, so whoever wrote the checkpoint chooses
that spec. Weights load with weights_only=True, but a spec can still run
Python: `use` lines import files or modules, a dotted data source
`pkg.Thing(...)` imports and calls `pkg.Thing`, and the --plugin modules
recorded in the run are imports too (any importable module, so the checkpoint's
choice). Installed entry points load as for any spec: the run cannot choose them. Like Keras'
safe_mode or Hugging Face's trust_remote_code, such a run is refused with the
list of what would run, unless the caller passes trust=True (CLI --trust).
The check reads the IR only: nothing is imported before it passes.

The stored spec also says where `log tensorboard(dir=...)` writes, and a
resume rewrites the event files there: a folder outside the run directory
(or reached through a symbolic link) is refused on resume unless trusted.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING

from ..errors import PluginError
from ..spec import Spec, loads

if TYPE_CHECKING:  # a type only: the record's module imports torch, which checking a spec does not need
    from .record import SpecRecord

# Dotted layer names (torch.nn.NAME, torchvision.NAME, plugin names) are looked up
# in registries, never imported by name; a dotted data source is imported and called,
# so only torchvision's own data set classes are safe (torchvision.datasets.utils
# holds download and extract functions, hence one level and no private names).
SAFE_SOURCE_PREFIX = "torchvision.datasets."
TRUST_HINT = ("a run directory from elsewhere is untrusted input; pass --trust (Python: trust=True) "
              "only if you trust whoever made it")


class UntrustedRunError(PluginError):
    """Loading a run would run Python code, and the caller did not pass trust=True."""

    kind = "untrusted run"


def load_run_spec(recorded: SpecRecord, where: str, trust: bool = False) -> Spec:
    """The spec stored in a checkpoint (its record's `spec` part); its plugins are imported only when trusted."""
    from ..plugins.discovery import load_entry_points
    load_entry_points()  # the user's installed plugins, as for any spec
    spec = loads(recorded.spec_text, recorded.spec_file, recorded.overrides or None, run_plugins=False)
    code = code_in_run(spec, recorded)
    if code and not trust:
        listing = "\n".join(f"  - {item}" for item in code)
        raise UntrustedRunError(f"loading {where} would run Python code named by its stored spec:\n{listing}",
                                hint=TRUST_HINT)
    if trust:
        _import_plugins(spec, recorded)
    return spec


def code_in_run(spec: Spec, recorded: SpecRecord) -> list:
    """Everything that loading this run would import or call, one line each ([] when nothing)."""
    program = spec.program
    found = []
    for use in program.uses:
        target = f'"{use.target}"' if use.is_file else use.target
        found.append(f"{use.loc}: use {target} (imports Python code)")
    for decl in program.data.values():
        name, loc = _source_name(decl, program)
        if name and _imports(name):
            found.append(f"{loc}: source {name}(...) (imports {name.rpartition('.')[0]} and calls {name})")
    # Installed entry points are not listed: a checkpoint cannot choose them (they load for any
    # spec, as set up by whoever installed them; DLSPEC_DISABLE_PLUGIN_AUTOLOAD=1 turns them off).
    modules = (recorded.plugins or {}).get("modules", [])
    found += [f"--plugin {m} (imported when the run was trained)" for m in modules]
    return found


def _source_name(decl, program) -> tuple:
    """The data source a data block names, evaluated like the data config does (lets and --set count)."""
    from ..schema.settings import to_step
    for setting in decl.settings:
        if setting.key != "source" or not setting.args:
            continue
        arg = setting.args[0]
        try:
            return to_step(program.global_env().eval(arg), arg.loc, "source").name, arg.loc
        except Exception:  # a broken value: judge the name as written (the data config reports the error)
            return getattr(arg, "callee", None) or getattr(arg, "name", None), arg.loc
    return None, None


def _imports(name: str) -> bool:
    from ..data.sources.base import SOURCES
    if "." not in name or name in SOURCES:
        return False
    rest = name[len(SAFE_SOURCE_PREFIX):] if name.startswith(SAFE_SOURCE_PREFIX) else ""
    return not rest or "." in rest or rest.startswith("_")


def _import_plugins(spec: Spec, recorded: SpecRecord) -> None:
    from ..plugins.discovery import load_module, load_uses
    for name in (recorded.plugins or {}).get("modules", []):
        load_module(name)  # not recorded as named by this process; a resumed run keeps its record
    load_uses(spec.program)


def check_log_folders(checked_log: list, run_dir: str, trust: bool = False) -> None:
    """On --resume: the folders the stored `log` setting writes into (and whose event files a resume
    rewrites) must lie inside the run directory, links resolved, unless trusted."""
    if trust:
        return
    home = os.path.realpath(run_dir)
    for item, args, loc in checked_log:
        folder = args.get("dir") if item.name == "tensorboard" else None
        if folder is None:
            continue
        path = folder if os.path.isabs(folder) else os.path.join(run_dir, folder)
        real = os.path.realpath(path)
        if os.path.commonpath([home, real]) != home:
            raise UntrustedRunError(f"resuming {run_dir} would write TensorBoard files to {real}, outside the run "
                                    f"directory ({loc}: log {item.name}(dir={folder!r}))", hint=TRUST_HINT)
