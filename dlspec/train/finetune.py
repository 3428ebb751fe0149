"""Starting from an earlier run: a checkpoint and a model in, matching weights loaded out.

`init path=RUN only=LABEL` in a train block loads the tensors whose names and
shapes match (only under LABEL when given); anything else is an error that
lists the mismatches, so a fine-tune never silently starts from random weights.
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
