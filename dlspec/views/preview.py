"""Data previews (`dlspec data`): a loaded spec and a data block name in, a description of the data
or a picture of training samples after augmentation out.

The grid has a row per class: the first cell is a training sample with only
the deterministic transforms, the next cells are augmented draws of that
sample and of the following ones of its class, so a flipped digit or a
too-strong rotation shows at a glance. Normalisation is left out of the
picture (it would only change the colours' scale). Image samples ([C, H, W],
C of 1 or 3, or [H, W]) are shown as images; other samples as line plots.
"""
from __future__ import annotations

import math
from typing import Optional

from ..errors import DataError, UnknownNameError, did_you_mean

MAX_ROWS = 20  # classes shown; more are left out (named in the title)
MASK_ROWS = 6  # segmentation samples shown, each beside its mask


def data_block(spec, name: Optional[str]):
    """The `DataConfig` of the named data block, or of the one the train block uses, or the only one."""
    from ..data.config import read_data
    from ..data.model_inputs import link_model
    program = spec.program
    if name is None:
        linked = [program.linked(t, "data") for t in program.trains.values()]
        name = linked[0] if len(program.trains) == 1 and linked[0] in program.data else None
        if name is None and len(program.data) == 1:
            name = next(iter(program.data))
        if name is None:
            raise DataError(f"{program.filename} has {len(program.data)} data blocks; choose one with --data"
                            + (f" ({', '.join(program.data)})" if program.data else ""))
    if name not in program.data:
        raise UnknownNameError(f"no data block named '{name}'." + did_you_mean(name, program.data),
                               hint=f"data blocks: {', '.join(program.data) or 'none'}")
    cfg = read_data(program.data[name], program.global_env())
    feeding = [program.linked(t, "model") for t in program.trains.values() if program.linked(t, "data") == name]
    model = next((m for m in feeding if m in program.models), None)
    return link_model(cfg, program, model) if model is not None else cfg  # a csv with inputs= reads by the model


def describe(spec, name: Optional[str] = None) -> list:
    """Lines describing a data block once loaded: samples per split, one sample's shape, classes."""
    from ..data.pipeline import build_data
    cfg = data_block(spec, name)
    bundle = build_data(cfg)
    lines = [f"data {cfg.name}: source {cfg.source.name}, {bundle.task}",
             "samples: " + ", ".join(f"{k} {v}" for k, v in bundle.sizes.items()),
             f"one sample: {list(bundle.sample_shape)} (batches of {cfg.batch})" if not bundle.inputs
             else f"one sample: {len(bundle.inputs)} inputs (batches of {cfg.batch})"]
    if bundle.classes:
        shown = ", ".join(map(str, bundle.classes[:20])) + (" ..." if len(bundle.classes) > 20 else "")
        lines.append(f"classes ({len(bundle.classes)}): {shown}")
    if bundle.table:
        lines += table_lines(bundle.table)
    for input_name, info in (bundle.inputs or {}).items():
        lines.append(f"input {input_name}: {info['kind']} from {', '.join(info['columns'])}, one sample {info['shape']}"
                     + (f", vocabulary {len(info['vocab'])}" if info.get("vocab") else ""))
    for output, info in (bundle.targets or {}).items():
        classes = f" ({len(info['classes'])} classes)" if info.get("classes") else ""
        lines.append(f"target {output}: {info['task']}{classes}" + (f" from {info['column']}" if info.get("column")
                                                                      else ""))
    if cfg.ordered:
        lines.append("pipeline (in this order; random steps train-only unless every_split=true): "
                     + " -> ".join(st.name for _, _, st in cfg.ordered))
    elif cfg.augment:
        lines.append("augment (training split only): " + " -> ".join(st.name for _, _, st in cfg.augment))
    return lines


def table_lines(table: dict) -> list:
    """A csv table's columns as the model gets them: numbers, one-hot levels, embedded levels, fills."""
    lines = ["columns (fitted on the training split):"]
    for c in table["columns"]:
        levels = c.get("levels") or []
        shown = ", ".join(map(str, levels[:8])) + (", ..." if len(levels) > 8 else "")
        what = {"number": "number",
                "onehot": f"one-hot, {len(levels)} levels ({shown})",
                "embed": f"{len(levels)} levels ({shown}), each a learnt vector of {c.get('dim')} numbers "
                         "under input vector(auto)",
                "index": f"level index, {len(levels)} levels ({shown})"}.get(c["kind"], c["kind"])
        fill = f"; missing cells: {c['fill']}" if c.get("fill") is not None else ""
        lines.append(f"  {c['name']}: {what}{fill}")
    return lines


def samples_by_class(cfg, per_class: int, seed: int) -> tuple:
    """(rows, class names, whether samples are images): each row is [original, augmented...] tensors."""
    import torch
    from ..data.pipeline import load_source, preview_split
    _refuse_several_inputs(cfg)
    src = load_source(cfg)
    if src.fit_on_train is not None or src.max_len is not None:
        gives = "table rows" if src.features is not None else "token ids"
        raise DataError(f"data {cfg.name}: a preview shows images and series; this source gives {gives}",
                        cfg.source.loc, hint="dlspec data SPEC (without --preview) describes it"
                        + (", column by column" if src.features is not None else ""))
    n = len(src.train)
    if n == 0:
        raise DataError(f"data {cfg.name}: the source has no samples", cfg.source.loc)
    dataset, indices, base, trained = preview_split(cfg, src, "train")
    if src.dense:
        return _mask_rows(cfg, src, dataset, indices, per_class, seed)
    chosen = _pick(dataset, indices, src, per_class)
    rows = []
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        for label, picked in chosen:
            first = base(dataset[picked[0]][0])
            rows.append([first] + [trained(dataset[i][0]) for i in picked])
    names = [_class_name(src.classes, label) for label, _ in chosen]
    return rows, names, _is_image(rows[0][0])


