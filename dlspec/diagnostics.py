"""Every mistake of a spec at once: a spec path (or its unsaved text) in, a `Diagnosis` out.

`dlspec compile` and the language server both want all the errors of a file,
not only the first. The stages, each going on past what it can:

1. syntax: `language.recovery` finds every syntax error the parser can get past;
2. names: includes, lets, duplicates and `use` plugins (the first error only:
   the name tables are built in one pass, and without them nothing else can be checked);
3. models: each is planned on its own. A step that fails is replaced by
   `identity` (language/stand_ins.py) and the model planned again, so later unknown names and bad
   arguments are found too; a later shape error is not reported, since the
   substitute changed the shapes after it. `Diagnosis.stand_ins` says which
   calls were replaced and why (an editor shows the call and its error, not
   the stand-in);
4. data and train blocks, each on its own; after an error in a setting the
   block is read again without it, so its other mistakes are found too (a
   train block's own settings are read before the model and data it names,
   and its model is planned with its own data's facts: a vector(auto) width,
   the data's errors). With `train` only that train block is read.

Errors inside a declaration that had a syntax error, and errors naming
something declared on a line that was cut away, are consequences, not
reported. The rest are sorted by file and line, duplicates dropped (a block
used by two models fails twice) and capped at MAX_REPORTED_ERRORS.
"""
from __future__ import annotations

import contextlib
import os
import warnings
from dataclasses import dataclass, field, replace
from typing import Optional

from .errors import MAX_REPORTED_ERRORS, DlspecError, DlspecErrors, ShapeError, raise_errors
from .language import ir
from .language.parser import BOM
from .language.recovery import Recovered, parse_recovering
from .language.resolve import read_spec_text
from .language.limits import LimitError
from .language.stand_ins import body_nodes, replace_failing_step
from .planning.facts import DataFacts
from .planning.named import UnusedInput, leading_inputs
from .spec import Spec, loads


@dataclass
class Diagnosis:
    """What `diagnose` found in one spec.

    `errors` (DlspecError, in line order) and `warnings` (DlspecWarning and
    others, in the order raised); `more` says errors were left out after the
    cap. `spec` is the spec loaded from the parts that parse (None when even
    that failed) and `plans` the model plans made, failing steps replaced by
    `identity`; editors read shapes from them. `stand_ins` maps the place
    (file, line, column) of each call so replaced to the error that replaced it.
    `trains` holds the train blocks read, so compile need not read them again.
    `measurements` keeps the data vector(auto) loaded, so compile does not load it again.
    """

    path: str
    text: str = ""
    errors: list = field(default_factory=list)
    warnings: list = field(default_factory=list)
    more: bool = False
    spec: Optional[Spec] = None
    plans: dict = field(default_factory=dict)
    recovered: Optional[Recovered] = None
    stand_ins: dict = field(default_factory=dict)
    trains: dict = field(default_factory=dict)  # train block name -> its TrainConfig, when read without error
    measurements: object = None  # what vector(auto) measured of `spec`'s data (train/measure.Measurements)

    @property
    def ok(self) -> bool:
        return not self.errors

    def raise_errors(self) -> None:
        """Raise the one error, or a `DlspecErrors` holding them all; nothing when there is none."""
        raise_errors(self.errors, self.more)


def diagnose(path, text: Optional[str] = None, overrides: Optional[dict] = None, model: Optional[str] = None,
             train: Optional[str] = None, run_plugins: bool = True, capture_warnings: bool = True,
             limit: int = MAX_REPORTED_ERRORS, tables: bool = False) -> Diagnosis:
    """Check a spec as `dlspec compile` does and collect every error, not only the first.

    `text` is the spec's unsaved text (default: read `path`); relative paths
    resolve against `path`'s folder either way. `model` or `train` narrow the
    models checked, as the compile options do; `train` also the train blocks checked to that one, so
    that no data another block uses is read. tables=True also reads each train block's csv table
    to check its width and targets against the model (as compile does). With capture_warnings=False
    warnings go through Python's warnings machinery as usual instead of into
    `Diagnosis.warnings`. Nothing is imported from torch for the model checks.
    """
    diag = Diagnosis(os.fspath(path))
    recording = warnings.catch_warnings(record=True) if capture_warnings else contextlib.nullcontext()
    with recording as caught:
        if capture_warnings:
            warnings.simplefilter("always")
        _check(diag, text, overrides, model, train, run_plugins, limit, tables)
    diag.warnings = _unique_warnings(caught or [], diag)
    _finish(diag, limit)
    return diag


