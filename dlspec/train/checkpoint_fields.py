"""What a checkpoint must hold: a loaded checkpoint dict (or its weights and a model) in, a one-line
error naming the first damaged field out.

A run directory may come from elsewhere, and a checkpoint is a plain dict:
a field of the wrong type, or weights with other names or shapes than the
model its stored spec builds, would otherwise fail deep inside evaluate,
predict, export or --resume as an "internal error". RunRecord.from_state
(checkpoint.load_record) checks every field when the file is read; the weights are checked against the built
model before they are loaded (check_weights), and the optimizer and RNG states
when a resume restores them (restoring).
"""
from __future__ import annotations

import contextlib

import torch

from ..errors import DlspecError

HINT = "the checkpoint was changed after dlspec wrote it (or by another program); train the run again"


def _int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _optional(check):
    return lambda v: v is None or check(v)


def _list_of(check):
    return lambda v: isinstance(v, (list, tuple)) and all(check(x) for x in v)


def _dict_with(**checks):
    """A dict whose named keys pass their checks (missing keys fail; other keys are free)."""
    return lambda v: isinstance(v, dict) and all(k in v and c(v[k]) for k, c in checks.items())


def _mapping(key, value):
    return lambda v: isinstance(v, dict) and all(key(k) and value(x) for k, x in v.items())


def _str(v) -> bool:
    return isinstance(v, str)


def _tensor(v) -> bool:
    return isinstance(v, torch.Tensor)


_SCALAR = lambda v: isinstance(v, (str, int, float, bool))  # noqa: E731
_STATE_DICT = _mapping(_str, _tensor)


def _column(c) -> bool:
    """One column of a table encoding (data/encoding.py): number, onehot, embed or index."""
    if not (isinstance(c, dict) and _str(c.get("name")) and c.get("kind") in ("number", "onehot", "embed", "index")):
        return False
    if c.get("fill") is not None and not _SCALAR(c["fill"]):
        return False
    if c["kind"] != "number" and not _list_of(_SCALAR)(c.get("levels")):
        return False
    return c["kind"] != "embed" or (_int(c.get("dim")) and c["dim"] >= 1)


_HYPER = ("lr", "initial_lr", "weight_decay", "momentum", "dampening", "eps", "alpha")


def _param_group(g) -> bool:
    """An optimizer's parameter group: parameter indices and numeric hyperparameters."""
    return (isinstance(g, dict) and _list_of(_int)(g.get("params"))
            and all(_number(g[k]) or _tensor(g[k]) for k in _HYPER if k in g)
            and ("betas" not in g or _list_of(lambda b: _number(b) or _tensor(b))(g["betas"])))

# The checkpoint format this dlspec writes and reads: the fields below (train/record.py's RunRecord).
# A checkpoint without 'version' was written before the field existed, in the same format: version 1.
VERSION = 1
KNOWN_VERSIONS = (1,)

