"""Fine-tuning: which parts of a model train, at which learning rate, from which weights.

- `freeze LABEL`: no gradients, no optimizer state; modules inside frozen parts
  stay in eval mode (BatchNorm statistics stay put).
- `lr_for={LABEL: lr}`: one optimizer param group per label.
- `unfreeze LABEL at=N`: from epoch N the part trains, added to the optimizer
  with its `lr_for` rate (LambdaLR schedules extend to the new group).
- `init path=RUN only=LABEL` loads the tensors whose names and shapes match
  (only under LABEL when given); anything else is an error that lists the
  mismatches, so a fine-tune never silently starts from random weights.
"""
from __future__ import annotations

import os

from ..errors import DlspecError, TrainError
from .checkpoint import load_checkpoint


def init_weights(model, init: dict, loc) -> str:
    """Load matching tensors from an earlier run (only under `only` when given); strict about shapes."""
    path = init["path"]
    if os.path.isdir(path) and os.path.exists(os.path.join(path, "best.ckpt")):
        path = os.path.join(path, "best.ckpt")
    try:
        source = load_checkpoint(path)["model"]
    except (DlspecError, KeyError) as exc:
        raise TrainError(f"init: cannot read weights from {init['path']}: {getattr(exc, 'message', exc)}", loc) from None
    prefix = init["only"] + "." if init["only"] else ""
    target = model.state_dict()
    wanted = [k for k in target if k.startswith(prefix)]
    loaded = [k for k in wanted if k in source]
    bad = [f"{k} {tuple(source[k].shape)} -> {tuple(target[k].shape)}" for k in loaded
           if source[k].shape != target[k].shape]
    if bad:
        raise TrainError(f"init: shapes differ for {len(bad)} tensor(s): {'; '.join(bad[:5])}", loc,
                         hint="use only=LABEL to load just the parts that match")
    if not loaded:
        raise TrainError(f"init: no tensor of {init['path']} matches {init['only'] or 'the model'}", loc)
    model.load_state_dict({k: source[k] for k in loaded}, strict=False)
    missing = [k for k in target if k not in loaded]
    report = f"init: loaded {len(loaded)} tensors from {path}"
    if missing:
        report += f"; not loaded ({len(missing)}): {', '.join(missing[:8])}{' ...' if len(missing) > 8 else ''}"
    return report


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