def _refuse_several_inputs(cfg) -> None:
    """A grid shows one picture per sample; a model's several named inputs (an image beside a text and
    numbers) have no one picture, so say that rather than naming whichever input the source read first."""
    side = cfg.model
    if side is None or len(side.inputs) < 2:
        return
    raise DataError(f"data {cfg.name}: a preview shows one image or series per sample; this source feeds "
                    f"{len(side.inputs)} named inputs of model {side.model} ({', '.join(side.names)})",
                    cfg.source.loc, hint="dlspec data SPEC (without --preview) describes each input")


def _mask_rows(cfg, src, dataset, indices: list, per_class: int, seed: int) -> tuple:
    """Segmentation: a row per sample, each image beside its mask (grey levels by class), first through the
    transform steps, then through the augment steps too (image and mask moved together, data/dense.py)."""
    import torch
    from ..data.dense import PairSteps, pair_steps
    from ..data.pipeline import _to_tensor_fn
    to_tensor = _to_tensor_fn(dataset[indices[0]][0])
    plain = PairSteps([to_tensor, *pair_steps(cfg.transform)])
    augmented = PairSteps([to_tensor, *pair_steps(cfg.transform), *pair_steps(cfg.augment)])
    shade = max(len(src.classes or ()) - 1, 1)
    rows = []
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        for i in indices[:MASK_ROWS]:
            row = []
            for steps in [plain] + [augmented] * max(per_class // 2 - 1, 1):
                x, mask = steps(*dataset[i])
                row += [x.as_subclass(torch.Tensor), mask.float() / shade]
            rows.append(row)
    return rows, [f"sample {i}" for i in indices[:MASK_ROWS]], True


def _pick(dataset, indices: list, src, per_class: int) -> list:
    """(label, [index, ...]) per class, in class order; a regression source gives unlabelled rows."""
    if src.task != "classification":
        picked = indices[:per_class * 4]
        return [(None, picked[i:i + per_class]) for i in range(0, len(picked), per_class)]
    targets = src.targets if src.targets is not None and len(src.targets) == len(dataset) else None
    found: dict = {}
    for i in indices:
        label = targets[i] if targets is not None else dataset[i][1]
        label = int(label)
        bucket = found.setdefault(label, [])
        if len(bucket) < per_class:
            bucket.append(i)
        full = sum(len(b) == per_class for b in found.values())
        if src.classes and full >= min(len(src.classes), MAX_ROWS):
            break
    return sorted(found.items())[:MAX_ROWS]


def _class_name(classes, label) -> str:
    if label is None:
        return ""
    return str(classes[label]) if classes and 0 <= label < len(classes) else str(label)


def _is_image(x) -> bool:
    return x.dim() == 2 or (x.dim() == 3 and x.shape[0] in (1, 3))


def preview_grid(spec, name: Optional[str], out: str, per_class: int = 8, seed: int = 0) -> str:
    """Write the preview grid of a data block to `out` (.png, .svg or .pdf); returns `out`."""
    import os
    if os.path.splitext(out)[1].lower() not in (".png", ".svg", ".pdf", ".jpg", ".jpeg"):
        raise DataError(f"cannot write a preview as '{out}'", hint="give -o NAME.png (or .svg, .pdf)")
    cfg = data_block(spec, name)
    rows, names, images = samples_by_class(cfg, per_class, seed)
    steps = " -> ".join(st.name for _, _, st in (cfg.ordered or cfg.augment)) or "no augment steps"
    try:
        _draw(rows, names, images, out, f"data {cfg.name}: training samples after augmentation ({steps})")
    except OSError as exc:
        raise DataError(f"cannot write {out}: {exc.strerror or exc}") from None
    return out


def _draw(rows: list, names: list, images: bool, out: str, title: str) -> None:
    import matplotlib
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    cols = max(len(r) for r in rows)
    cell = 1.2 if images else 1.6
    fig, axes = plt.subplots(len(rows), cols, figsize=(cols * cell + 0.8, len(rows) * cell + 0.7), squeeze=False)
    for r, row in enumerate(rows):
        for c in range(cols):
            ax = axes[r][c]
            ax.set_xticks([]), ax.set_yticks([])
            if c >= len(row):
                ax.set_axis_off()
                continue
            _show(ax, row[c], images)
            if c == 0:
                ax.set_ylabel(names[r], rotation=0, ha="right", va="center", fontsize=9)
                if r == 0:
                    ax.set_title("no augment", fontsize=8)
            elif r == 0:
                ax.set_title("augmented", fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def _show(ax, x, images: bool) -> None:
    x = x.detach().float().cpu()
    if images:
        picture = x if x.dim() == 2 else (x[0] if x.shape[0] == 1 else x.permute(1, 2, 0))
        low, high = float(picture.min()), float(picture.max())
        if low < 0 or high > 1:  # not in [0, 1] (e.g. raw intensities): stretch for display
            picture = (picture - low) / (high - low if high > low else 1.0)
        ax.imshow(picture.numpy(), cmap="gray" if picture.dim() == 2 else None, vmin=0, vmax=1)
    else:
        flat = x.reshape(x.shape[0], -1) if x.dim() > 1 else x.reshape(-1, 1)
        ax.plot(flat.numpy(), lw=0.8)
        ax.margins(x=0, y=0.1 if math.isfinite(float(flat.abs().max())) else 0)