# name: (check, what it should be). Required fields are those every dlspec checkpoint has.
REQUIRED = {
    "model": (_STATE_DICT, "a state_dict (names to tensors)"),
    "spec_text": (_str, "the spec's text"),
    "spec_file": (_str, "the spec's path"),
    "settings": (_dict_with(train=_optional(_str), model=_str, epochs=lambda v: _int(v) and v >= 1),
                 "a dict of settings with train (a name or None), model (a name) and epochs (a count)"),
    "epoch": (lambda v: _int(v) and v >= 0, "an epoch count"),
    "history": (_list_of(_dict_with(epoch=_int)), "a list of metric rows with their epoch"),
    "optimizer": (_dict_with(state=lambda v: isinstance(v, dict), param_groups=_list_of(_param_group)),
                  "an optimizer state_dict (parameter groups with numeric hyperparameters)"),
    "rng": (_dict_with(torch=_tensor, python=lambda v: isinstance(v, (list, tuple)) and len(v) == 3),
            "the random generators' states"),
}
OPTIONAL = {
    "version": (_int, "a format version (a whole number)"),
    "overrides": (_mapping(_str, _SCALAR), "a dict of --set values"),
    "scheduler": (lambda v: isinstance(v, dict), "a scheduler state_dict"),
    "scaler": (lambda v: isinstance(v, dict), "a gradient scaler state_dict"),
    "best": (_dict_with(value=_number, epoch=_int, monitor=_str), "the best epoch (value, epoch, monitor)"),
    "stop_best": (_dict_with(value=_number, epoch=_int, monitor=_str),
                  "early_stop's best epoch (value, epoch, monitor)"),
    "bad_epochs": (_int, "an epoch count"),
    "train_time": (_number, "a number of seconds"),
    "train_samples": (_int, "a sample count"),
    "classes": (_list_of(lambda v: isinstance(v, (str, int))), "a list of class names"),
    "normalization": (_dict_with(mean=_list_of(_number), std=_list_of(_number)),
                      "normalisation statistics (mean and std lists)"),
    "task": (_str, "a task name"),
    "vocab": (_list_of(_str), "a list of tokens"),
    "target_scale": (_dict_with(center=_number, spread=_number), "a dict with center and spread"),
    "series": (_dict_with(tail=_list_of(_number), window=_int, horizon=_int), "a dict with tail, window and horizon"),
    "features": (_list_of(_str), "a list of column names"),
    "table": (_dict_with(columns=_list_of(_column)),
              "a table encoding (columns with a name, a kind of number, onehot, embed or index, and their levels)"),
    "sample_shape": (_list_of(lambda v: _int(v) and v >= 1), "a list of sizes"),
    "data_fingerprint": (_mapping(_str, _str), "a dict of file digests"),
    "inputs": (_mapping(_str, _dict_with(kind=_str, columns=_list_of(_str))),
               "a dict of named inputs (each with its kind and columns)"),
    "targets": (_mapping(_str, _dict_with(task=_str)), "a dict of targets (each with its task)"),
    "plugins": (_mapping(_str, _list_of(_str)), "a dict of plugin names"),
    "loggers": (lambda v: isinstance(v, dict), "a dict of logger records"),
    "outputs": (_mapping(_str, lambda v: isinstance(v, dict) and (v.get("task") is None or _str(v["task"])) and
                         (v.get("classes") is None or isinstance(v["classes"], list))),
                "a dict of outputs (task, classes, scale)"),
}


def damaged(path: str, field: str, problem: str) -> DlspecError:
    return DlspecError(f"{path} is damaged: its field '{field}' {problem}", hint=HINT)


def check_fields(state, path: str) -> dict:
    """`state` if every field has the type dlspec wrote; else the one-line error naming the first bad one."""
    if not isinstance(state, dict):
        raise DlspecError(f"{path} is not a dlspec checkpoint: it holds a {type(state).__name__}, not a dict",
                          hint=NOT_A_RUN)
    _check_dlspec_fields(state, path)
    _check_version(state, path)
    for name, (check, what) in REQUIRED.items():
        if name not in state:
            raise damaged(path, name, "is missing")
        if not check(state[name]):
            raise damaged(path, name, f"is not {what}")
    for name, (check, what) in OPTIONAL.items():
        if state.get(name) is not None and not check(state[name]):
            raise damaged(path, name, f"is not {what}")
    _check_table_width(state, path)
    return state


# fields that say a dict is a dlspec checkpoint at all (the others, like model or epoch, are common elsewhere)
_OWN_FIELDS = ("version", "spec_text", "settings")
NOT_A_RUN = "pass a run directory made by dlspec fit"


