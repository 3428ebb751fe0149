"""Fine-tuning: which parts of a model train, at which learning rate, from which weights.

- `freeze LABEL`: no gradients, no optimizer state; modules inside frozen parts
  stay in eval mode (BatchNorm statistics stay put).
- `lr_for={LABEL: lr}`: one optimizer param group per label.
- `unfreeze LABEL at=N`: from epoch N the part trains, added to the optimizer
  with its `lr_for` rate (LambdaLR schedules extend to the new group).
- `init path=RUN only=LABEL` loads the tensors whose names and shapes match
  (only under LABEL when given) from a run, a dlspec checkpoint or a plain
  `torch.save(model.state_dict())` file; different shapes, or no name in
  common, are an error that lists the keys on both sides, so a fine-tune never
  silently starts from random weights.
"""
from __future__ import annotations

import os

import torch

from ..errors import DlspecError, TrainError
from .checkpoint import read_weights_file


def init_weights(model, init: dict, loc) -> str:
    """Load matching tensors from an earlier run or a weights file (only under `only` when given);
    strict about shapes, and a file that matches nothing names the keys on both sides."""
    path = init["path"]
    if os.path.isdir(path) and os.path.exists(os.path.join(path, "best.ckpt")):
        path = os.path.join(path, "best.ckpt")
    source = read_weights(path, init["path"], loc)
    prefix = init["only"] + "." if init["only"] else ""
    target = model.state_dict()
    wanted = [k for k in target if k.startswith(prefix)]
    loaded = [k for k in wanted if k in source]
    bad = [f"{k} {tuple(source[k].shape)} -> {tuple(target[k].shape)}" for k in loaded
           if source[k].shape != target[k].shape]
    if bad:
        raise TrainError(f"init: shapes differ for {len(bad)} tensor(s): {_few(bad)}", loc,
                         hint="use only=LABEL to load just the parts that match")
    unexpected = [k for k in source if k.startswith(prefix) and k not in target]
    if not loaded:
        raise TrainError(f"init: no tensor of {init['path']} matches {init['only'] or 'the model'}: the model has "
                         f"{_few(wanted)}; the file has {_few(unexpected or list(source))}", loc,
                         hint=_renaming_hint(list(source), wanted))
    model.load_state_dict({k: source[k] for k in loaded}, strict=False)
    missing = [k for k in target if k not in loaded]
    report = f"init: loaded {len(loaded)} tensors from {path}"
    if missing:
        report += f"; not loaded ({len(missing)}): {_few(missing, 8)}"
    if unexpected:
        report += f"; in the file but not the model ({len(unexpected)}): {_few(unexpected, 8)}"
    return report


# the keys under which a checkpoint file keeps a model's state_dict: dlspec's own, then common ones
_STATE_KEYS = ("model", "state_dict", "model_state_dict")


WEIGHTS_HINT = "save weights with torch.save(model.state_dict(), PATH), or give a dlspec run directory"


def read_weights(path: str, shown: str, loc) -> dict:
    """A state_dict (name -> tensor) from a dlspec checkpoint, from a file holding one under a usual key,
    or a plain `torch.save(model.state_dict())` file; anything else is an error at the init line."""
    try:
        content = read_weights_file(path, "weights file")[1]  # a plain state_dict is no run checkpoint
    except DlspecError as exc:  # the message names the file and says what it is not
        raise TrainError(f"init: {exc.message}", loc, hint=WEIGHTS_HINT) from None
    if isinstance(content, dict):
        for key in _STATE_KEYS:
            if isinstance(content.get(key), dict) and _is_state_dict(content[key]):
                return content[key]
        if _is_state_dict(content):
            return content
    raise TrainError(f"init: {shown} holds no state_dict (a dict of named tensors), and no checkpoint "
                     f"with one under {', '.join(repr(k) for k in _STATE_KEYS)}; it holds {_describe(content)}",
                     loc, hint=WEIGHTS_HINT)


def _is_state_dict(content: dict) -> bool:
    return bool(content) and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in content.items())


def _describe(content) -> str:
    if isinstance(content, dict):
        return f"a dict with keys {_few([str(k) for k in content])}"
    return f"a {type(content).__name__}"


def _few(names: list, n: int = 5) -> str:
    """The first `n` names, and how many more."""
    if not names:
        return "nothing"
    return ", ".join(names[:n]) + (f" ... ({len(names) - n} more)" if len(names) > n else "")


def _renaming_hint(source: list, wanted: list) -> str:
    """When the file's names differ from the model's by a leading part (module. from DataParallel, say)."""
    for have, want in ((source, wanted), (wanted, source)):
        heads = {k.split(".", 1)[0] for k in have if "." in k}
        if len(heads) == 1 and all("." in k for k in have):
            head = heads.pop() + "."
            if {k[len(head):] for k in have} & set(want):
                side = "file" if have is source else "model"
                return (f"every name in the {side} starts with '{head}', which the other lacks: save the state_dict "
                        f"of the inner module, or rename the keys")
    return "init loads tensors by name: save the file from this model (torch.save(model.state_dict(), PATH)) or rename its keys"


def _under(name: str, labels) -> bool:
    return any(name == label or name.startswith(label + ".") for label in labels)


def freeze(model, labels) -> None:
    """Turn off gradients for every parameter under the labels."""
    for label in labels:
        for p in model.get_submodule(label).parameters():
            p.requires_grad_(False)


def frozen_leaves(model, frozen, unfrozen) -> list:
    """Modules inside frozen parts (not unfrozen since): the trainer keeps them in eval mode."""
    return [m for name, m in model.named_modules() if name and _under(name, frozen) and not _under(name, unfrozen)]


def param_groups(model, lr_for: dict, freeze_loc) -> list:
    """Trainable parameters, grouped by lr_for labels (each with its own learning rate)."""
    taken, groups = set(), []
    for label, lr in lr_for.items():
        params = [p for p in model.get_submodule(label).parameters() if p.requires_grad and id(p) not in taken]
        taken.update(id(p) for p in params)
        if params:
            groups.append({"params": params, "lr": float(lr)})
    rest = [p for p in model.parameters() if p.requires_grad and id(p) not in taken]
    if not rest and not groups:
        raise TrainError("every parameter is frozen: nothing to train", freeze_loc)
    return ([{"params": rest}] if rest else []) + groups


def unfreeze_due(model, cfg, optimizer, scheduler, unfrozen: list, epoch_number: int) -> list:
    """Unfreeze the labels due by this (1-based) epoch, adding their parameters to the optimizer;
    `unfrozen` is updated, and the (label, parameters) unfrozen now are returned."""
    lr_for = cfg.optimizer[1].get("lr_for") or {}
    done = []
    for label, at in cfg.unfreeze:
        if at > epoch_number or label in unfrozen:
            continue
        unfrozen.append(label)
        params = [p for p in model.get_submodule(label).parameters() if not p.requires_grad]
        for p in params:
            p.requires_grad_(True)
        owners = [lb for lb in lr_for if _under(label, [lb])]
        lr = float(lr_for[max(owners, key=len)] if owners else cfg.optimizer[1]["lr"])
        optimizer.add_param_group({"params": params, "lr": lr, "initial_lr": lr})
        if scheduler is not None and hasattr(scheduler, "lr_lambdas"):
            scheduler.base_lrs.append(lr)
            scheduler.lr_lambdas.append(scheduler.lr_lambdas[0])
        done.append((label, params))
    return done
