"""Using a finished run: a run directory in, test metrics, predictions or forecasts out."""
from __future__ import annotations

import csv
import os
from typing import Optional

import torch

from ..errors import DataError
from ..train.loop import evaluate
from .loaded import LoadedRun


def evaluate_run(run_dir: str, split: str = "test", device: str = "cpu", trust: bool = False,
                 checkpoint: str = "best") -> dict:
    """Loss and metrics of a finished run (its best or last weights) on one split (train, val or test)."""
    run = LoadedRun(run_dir, device, trust, checkpoint)
    from ..data.pipeline import build_data
    data = build_data(run.cfg.data, loss_task=run.cfg.loss_task)
    if split not in data.loaders:
        raise DataError(f"this run's data has no {split} split (splits: {', '.join(data.loaders)})")
    loss_def, loss_args = run.cfg.loss
    from ..train.metrics import make_metrics
    return evaluate(run.model, data.loaders[split], loss_def.build(loss_args), loss_def.name,
                    make_metrics(run.cfg.metrics, data.target_scale), run.device, None)


def predict(run_dir: str, inputs: list, device: str = "cpu", top: int = 1, steps: int = 1,
            trust: bool = False, checkpoint: str = "best") -> list:
    """Predictions: a dict per input (image files, CSV rows, or sentences for a text run);
    for a time-series run, the next `steps` values after the series (or after a CSV given as input)."""
    run = LoadedRun(run_dir, device, trust, checkpoint)
    if run.state.get("series"):
        return forecast(run, inputs, steps)
    if run.state.get("vocab"):
        return _predict_sentences(run, inputs, top)
    if not inputs:
        raise DataError("give at least one input: image files or CSV files of feature rows")
    samples, names = [], []
    for path in inputs:
        if not os.path.exists(path):
            raise DataError(f"file not found: {path}")
        if path.lower().endswith(".csv"):
            for i, row in enumerate(_feature_rows(path, run)):
                samples.append(row)
                names.append(f"{path}:{i + 2}")
        else:
            samples.append(_image(path, run))
            names.append(path)
    with torch.no_grad():
        out = original_units(run.model(torch.stack(samples).to(run.device)).float().cpu(), run.state)
    return [_describe(name, o, run.classes, run.state.get("task"), top) for name, o in zip(names, out)]


def original_units(out: torch.Tensor, state: dict) -> torch.Tensor:
    """Regression outputs of a run trained with `scale standard|minmax`, mapped back to the data's units
    (the model learnt scaled targets; users asked for passengers, not z-scores)."""
    scale = state.get("target_scale")
    if not scale or state.get("task") != "regression":
        return out
    return out * scale["spread"] + scale["center"]


def _image(path: str, run: LoadedRun):
    from PIL import Image, UnidentifiedImageError
    from ..data.pipeline import inference_transform
    mode = (run.cfg.data.source_args or {}).get("mode", "RGB")
    try:
        with Image.open(path) as img:
            image = img.convert(mode)
    except (UnidentifiedImageError, OSError) as exc:
        raise DataError(f"cannot read image {path}: {exc}") from None
    from ..data.sources.base import SOURCES
    declared = SOURCES.get(run.cfg.data.source.name)
    if declared is not None and declared.input_kind == "grayscale image":
        image = image.convert("L")
    x = inference_transform(run.cfg.data, run.state.get("normalization"), image)(image)
    return _fit_to_model(x, run)


def _fit_to_model(x, run: LoadedRun):
    want = tuple(run.spec.plan(run.cfg.model).in_shape.dims)
    if tuple(x.shape) != want and len(want) == 3:
        x = torch.nn.functional.interpolate(x.unsqueeze(0), size=want[1:], mode="bilinear",
                                            antialias=True, align_corners=False)[0]
        if x.shape[0] != want[0]:
            x = x.mean(0, keepdim=True).expand(want[0], -1, -1)
    if tuple(x.shape) != want:
        raise DataError(f"input of shape {list(x.shape)} does not fit the model's {list(want)}")
    return x