def _check(diag: Diagnosis, text, overrides, model, train, run_plugins, limit, tables) -> None:
    try:
        text = read_spec_text(diag.path, None) if text is None else text
    except DlspecError as exc:
        diag.errors.append(exc)
        return
    diag.text = text[1:] if text.startswith(BOM) else text
    diag.recovered = parse_recovering(diag.text, diag.path, limit)
    diag.errors += diag.recovered.errors
    if diag.recovered.spec is None:
        return
    try:
        diag.spec = loads(diag.recovered.text, diag.path, overrides, run_plugins)
    except DlspecError as exc:
        diag.errors.append(exc)
        return
    from .train.measure import Measurements
    diag.measurements = Measurements(diag.spec, loaders=False)  # checking only: a table is described, not batched
    for name in _models_to_check(diag, model, train):
        _check_model(diag, name, train)  # vector(auto) measures the data of the train block asked for
    _check_blocks(diag, train, tables)


def _models_to_check(diag: Diagnosis, model: Optional[str], train: Optional[str]) -> list:
    spec = diag.spec
    try:
        if model is not None:
            return [spec.model_name(model)]
        if train is not None:
            from .train.config import find_train
            linked = spec.program.linked(find_train(spec.program, train), "model")
            return [linked] if linked in spec.program.models else spec.model_names
    except DlspecError as exc:
        diag.errors.append(exc)
        return []
    return spec.model_names


def _check_blocks(diag: Diagnosis, train: Optional[str], tables: bool) -> None:
    """Every data block, and every train block (only `train`, when given), on its own, each mistake of
    each block. Data is loaded only where a vector(auto) width needs it, or for a csv table with `tables`,
    each train block's own."""
    spec = diag.spec
    program = spec.program
    if not program.data and not program.trains:
        return  # nothing to check, and train.config imports torch (a second or two)
    from .data.config import read_data
    env = program.global_env()
    for decl in program.data.values():
        _check_settings(diag, decl, lambda d: read_data(d, env))
    names = [train] if train is not None and train in program.trains else list(program.trains)
    for name in names:
        cfg = _check_settings(diag, program.trains[name],
                              lambda d, name=name: _read_train(*_with_train(diag, name, d), name, tables))
        if cfg is not None:
            diag.trains[name] = cfg


def _read_train(spec: Spec, measurements, name, tables: bool):
    """Check train block `name` (read_train); with `tables` also its csv table against the model (a table
    vector(auto) measured is not read again)."""
    from .train.config import read_train
    cfg = read_train(spec, name, measurements=measurements)
    if tables:
        from .train.task_checks import check_table_fits
        check_table_fits(spec, cfg, measurements.measure(cfg.model, name))
    return cfg


def _check_settings(diag: Diagnosis, decl, read):
    """`read(decl)` a data or train block; after an error in one of its settings, read it again without that
    setting, so each independent mistake of the block is reported, not only the first. After a setting is
    left out, an error outside the settings still there is a consequence (a default taking its place) or
    belongs to a linked declaration, whose own check reports it: not reported. Returns what `read` returned
    when the whole block read without error, else None."""
    left_out: set = set()
    for _ in range(MAX_REPORTED_ERRORS + 1):
        try:
            value = read(decl)
            return None if left_out else value
        except DlspecError as exc:
            error = exc
        index = _setting_at(diag.spec.program, decl, error.loc)
        if index is None and left_out:
            return None
        if getattr(error, "follows_from", None) not in left_out:  # else a consequence of a setting left out
            diag.errors += error.errors if isinstance(error, DlspecErrors) else [error]  # e.g. each unknown metric
        if index is None:
            return None
        left_out.add(decl.settings[index].key)
        decl = replace(decl, settings=decl.settings[:index] + decl.settings[index + 1:])


def _setting_at(program, decl, loc) -> Optional[int]:
    """The index of the setting of `decl` an error at `loc` lies in; None outside its settings."""
    if loc is None or loc.file != decl.loc.file:
        return None
    starts = [(s.loc.line, s.loc.column) for s in decl.settings]
    end = _next_declaration_line(program, decl)
    place = (loc.line, loc.column)
    for i, start in enumerate(starts):
        following = starts[i + 1] if i + 1 < len(starts) else (end, 0)
        if start <= place < following:
            return i
    return None


