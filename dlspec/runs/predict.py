"""Using a finished run: a run directory in, test metrics, predictions or forecasts out.

Inputs are read by runtime/preprocess.py from the run's meta (runs/meta.py):
the same code the python export's predict.py runs, so both answer alike.
"""
from __future__ import annotations

import os
from typing import Optional

from ..errors import DataError, DlspecError, Loc
from ..runtime.inputs import InputError
from ..runtime.preprocess import run_predictions
from ..runtime.units import OriginalUnits
from ..train.loop import StepSetup, evaluate
from ..train.safe_write import removing_if_empty
from .loaded import LoadedRun
from .meta import run_meta


def evaluate_run(run_dir: str, split: str = "test", device: str = "cpu", trust: bool = False,
                 checkpoint: Optional[str] = None) -> dict:
    """Loss and metrics of a finished run (its best or last weights) on one split (train, val or test)."""
    run = LoadedRun(run_dir, device, trust, checkpoint)
    from ..data.fingerprint import check_run_data
    from ..data.pipeline import build_data
    data = build_data(run.cfg.data, loss_task=run.cfg.loss_task, fitted=run.record.data)
    check_run_data(run.cfg.data, run.record.data, data, "evaluate")
    if run.record.data.task not in (None, data.task):
        raise DataError(f"this run was trained for {run.record.data.task}, but data {run.cfg.data.name} is "
                        f"{data.task} data now", run.cfg.data.loc,
                        hint="evaluate on the data the run trained on (or its checkpoint's field 'task' is damaged)")
    if split not in data.loaders:
        raise DataError(f"this run's data has no {split} split (splits: {', '.join(data.loaders)})")
    loss_def, loss_args = run.cfg.loss
    if run.cfg.outputs:  # several outputs: the weighted total, and each output's loss and metrics
        from ..train.output_losses import Objective, make_output_metrics
        objective = Objective(run.cfg.outputs)
        setup = StepSetup(run.model, loss_def, None, run.device, objective=objective)
        metrics = make_output_metrics(run.cfg.outputs, objective, run.record.spec.outputs or {})
        return evaluate(setup, data.loaders[split], metrics)
    from ..train.metrics import make_metrics
    setup = StepSetup(run.model, loss_def, loss_def.build(loss_args), run.device,  # fp32, one process
                      target_input=run.cfg.target == "input")
    return evaluate(setup, data.loaders[split], make_metrics(run.cfg.metrics, data.target_scale))


def predict(run_dir: str, inputs: list, device: str = "cpu", top: int = 1, steps: int = 1,
            trust: bool = False, batch: int = 64, out: Optional[str] = None, checkpoint: Optional[str] = None,
            max_pixels: Optional[int] = None) -> list:
    """Predictions: a dict per input (image files, CSV rows, or sentences for a text run; folders and
    globs expand to the files the run reads), `batch` inputs at a time; for a time-series run, the next
    `steps` values after the series (or after a CSV given as input). With `out` (.csv or .jsonl) the
    answers are also written there. `checkpoint` picks best or last weights. An image declaring more
    than `max_pixels` pixels (default: the cap the run's image source had) is refused unread: an error
    when named, skipped with a warning when found in a folder or by a glob."""
    from .writers import check_out, check_writable, write_predictions
    _check_max_pixels(max_pixels)
    created = False
    if out:
        check_out(out)
        created = check_writable(out)  # a read-only or full folder is said before any prediction is made
    with removing_if_empty(os.path.dirname(out or "") or os.curdir, created):
        run, meta = ready_run(run_dir, device, trust, checkpoint, max_pixels)
        try:
            answers = run_predictions(units_model(run), meta, list(inputs), top, steps, batch, run.device)
        except InputError as exc:
            loc = Loc(*exc.where) if exc.where else None  # a spot in an input file: quoted with a caret
            raise DataError(exc.message, loc, hint=exc.hint) from None
        if out:
            write_predictions(answers, out)
    return answers


def ready_run(run_dir: str, device: str = "cpu", trust: bool = False, checkpoint: Optional[str] = None,
              max_pixels: Optional[int] = None) -> tuple:
    """(LoadedRun, meta) as predict reads inputs with them: the pixel cap applied, a model whose inputs
    cannot be read from files refused. `dlspec serve` loads a run with this too, so both answer alike."""
    _check_max_pixels(max_pixels)
    run = LoadedRun(run_dir, device, trust, checkpoint)
    meta = run_meta(run)
    if max_pixels is not None and "image" in meta:
        meta["image"]["max_pixels"] = max_pixels
    _check_rows_readable(run, meta)
    return run, meta


def _check_rows_readable(run: LoadedRun, meta: dict) -> None:
    """A model with several inputs reads rows with its data's columns; a data source that recorded no
    way to read them (a dotted source) is refused at its line, before any input is read."""
    if len(meta.get("inputs") or ()) > 1 and not meta.get("inputs_encoding"):
        data = run.cfg.data
        raise DataError(f"predict cannot read inputs for model {run.cfg.model}: it takes {len(meta['inputs'])} "
                        f"inputs ({', '.join(meta['inputs'])}), and data {data.name}'s source records no way to read "
                        "them from files or CSV rows", data.source.loc,
                        hint="`dlspec evaluate` scores the run; from Python, dlspec.runs.predict."
                             "predict_tensors(run_dir, {input: tensor, ...}) answers per output")


def predict_tensors(run_dir: str, x, top: int = 1, device: str = "cpu", trust: bool = False,
                    checkpoint: Optional[str] = None) -> list:
    """Answers for a batch of already-encoded inputs: a tensor, or a dict input name -> tensor for a model
    with several inputs (one answer per row; with several outputs, one nested answer per output)."""
    import torch
    from ..runtime.answers import predict_batch
    run = LoadedRun(run_dir, device, trust, checkpoint)
    meta = run_meta(run)
    rows = next(iter(x.values())).shape[0] if isinstance(x, dict) else x.shape[0]
    with torch.no_grad():
        return predict_batch(units_model(run), x, [str(i) for i in range(rows)], meta, top, run.device)


def _check_max_pixels(value) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise DlspecError(f"max_pixels must be a positive whole number of pixels, received {value!r}",
                          hint="e.g. max_pixels=100_000_000 (100 megapixels)")


def units_model(run: LoadedRun):
    """The run's model answering in the data's units: a regression trained with `scale standard|minmax`
    learnt scaled targets (and, for a series, scaled inputs); users asked for passengers, not z-scores."""
    scale = run.record.data.target_scale
    if not scale or run.record.data.task != "regression" or run.record.spec.outputs:
        return run.model  # several outputs: each one's scale is undone in its answer (preprocess.describe_several)
    return OriginalUnits(run.model, scale["center"], scale["spread"], bool(scale.get("inputs"))).eval()