def _check_dlspec_fields(state: dict, path: str) -> None:
    """A dict without any field only dlspec writes is someone else's: a plain state_dict, another library's
    checkpoint. Said as such, rather than as a dlspec checkpoint missing its fields."""
    if any(name in state for name in _OWN_FIELDS):
        return
    if state and all(isinstance(k, str) and _tensor(v) for k, v in state.items()):
        what = "a plain state_dict (names to tensors)"
    else:
        keys = [str(k) for k in state]
        what = f"a dict with keys {', '.join(keys[:5])}{', ...' if len(keys) > 5 else ''}" if keys else "an empty dict"
    raise DlspecError(f"{path} is not a dlspec checkpoint: it holds {what}, without the fields dlspec writes "
                      f"({', '.join(_OWN_FIELDS[1:])})",
                      hint=NOT_A_RUN + '; weights alone can start a new run: `init "FILE"` in a train block')


def _check_version(state: dict, path: str) -> None:
    """The format version: a whole number this dlspec knows (missing: version 1, written before the field)."""
    version = state.get("version", 1)
    check, what = OPTIONAL["version"]
    if not check(version):
        raise damaged(path, "version", f"is not {what}")
    if version not in KNOWN_VERSIONS:
        raise DlspecError(f"{path} has checkpoint format {version} (its field 'version'), which this dlspec cannot "
                          f"read: it reads format {', '.join(map(str, KNOWN_VERSIONS))}",
                          hint="the run was written by another version of dlspec: use that one, or train the "
                               "run again")


def _check_table_width(state: dict, path: str) -> None:
    """A table encoding makes exactly the feature vector the run's samples had."""
    table, shape = state.get("table"), state.get("sample_shape")
    if not table or not shape or len(shape) != 1:
        return
    width = sum(len(c["levels"]) if c["kind"] == "onehot" else 1 for c in table["columns"])
    if width != shape[0]:
        raise damaged(path, "table", f"encodes {width} feature{'s' if width != 1 else ''}, but the run's samples "
                                     f"had {shape[0]} (field 'sample_shape')")


def check_weights(model: torch.nn.Module, weights: dict, path: str) -> None:
    """The checkpoint's weights have exactly the names and shapes of `model` (built from its spec)."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in weights]
    unexpected = [k for k in weights if k not in expected]
    resized = [k for k in expected if k in weights and tuple(weights[k].shape) != tuple(expected[k].shape)]
    problems = []
    if missing:
        problems.append(f"lacks {_names(missing)}")
    if unexpected:
        problems.append(f"has {_names(unexpected)} the model lacks")
    if resized:
        k = resized[0]
        problems.append(f"has {k} of shape {list(weights[k].shape)} where the model's is {list(expected[k].shape)}"
                        + (f" (and {len(resized) - 1} more)" if len(resized) > 1 else ""))
    if problems:
        raise damaged(path, "model", "does not fit the model its spec builds: it " + "; it ".join(problems))


def _names(keys: list) -> str:
    shown = ", ".join(keys[:3])
    return f"{len(keys)} weight{'s' if len(keys) != 1 else ''} ({shown}{', ...' if len(keys) > 3 else ''})"


@contextlib.contextmanager
def restoring(path: str, field: str):
    """Loading a state (optimizer, scheduler, scaler, RNG) that its object refuses is a damaged field."""
    try:
        yield
    except (ValueError, TypeError, KeyError, IndexError, RuntimeError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise damaged(path, field, f"cannot be restored: {first}") from None


# per-parameter buffers of torch's element-wise optimizers: each has its parameter's shape
_ELEMENTWISE = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq", "momentum_buffer", "square_avg", "grad_avg",
                "acc_delta", "sum")


def check_optimizer_state(optimizer, path: str) -> None:
    """After loading: an element-wise buffer (Adam's exp_avg, SGD's momentum) of another shape than its
    parameter would fail at the first step; it is a damaged 'optimizer' field here."""
    for group in optimizer.param_groups:
        for param in group["params"]:
            for key, value in optimizer.state.get(param, {}).items():
                if key in _ELEMENTWISE and isinstance(value, torch.Tensor) and value.shape != param.shape:
                    raise damaged(path, "optimizer", f"cannot be restored: its {key} of shape {list(value.shape)} "
                                                     f"belongs to a parameter of shape {list(param.shape)}")