def _next_declaration_line(program, decl) -> int:
    """The first line of the next declaration after `decl` in its file (a very large number when none)."""
    after = [d.loc.line for table in (program.lets, program.blocks, program.models, program.data, program.trains)
             for d in table.values() if d.loc.file == decl.loc.file and d.loc.line > decl.loc.line]
    return min(after, default=10 ** 9)


def _with_train(diag: Diagnosis, name, decl) -> tuple:
    """(the spec with train block `name` replaced by `decl`, its measurements): the diagnosed spec and its
    measurements when the block is unchanged."""
    spec = diag.spec
    if spec.program.trains.get(name) is decl:
        return spec, diag.measurements
    from .train.measure import Measurements
    trial = Spec(replace(spec.program, trains={**spec.program.trains, name: decl}), spec.text)
    return trial, Measurements(trial, loaders=False)


def check_blocks(spec, train: Optional[str] = None, tables: bool = True, measurements=None) -> dict:
    """Check every data block, and every train block (only `train`, when given: no data another block
    uses is read), loading no data but csv tables (with `tables`), which are cheap to read and whose
    width and targets the model must fit; return model -> frozen labels (see `frozen_models`). Stops at
    the first error (tune checks each point of a search space so); `diagnose` finds them all.
    `measurements` (train/measure.Measurements) holds the data vector(auto) already loaded for `spec`."""
    from .data.config import read_data
    from .train.config import read_train
    from .train.measure import Measurements
    measurements = measurements or Measurements(spec, loaders=False)
    env = spec.program.global_env()
    for decl in spec.program.data.values():
        read_data(decl, env)
    configs = {}
    for name in [train] if train is not None else spec.program.trains:
        configs[name] = cfg = read_train(spec, name, measurements=measurements)
        if tables:  # a csv table is read (once: vector(auto) may have): its width and targets against the model
            from .train.task_checks import check_table_fits
            check_table_fits(spec, cfg, measurements.measure(cfg.model, name))
    return frozen_models(configs)


def frozen_models(configs: dict) -> dict:
    """Train block name -> TrainConfig in; the loggers each needs checked as installed, and model -> the
    labels frozen by the first train block training it out (compile's summaries count trainables so)."""
    from .train.loggers import require_packages
    frozen = {}
    for cfg in configs.values():
        require_packages(cfg.log)
        frozen.setdefault(cfg.model, cfg.freeze)
    return frozen


def data_paths(spec) -> dict:
    """Each data block's data path (cached and batched, or per-sample DataLoader) and why, without data."""
    from .data.config import describe_split, read_data
    from .data.route import describe_route
    env = spec.program.global_env()
    paths = {}
    for name, decl in spec.program.data.items():
        cfg = read_data(decl, env)
        paths[name] = f"{describe_route(cfg)}{_padding_notes(spec, name, cfg.bucket)}; {describe_split(cfg)}"
    return paths


def _padding_notes(spec, data: str, bucket) -> str:
    """What the token batches of data block `data` are padded to, for each model a train block trains on it."""
    from .data.route import padding_note
    program, notes = spec.program, []
    models = dict.fromkeys(program.linked(t, "model") for t in program.trains.values()
                           if program.linked(t, "data") == data)
    for model in models:
        try:
            note = padding_note(spec.plan(model), bucket) if model in program.models else ""
        except DlspecError:  # the model's own mistake, reported with the models
            note = ""
        if note:
            notes.append(note if len(models) == 1 else f"{note} for model {model}")
    return "".join(notes)


# ---- models, going on past a failing step ------------------------------