def _feature_rows(path: str, run: LoadedRun) -> list:
    """Feature rows of a CSV given to predict, read like the training table (encoding, finite cells)."""
    import io
    from ..data.pipeline import inference_transform
    from ..data.sources.base import number, read_text
    args = run.cfg.data.source_args or {}
    reader = csv.DictReader(io.StringIO(read_text(path, args.get("encoding", "utf-8"), None), newline=""))
    header = reader.fieldnames or []
    target, features = args.get("target"), args.get("features")
    cols = _expected_columns(path, header, run) or (
        [str(c) for c in features] if features else [h for h in header if h != target])
    missing = [c for c in cols if c not in header]
    if missing or not cols:
        raise DataError(f"{path}: expected numeric columns {', '.join(cols)}; the header has {', '.join(header)}")
    rows = []
    for row in reader:
        line = reader.line_num
        values = torch.tensor([number(row[c] or "", path, line, f"'{c}'", None) for c in cols])
        rows.append(inference_transform(run.cfg.data, run.state.get("normalization"), values)(values))
    return rows


def _expected_columns(path: str, header: list, run: LoadedRun) -> list:
    """The feature columns the run was trained on (recorded in its checkpoint), checked against
    the header of a CSV given to predict; [] for older runs that did not record them."""
    trained = [str(c) for c in run.state.get("features") or []]
    missing = [c for c in trained if c not in header]
    if missing:
        raise DataError(f"{path} has no column {', '.join(missing)}; the model was trained on columns "
                        f"{', '.join(trained)} (header of {path}: {', '.join(header) or 'none'})",
                        hint="give a CSV whose header names those columns (extra columns are ignored)")
    return trained


def _describe(name: str, out: torch.Tensor, classes: Optional[list], task: Optional[str], top: int) -> dict:
    if task == "regression" or not classes:
        return {"input": name, "prediction": out.tolist() if out.numel() > 1 else float(out)}
    if out.numel() == 1:
        p = float(torch.sigmoid(out))
        index = int(p > 0.5)
        return {"input": name, "label": str(classes[index]), "probability": p if index else 1 - p}
    probs = torch.softmax(out, 0)
    values, indices = probs.topk(min(top, len(probs)))
    best = [{"label": str(classes[i]), "probability": float(v)} for v, i in zip(values, indices)]
    return {"input": name, **best[0], "top": best}


def _predict_sentences(run: LoadedRun, sentences: list, top: int) -> list:
    from ..data.sources.text import encode, tokenize
    if not sentences:
        raise DataError('give at least one sentence, e.g. dlspec predict RUN_DIR "a great film"')
    max_len = run.spec.plan(run.cfg.model).in_shape.dims[0]
    ids = encode([tokenize(s) for s in sentences], run.state["vocab"], max_len)
    with torch.no_grad():
        out = run.model(ids.to(run.device)).float().cpu()
    return [_describe(s, o, run.classes, "classification", top) for s, o in zip(sentences, out)]


def forecast(run: LoadedRun, inputs: list, steps: int) -> list:
    """Roll the model forward `steps` values past the end of the series, in original units."""
    info, scale = run.state["series"], run.state.get("target_scale")
    history = _series_from_csv(inputs[0], run) if inputs else list(info["tail"])
    if len(history) < info["window"]:
        raise DataError(f"the series needs at least {info['window']} values to forecast from; got {len(history)}")
    center, spread = (scale["center"], scale["spread"]) if scale else (0.0, 1.0)
    values = [(v - center) / spread for v in history[-info["window"]:]]
    out = []
    with torch.no_grad():
        while len(out) < steps:
            x = torch.tensor(values[-info["window"]:], dtype=torch.float32).view(1, -1, 1).to(run.device)
            predicted = run.model(x).float().cpu().flatten().tolist()
            values.extend(predicted)
            out.extend(predicted)
    return [{"input": f"t+{i + 1}", "prediction": v * spread + center} for i, v in enumerate(out[:steps])]


def _series_from_csv(path: str, run: LoadedRun) -> list:
    from ..data.sources.series import _timeseries
    args = dict(run.cfg.data.source_args or {})
    args.update(path=path, window=1, horizon=1, step=1)
    return _timeseries(args, run.cfg.data.source.loc).series.values
