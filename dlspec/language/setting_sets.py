"""`--set BLOCK.SETTING=VALUE`: a Program's data and train declarations and the dotted overrides in, the
same declarations with those settings replaced (or added) out.

`--set NAME=VALUE` keeps its meaning (the value of `let NAME`); a dotted name reaches any setting of a data
or train block: `--set digits.batch=32`, `--set train.seed=1` (`train` is the unnamed train block unless a
block is named so). VALUE is read as the rest of a setting line (`--set d.split="train=0.7 val=0.3"`), so
every setting's syntax works; text that is not a value is taken as a string (`--set t.out=runs/a`).
Whether SETTING is a setting of that block is checked where the block is read (schema/settings.py), with
the list of valid ones; here only the block is checked.
"""
from __future__ import annotations

import json
from dataclasses import replace

from . import ir
from ..errors import DlspecError, UnknownNameError, did_you_mean
from .parser import parse_text

UNNAMED_TRAIN = "train"  # what `--set train.X=V` calls the unnamed train block


def is_setting_set(name: str) -> bool:
    return "." in name


def apply_setting_sets(data: dict, trains: dict, sets: dict, evaluate) -> tuple:
    """(data, trains) with each `BLOCK.SETTING` of `sets` ({dotted name: value text}) written into its block;
    `evaluate` computes an expression against the spec's lets (it raises a DlspecError when it cannot)."""
    data, trains = dict(data), dict(trains)
    for dotted, raw in sets.items():
        block, _, key = dotted.partition(".")
        table, name = _block(data, trains, block, dotted)
        setting = _setting(key, raw, dotted, evaluate, "data" if table is data else "train")
        decl = table[name]
        kept = tuple(s for s in decl.settings if s.key != key)
        table[name] = replace(decl, settings=kept + (setting,))
    return data, trains


def _block(data: dict, trains: dict, block: str, dotted: str) -> tuple:
    """(the table, the key) of the block `block` names: a data block, a named train block, or `train`."""
    found = []
    if block in data:
        found.append((data, block))
    if block in trains:
        found.append((trains, block))
    elif block == UNNAMED_TRAIN and None in trains:
        found.append((trains, None))
    if len(found) > 1:
        raise DlspecError(f"--set {dotted}: '{block}' is both a data block and a train block",
                          hint="rename one of them to set its settings from the command line")
    if found:
        return found[0]
    names = list(data) + [n if n is not None else UNNAMED_TRAIN for n in trains]
    raise UnknownNameError(f"--set {dotted}: the spec has no data or train block named '{block}'."
                           + did_you_mean(block, names), None,
                           hint=f"blocks: {', '.join(names) or 'none'}; --set BLOCK.SETTING=VALUE sets a block's "
                                f"setting, --set NAME=VALUE a let")


def _setting(key: str, raw, dotted: str, evaluate, kind: str) -> ir.Setting:
    """The setting line `key raw`, parsed as it would be in a `kind` (data or train) block (located in
    `<--set ...>`, whose echoed line shows that kind of block)."""
    text = raw if isinstance(raw, str) else json.dumps(raw)
    if not key or not key.isidentifier():
        raise DlspecError(f"--set {dotted}: '{key}' is not a setting name", hint="--set BLOCK.SETTING=VALUE")
    try:
        setting = _parsed(key, text, dotted, kind)
        if len(setting.args) == 1 and isinstance(setting.args[0], ir.BinOp) and not setting.kwargs:
            evaluate(setting.args[0])  # runs/a parses as a division; it is a path
        return setting
    except DlspecError:
        return _parsed(key, json.dumps(text), dotted, kind)  # not a value: the text itself, as a string


def _parsed(key: str, text: str, dotted: str, kind: str) -> ir.Setting:
    spec = parse_text(f"{kind} _ {{ {key} {text} }}", f"<--set {dotted}>")
    decls = spec.decls
    block = ir.DataDecl if kind == "data" else ir.TrainDecl
    if len(decls) != 1 or not isinstance(decls[0], block) or len(decls[0].settings) != 1 \
            or decls[0].settings[0].key != key:
        raise DlspecError(f"--set {dotted}: expected one setting value, received '{text}'")
    return decls[0].settings[0]


def let_hint(name: str, data: dict, trains: dict) -> str:
    """For `--set seed=1` with no `let seed`: the blocks that write a `seed` setting, as BLOCK.seed."""
    found = [f"{b}.{name}" for b, d in data.items() if any(s.key == name for s in d.settings)]
    found += [f"{b if b is not None else UNNAMED_TRAIN}.{name}" for b, d in trains.items()
              if any(s.key == name for s in d.settings)]
    if found:
        return f"--set NAME=VALUE changes a let; a block's setting is --set BLOCK.SETTING=VALUE: {', '.join(found)}"
    return "--set NAME=VALUE changes the value of a let declaration; --set BLOCK.SETTING=VALUE a data or train " \
           "block's setting (e.g. --set train.seed=1)"