def _check_model(diag: Diagnosis, name: str, train: Optional[str]) -> None:
    """Plan a model (with the facts of train block `train`'s data, else of the first linking it); after an
    error, replace the failing step by `identity` and plan it again."""
    spec = diag.spec
    measured = diag.measurements.measure(name, train)
    try:
        diag.plans[name] = spec.plan(name, measured.checked())
        return
    except DlspecError as exc:
        error = exc
    decl = spec.program.models[name]
    # Errors of a model with lines cut out (or using a block with lines cut out) may come from the cut:
    # the syntax error is the news. It is still planned on, for the shapes editors show.
    cut = diag.recovered.in_broken(decl.loc.line) and decl.loc.file == diag.path \
        or _uses_cut_block(diag, decl.body)
    tables = {"models": dict(spec.program.models), "blocks": dict(spec.program.blocks)}
    seen, replaced, width = set(), False, None
    while _key(error) not in seen and len(seen) <= MAX_REPORTED_ERRORS:  # one more: to know there are more
        seen.add(_key(error))
        if not cut and not (replaced and isinstance(error, (ShapeError, UnusedInput))):
            diag.errors.append(error)
        if isinstance(error, LimitError):  # too big or too deep as a whole: a replaced step changes nothing
            return
        if measured.error is error:  # vector(auto)'s data failed: go on with a provisional
            width = (1,)  # width, for the model's own mistakes (its shape errors may come from the guess)
        else:
            replaced_call = replace_failing_step(spec.program, tables, error.loc)
            if replaced_call is None:
                return
            diag.stand_ins[_place(replaced_call)] = error
        replaced = True
        trial = Spec(replace(spec.program, **tables), spec.text)
        facts = _provisional(decl, width) if width is not None else measured.facts
        try:
            with warnings.catch_warnings(record=True):  # warnings of a modified model are not the user's
                diag.plans[name] = trial.plan(name, facts)
            return
        except DlspecError as exc:
            error = exc


def _provisional(decl: ir.ModelDecl, width: tuple) -> DataFacts:
    """Stand-in facts after the linked data failed: a width for vector(auto) (and a vocabulary for tokens)
    of the one input, or of each named input of a model with several, so the data's mistake is not
    reported again at every input that takes a size from it."""
    names = [d.name for d in leading_inputs(decl.body.statements) if d.name]
    if len(names) < 2:
        return DataFacts(sample_shape=width)
    return DataFacts(sample_shape=width, inputs=tuple((n, DataFacts(sample_shape=width, vocab=2)) for n in names))


def _uses_cut_block(diag: Diagnosis, body: ir.Body) -> bool:
    """Whether a body calls, directly or through other blocks, a block that had a syntax error.

    A walk with its own stack: a chain of thousands of blocks each calling the next needs no Python stack."""
    recovered, blocks = diag.recovered, diag.spec.program.blocks
    seen, pending = set(), [body]
    while pending:
        for node in body_nodes(pending.pop()):
            target = getattr(node, "target", None)
            callee = getattr(target, "callee", getattr(target, "name", None))
            if callee not in blocks or callee in seen:
                continue
            seen.add(callee)
            decl = blocks[callee]
            if decl.loc.file == diag.path and recovered.in_broken(decl.loc.line):
                return True
            pending.append(decl.body)
    return False


def _place(loc) -> tuple:
    return (loc.file, loc.line, loc.column)


# ---- sorting and filtering ---------------------------------------------


def _key(error: DlspecError) -> tuple:
    loc = error.loc
    return (loc.file, loc.line, loc.column, error.message) if loc else (None, 0, 0, error.message)


def _finish(diag: Diagnosis, limit: int) -> None:
    """Errors in line order, without duplicates and consequences of cut lines, capped at `limit`."""
    recovered = diag.recovered
    kept, seen = [], set()
    for error in diag.errors:
        if error.loc is not None and error.loc.file == diag.path and diag.text:
            error.loc = replace(error.loc, text=diag.text)  # quote the text as written, not as cut
        if _key(error) in seen or (recovered and recovered.errors and _consequence(error, recovered, diag.path)):
            continue
        seen.add(_key(error))
        kept.append(error)
    kept.sort(key=lambda e: _order(e.loc, diag.path))
    diag.more = len(kept) > limit or bool(recovered and recovered.more)
    diag.errors = kept[:limit]


def _consequence(error: DlspecError, recovered: Recovered, path: str) -> bool:
    if error in recovered.errors:
        return False
    if error.loc is not None and error.loc.file == path and recovered.in_broken(error.loc.line):
        return True
    return any(f"'{name}'" in error.message for name in recovered.lost_names)


def _order(loc, path: str) -> tuple:
    if loc is None:
        return (1, 0, "", 0, 0)
    return (0, loc.file != path, loc.file, loc.line, loc.column)


def _unique_warnings(caught: list, diag: Diagnosis) -> list:
    out, seen = [], set()
    for record in caught:
        warning = record.message
        loc = getattr(warning, "loc", None)
        key = (str(loc), str(warning))
        broken = diag.recovered is not None and loc is not None and loc.file == diag.path \
            and diag.recovered.in_broken(loc.line)
        if key not in seen and not broken:
            seen.add(key)
            out.append(warning)
    return out
