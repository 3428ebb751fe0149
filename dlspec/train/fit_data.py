"""The data side of a fit: a train block (and the bundle read_train may have measured) in; the loaded
DataBundle, the model's plan for the data's facts and, for a model with several outputs, what the data
says of each target out, with every check of data against model run before the model is built.

Split from trainer.py, which calls `load_data` then `plan_for_data`; the checks themselves live in
task_checks.py (one output) and targets.py (named inputs and outputs).
"""
from __future__ import annotations

from .config import fitted_to_task
from .losses import loss_task
from .measure import facts_of
from .targets import check_named_batch, check_output_targets, output_targets
from .task_checks import check_data_fits_model, check_task, warn_ordinal_categories


def load_data(cfg, measured, device, dist, resumed):
    """The data, loaded once: the bundle read_train measured when it is what this run would load."""
    if measured is not None and measured.fit_can_reuse(cfg, device, resumed):
        return measured.bundle
    from ..data.pipeline import build_data
    with dist.local_first():  # downloads happen once per node
        return build_data(cfg.data, pin_memory=device.type == "cuda", loss_task=cfg.loss_task,
                          device=device, augment_seed=cfg.seed, fitted=resumed.data if resumed else None)


def plan_for_data(spec, cfg, data, log) -> tuple:
    """(the train block fitted to the data's task, the model's plan, name -> target facts ({} for one
    output)), once the loss, metrics and model are known to fit the data."""
    cfg = fitted_to_task(cfg, data.task)  # no `loss` written: mse for a regression
    _announce_default_loss(cfg, log)
    plan = spec.plan(cfg.model, facts_of(data))  # the vocabulary, a vector(auto) width: the data's own
    _pad_tokens(data, plan, cfg.data.bucket)
    first_targets = check_named_batch(spec, cfg, data, plan)  # several inputs or outputs: dicts by name
    targets = output_targets(data, first_targets) if cfg.outputs else {}
    if cfg.outputs:
        check_output_targets(cfg, targets, plan)  # each output's loss fits its target's task
    else:
        check_task(cfg, data, plan)  # loss and metrics fit the data's task
        check_data_fits_model(spec, cfg, data, plan)
        warn_ordinal_categories(spec, cfg, data, plan)
    return cfg, plan, targets


def _announce_default_loss(cfg, log) -> None:
    """The train block names no loss: say which one the run uses, and why."""
    if "loss" in cfg.locs:
        return
    if cfg.target == "input":  # config.py's default for an autoencoder
        log(f"loss {cfg.loss[0].name}: the train block names no loss and its target is the input")
    elif loss_task(cfg.loss[0]) == "regression":  # the default, fitted to the data
        log(f"loss {cfg.loss[0].name}: the train block names no loss and data {cfg.data.name} is a regression")


def _pad_tokens(data, plan, bucket) -> None:
    """A token model whose results do not depend on the pads after a batch's longest sentence gets
    batches cut to it (data/padding.py); the fit header says which."""
    from ..data.padding import pad_per_batch
    from ..data.route import padding_note
    pad_per_batch(data.loaders, plan)
    data.path += padding_note(plan, bucket)
