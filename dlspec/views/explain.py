"""Explaining settings (`dlspec explain`): a loaded spec and a train name in, one row per resolved
setting of the train block and its data block, each with where its value came from, out.

A value comes from its default, from a line of the spec (file:line), from a
line of an included file, or from `--set` (when the line uses a `let` that
--set overrode). Step settings (loss, optimizer, schedule, source) and keyword
settings (split, early_stop, checkpoint) get a row per argument, so defaults filled in
for arguments nobody wrote are shown too.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Any, Optional

from ..errors import Loc
from ..language import ir
from ..language.values import to_source


@dataclass(frozen=True)
class Row:
    """One resolved setting: `block` is "train" or "data NAME"; `source` says where `value` came from."""

    block: str
    key: str
    value: Any
    source: str
    loc: Optional[Loc] = None


def explain(spec, train: Optional[str] = None) -> list:
    """Every resolved setting of a train block and of the data block it uses, with its origin."""
    from ..data.config import DATA_SETTINGS
    from ..train.config import TRAIN_SETTINGS, find_train, read_train
    from ..train.rundir import default_run_dir
    cfg = read_train(spec, train)
    program = spec.program
    decl = find_train(program, train)
    origin = _Origins(program, decl.settings)
    rows = []
    values = cfg.resolved()
    values["out"] = cfg.out or default_run_dir(cfg.name or cfg.model, when="<YYYYMMDD-HHMMSS>")  # as fit names it
    for key in TRAIN_SETTINGS:
        rows += origin.rows("train", key, _train_value(cfg, key, values))
    data = _Origins(program, program.data[cfg.data.name].settings)
    block = f"data {cfg.data.name}"
    for key in DATA_SETTINGS:
        rows += data.rows(block, key, _data_value(cfg.data, key))
    if "batch" in cfg.locs:  # the train block's batch wins: the data block's row says so
        rows = [replace(r, value=r.value, source=f"{r.source}; the train block's batch {cfg.data.batch} wins")
                if r.block == block and r.key == "batch" else r for r in rows]
    return rows


def _train_value(cfg, key: str, values: dict):
    if key == "loss" and cfg.outputs:  # a loss per output: `price: mse * 0.5, kind: cross_entropy`
        return ", ".join(f"{n}: {_call_text(o.loss[0].name, o.loss[1])}" + (f" * {o.weight:g}" if o.weight != 1 else "")
                         for n, o in cfg.outputs.items())
    if key in ("loss", "optimizer", "schedule"):
        pair = getattr(cfg, key)
        return (pair[0].name, dict(pair[1])) if pair else None
    if key in ("early_stop", "checkpoint"):
        return dict(getattr(cfg, key)) if getattr(cfg, key) else None
    if key == "layer_init":
        return cfg.layer_init_text() or None
    if key == "log":  # metrics.csv is always written, so csv is in effect even where no log line names it
        shown = [_call_text(item.name, args) for item, args, _ in cfg.log]
        return shown if "csv" in (item.name for item, _, _ in cfg.log) else ["csv"] + shown
    if key == "target":  # run.yaml records it only when it is not the default
        return cfg.target
    return values[key]


def _data_value(data, key: str):
    if key == "source":
        return data.source.name, dict(data.source_args if data.source_args is not None else data.source.kwargs)
    if key == "split":
        return {**data.fractions, "seed": data.seed}
    if key in ("transform", "augment"):
        return " -> ".join(_call_text(st.name, args) for _, args, st in getattr(data, key)) or None
    if key == "pipeline":  # one that must run in its order; else its steps are the transform and augment rows
        return " -> ".join(_call_text(st.name, args) for _, args, st in data.ordered or []) or None
    return getattr(data, key)


def _call_text(name: str, args: dict) -> str:
    inner = ", ".join(f"{k}={_cell(v)}" for k, v in args.items())
    return f"{name}({inner})" if inner else name


class _Origins:
    """Where each setting of one block, and each argument written in it, came from."""

    def __init__(self, program, settings: tuple):
        self.program = program
        self.written = {}
        for s in settings:
            self.written.setdefault(s.key, []).append(s)

    def rows(self, block: str, key: str, value) -> list:
        settings = self.written.get(key, [])
        if isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], dict):  # a step
            name, args = value
            rows = [self._row(block, key, name, settings, [s.args[0] for s in settings if s.args][:1])]
            return rows + [self._arg_row(block, f"{key}.{arg}", v, settings, arg) for arg, v in args.items()]
        if isinstance(value, dict) and key in ("split", "early_stop", "checkpoint"):  # keyword settings
            return [self._arg_row(block, f"{key}.{arg}", v, settings, arg) for arg, v in value.items()]
        exprs = [e for s in settings for e in (*s.args, *(k.value for k in s.kwargs))]
        return [self._row(block, key, value, settings, exprs)]

    def _row(self, block, key, value, settings, exprs) -> Row:
        if not settings:
            return Row(block, key, value, "default")
        return Row(block, key, value, self._source(settings[0].loc, exprs), settings[0].loc)

    def _arg_row(self, block, key, value, settings, arg: str) -> Row:
        """An argument of a step or keyword setting: written in the call, on the setting line, or a default."""
        for s in settings:
            calls = [a for a in s.args if isinstance(a, ir.Call)]
            for kw in [*(k for c in calls for k in c.kwargs), *s.kwargs]:
                if kw.name == arg:
                    return Row(block, key, value, self._source(kw.loc, [kw.value]), kw.loc)
            positional = self._positional(s, calls, arg)
            if positional is not None:
                return Row(block, key, value, self._source(positional.loc, [positional]), positional.loc)
        return Row(block, key, value, "default")

    def _positional(self, s: ir.Setting, calls: list, arg: str):
        """The expression written for `arg` by position: `split 0.8` or `rotate(10)`-style calls."""
        from ..data.config import SPLIT_ARGS
        if calls:
            names = _arg_names(s.key, calls[0].callee)
            given = calls[0].args
        else:
            names = [a.name for a in SPLIT_ARGS] if s.key == "split" else []
            given = s.args
        return given[names.index(arg)] if arg in names and names.index(arg) < len(given) else None

    def _source(self, loc: Loc, exprs: list) -> str:
        if loc.file.startswith("<--set ") and loc.file.endswith(">"):  # --set BLOCK.SETTING=VALUE
            name = loc.file[len("<--set "):-1]
            return f"--set {name}={_cell(self.program.overrides.get(name, ''))}"
        where = _where(loc, self.program.filename)
        lets = [name for e in exprs for name in self.program.lets_in(e)]
        overridden = [n for n in lets if n in self.program.overrides]
        if overridden:
            name = overridden[0]
            return f"--set {name}={_cell(self.program.overrides[name])} (used at {where})"
        if lets:
            decl = self.program.lets[lets[-1]]
            return f"{where} (let {lets[-1]} at {_where(decl.loc, self.program.filename)})"
        return where


def _arg_names(key: str, callee: str) -> list:
    """The argument names of a step's registry entry, in order (for positional arguments)."""
    from ..data.sources.base import SOURCES
    from ..train.losses import LOSSES
    from ..train.optimizers import OPTIMIZERS
    from ..train.schedules import SCHEDULES
    table = {"loss": LOSSES, "optimizer": OPTIMIZERS, "schedule": SCHEDULES, "source": SOURCES}.get(key)
    entry = table.get(callee) if table is not None else None
    return [a.name for a in getattr(entry, "args", ())]


def _where(loc: Loc, main_file: str) -> str:
    if os.path.abspath(loc.file) == os.path.abspath(main_file):
        return f"{loc.file}:{loc.line}"
    shown = os.path.relpath(loc.file) if not loc.file.startswith("<") else loc.file
    return f"included {shown}:{loc.line}"


def _cell(value) -> str:
    """A resolved value as the table shows it: spec text, strings unquoted."""
    return to_source(value, bare_strings=True)


def format_rows(rows: list) -> str:
    """A table per block: setting, value, source."""
    out, block = [], None
    width = max((len(r.key) for r in rows), default=0)
    values = {id(r): _cell(r.value) for r in rows}
    vwidth = min(max((len(v) for v in values.values()), default=0), 40)
    for r in rows:
        if r.block != block:
            out.append(("" if block is None else "\n") + r.block)
            block = r.block
        out.append(f"  {r.key.ljust(width)}  {values[id(r)].ljust(vwidth)}  {r.source}")
    return "\n".join(out)
