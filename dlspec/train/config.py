"""Train blocks checked without data: a spec and a train name in, a `TrainConfig` out.

Checks every setting (names, arguments, values, "did you mean"), links the
model and data block, and resolves what the run will use. `dlspec compile`
runs this so mistakes surface before any data is loaded.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Optional

from ..schema import settings as S
from ..data.config import DataConfig, read_data
from ..errors import DlspecError, Loc, TrainError, UnknownNameError, did_you_mean, warn
from ..schema.args import Arg, non_negative, positive
from ..language.resolve import resolve_path
from ..layers.init import init_text
from .losses import LOSSES, check_soft_targets, loss_task
from .optimizers import OPTIMIZERS
from .schedules import SCHEDULES
from .entries import bind
from .devices import device_setting_check
from .task_checks import check_model_end
from .target_checks import check_target_input, check_term_columns
from .loggers import check_log
from .measure import Measurements
from ..planning.layer_init import read_layer_init, warn_unused
from ..data.model_inputs import link_model
from .objective import Labelled, output_columns, plain_outputs, read_loss, read_metrics, read_outputs
from .metrics import check_metrics, higher_is_better, metric_for_column, metric_name

_MODE = Arg("mode", "str", "auto", choices=("auto", "min", "max"))
_EARLY = (Arg("monitor", "str", "val_loss"), Arg("patience", "int", 5, non_negative), _MODE,
          Arg("min_delta", "float", 0.0, non_negative))
_CHECKPOINT = (Arg("monitor", "str", None), _MODE, Arg("min_delta", "float", 0.0, non_negative))

TRAIN_SETTINGS = {d.key: d for d in (
    S.SettingDef("model", S.one("str"), "the model to train (default: the only model)"),
    S.SettingDef("data", S.one("str"), "the data block (default: the only data block)"),
    S.SettingDef("loss", read_loss, "cross_entropy, bce_with_logits, mse, l1, huber, nll; several outputs: "
                                    "loss price: mse * 0.5, kind: cross_entropy"),
    S.SettingDef("target", S.one("str", choices=("labels", "input")),
                 "labels (the data's targets, default) or input: the model reconstructs its input (an autoencoder)"),
    S.SettingDef("optimizer", S.step, "sgd, adam, adamw, rmsprop with lr= and weight_decay="),
    S.SettingDef("schedule", S.step, "constant, step, multistep, cosine, onecycle, plateau (warmup= epochs)"),
    S.SettingDef("epochs", S.one("int", positive), "number of epochs (default 10)"),
    S.SettingDef("clip_grad_norm", S.one("float", positive), "clip the global gradient norm"),
    S.SettingDef("clip_grad_value", S.one("float", positive), "clip each gradient value"),
    S.SettingDef("metrics", read_metrics, "accuracy, top_k(k=5), f1, precision, recall, mae, mse; several "
                                          "outputs: metrics price: mae, kind: accuracy, f1"),
    S.SettingDef("early_stop", S.keywords(_EARLY), "monitor=val_loss patience=5 mode=auto min_delta=0"),
    S.SettingDef("checkpoint", S.keywords(_CHECKPOINT),
                 "monitor=METRIC mode=auto min_delta=0: what decides best.ckpt (default: early_stop's monitor, "
                 "else val_loss, else loss)"),
    S.SettingDef("device", S.one("str", device_setting_check), "auto (cuda, then mps, then cpu), cpu, cuda, cuda:N, mps"),
    S.SettingDef("precision", S.one("str", choices=("auto", "fp32", "bf16", "fp16")), "auto, fp32, bf16, fp16"),
    S.SettingDef("seed", S.one("int"), "random seed (default 0)"),
    S.SettingDef("batch", S.one("int", positive), "samples per batch for this run; wins over the data block's batch"),
    S.SettingDef("test_every", S.one("int", positive),
                 "evaluate the test split every N epochs: test_* columns in metrics.csv (never used to pick best.ckpt)"),
    S.SettingDef("compile", S.one("str", choices=("auto", "on", "off")),
                 "torch.compile the model: auto (only when a calibration on CUDA shows >= 1.1x), on, off"),
    S.SettingDef("freeze", S.names, "labels of submodules to freeze"),
    S.SettingDef("unfreeze", S.keywords((Arg("label", "str"), Arg("at", "int", check=positive))),
                 "unfreeze LABEL at=EPOCH: start training a frozen part at that epoch", repeatable=True),
    S.SettingDef("init", S.keywords((Arg("path", "str"), Arg("only", "str", None))),
                 "init \"RUN_DIR or .ckpt\" [only=LABEL]: start from an earlier run's weights"),
    S.SettingDef("layer_init", read_layer_init,
                 "layer_init conv=kaiming_normal, linear=xavier_uniform: how the weights of every layer of a kind "
                 "start (a layer's own init= wins)"),
    S.SettingDef("out", S.one("str"), "run directory (default runs/<train or model>-<timestamp>)"),
    S.SettingDef("accumulate", S.one("int", positive),
                 "accumulate gradients over N batches per optimizer step (default 1)"),
    S.SettingDef("sync_batchnorm", S.one("bool"),
                 "with several processes, BatchNorm statistics over the global batch (default false)"),
    S.SettingDef("log", S.steps, "where numbers go besides metrics.csv: tensorboard, mlflow(uri=..., experiment=...), "
                                 "csv (one or more)"),
)}


@dataclass
class TrainConfig:
    """A checked train block with defaults filled in."""

    name: Optional[str]
    loc: Loc
    model: str
    data: DataConfig
    loss: tuple
    optimizer: tuple
    schedule: Optional[tuple]
    epochs: int = 10
    clip_grad_norm: Optional[float] = None
    clip_grad_value: Optional[float] = None
    metrics: list = field(default_factory=list)
    early_stop: Optional[dict] = None
    checkpoint: Optional[dict] = None  # monitor, mode, min_delta of best.ckpt, when the block sets them
    device: str = "auto"
    precision: str = "auto"
    seed: int = 0
    compile: str = "auto"  # auto | on | off: see train/presets.py
    freeze: list = field(default_factory=list)
    unfreeze: list = field(default_factory=list)  # (label, epoch) pairs
    init: Optional[dict] = None
    layer_init: dict = field(default_factory=dict)  # layer name -> initialiser call (planning/layer_init.py)
    out: Optional[str] = None
    accumulate: int = 1
    sync_batchnorm: bool = False
    log: list = field(default_factory=list)  # (LoggerDef, args, loc) per logger named by `log`
    test_every: Optional[int] = None  # epochs between test evaluations logged as test_* columns (a curve only)
    target: str = "labels"  # labels | input (each batch's input is its target)
    locs: dict = field(default_factory=dict)
    outputs: Optional[dict] = None  # several outputs: name -> OutputTrain (objective.py); `loss` is the first's

    @property
    def loss_task(self):
        """classification or regression when a written `loss` implies it; None for the default loss or
        a plugin loss (the data's values then decide the task of a numeric target column). With several
        outputs, {output: task} from each output's own loss (a csv decides each target column by its own)."""
        if self.outputs:
            return {name: o.task for name, o in self.outputs.items()}
        return loss_task(*self.loss) if "loss" in self.locs else None

    def metric_names(self) -> list:
        """The metric columns (without val_): per output `price_loss`, `price_mae`, ... with several outputs."""
        if self.outputs:
            return output_columns(self.outputs)
        return [metric_name(m, a) for m, a, _ in self.metrics]

    def best_by(self, has_val: Optional[bool] = None) -> dict:
        """monitor, mode and min_delta that decide best.ckpt: `checkpoint`, else early_stop's, else val_loss
        (the training loss without a val split: `has_val`, else the split fractions, say), lowest best."""
        if self.checkpoint:
            return dict(self.checkpoint)
        if self.early_stop:
            return {k: self.early_stop[k] for k in ("monitor", "mode", "min_delta")}
        has_val = bool(self.data.fractions.get("val")) if has_val is None else has_val
        return {"monitor": default_monitor(has_val), "mode": "auto", "min_delta": 0.0}

    def resolved(self) -> dict:
        """Plain data describing every setting, for run.yaml and checkpoints."""
        return {
            "train": self.name, "model": self.model, "data": self.data.name,
            "loss": _plain_step(self.loss), "optimizer": _plain_step(self.optimizer),
            "schedule": _plain_step(self.schedule) if self.schedule else None, "epochs": self.epochs,
            "clip_grad_norm": self.clip_grad_norm, "clip_grad_value": self.clip_grad_value,
            "metrics": self.metric_names(), "early_stop": self.early_stop, "checkpoint": self.checkpoint,
            "device": self.device,
            "precision": self.precision, "seed": self.seed, "freeze": list(self.freeze),
            "unfreeze": [{"label": label, "at": at} for label, at in self.unfreeze], "init": self.init,
            "batch": self.data.batch, "workers": self.data.workers, "split": dict(self.data.fractions),
            "split_seed": self.data.seed, "scale": self.data.scale, "compile": self.compile, "cache": self.data.cache,
            "bucket": self.data.bucket,
            "accumulate": self.accumulate, "sync_batchnorm": self.sync_batchnorm,
            "log": [{"name": item.name, **args} for item, args, _ in self.log], "test_every": self.test_every,
            **({"target": self.target} if self.target != "labels" else {}),
            # only when written: the settings of a run without them stay as they were
            **({"layer_init": self.layer_init_text()} if self.layer_init else {}),
            **({"outputs": plain_outputs(self.outputs)} if self.outputs else {}),
        }

    def layer_init_text(self) -> dict:
        """The layer_init rule as plain data: layer name -> the initialiser as spec text."""
        return {name: init_text(call) for name, call in self.layer_init.items()}


def _plain_step(pair) -> dict:
    item, args = pair
    return {"name": item.name, **{k: (list(v) if isinstance(v, tuple) else v) for k, v in args.items()}}


def find_train(program, name: Optional[str]):
    """The train block called `name`; with no name, the only one, else the unnamed `train { }` (the
    default beside named ones, which --train picks)."""
    named = [n for n in program.trains if n is not None]
    if name is None:
        if not program.trains:
            raise TrainError(f"{program.filename} has no train block",
                             hint="add `train { model M; data d; epochs 10 }`")
        if None in program.trains or len(program.trains) == 1:
            return program.trains.get(None) or next(iter(program.trains.values()))
        raise TrainError(f"{program.filename} has several train blocks; choose one with --train "
                         f"({', '.join(named)})", hint="or leave one unnamed (`train { ... }`): it is the default")
    if name not in program.trains:
        raise UnknownNameError(f"{program.filename} has no train block named '{name}'."
                               + did_you_mean(name, named) + _train_blocks(program), hint=_TRAIN_HINT)
    return program.trains[name]


_TRAIN_HINT = "--train NAME picks a named block; without --train the unnamed `train { }` (or the only block) runs"


def _train_blocks(program) -> str:
    """' Its train blocks: fast (line 4), the unnamed `train { }` (line 3).' in the message itself (not only
    the hint), so the API's str(error) lists them too."""
    def where(decl):
        loc = decl.loc
        return f"line {loc.line}" if loc.file == program.filename else str(loc)
    listed = [f"{n} ({where(d)})" for n, d in program.trains.items() if n is not None]
    if None in program.trains:
        listed.append(f"the unnamed `train {{ }}` ({where(program.trains[None])})")
    return f" Its train blocks: {', '.join(listed)}." if listed else " It has no train blocks."


def read_train(spec, name: Optional[str] = None, epochs: Optional[int] = None,
               device: Optional[str] = None, measurements: Optional[Measurements] = None) -> TrainConfig:
    """Check a train block of `spec` and everything it links to; its model is planned with the facts of
    the block's own data (a vector(auto) width), never another block's. `measurements` keeps what was
    measured (or given) across calls: without it, the data is measured for this call."""
    decl = find_train(spec.program, name)
    return _read_train(spec, decl, epochs, device, measurements or Measurements(spec))


def _read_train(spec, decl, epochs: Optional[int], device: Optional[str],
                measurements: Measurements) -> TrainConfig:
    program = spec.program
    env = program.global_env()
    v = S.read_settings(decl.settings, TRAIN_SETTINGS, env, "train")
    # The block's own settings before the model and data it links to, so that its mistakes are found
    # (and reported with theirs, by diagnostics) even when a link is wrong or its declaration has an error.
    written = v.get("loss") if not isinstance(v.get("loss"), list) else None  # a list: a loss per output
    default_loss = "mse" if v.get("target") == "input" else "cross_entropy"  # an autoencoder compares values
    loss = bind(LOSSES, written or S.Step(default_loss, (), {}, decl.loc), "loss")
    optimizer = bind(OPTIMIZERS, v.get("optimizer") or S.Step("adam", (), {}, decl.loc), "optimizer")
    schedule = bind(SCHEDULES, v["schedule"], "schedule") if "schedule" in v else None
    per_output = [m for m in v.get("metrics", []) if isinstance(m, Labelled)]
    metrics, log = check_metrics([] if per_output else v.get("metrics", [])), check_log(v.get("log", []))
    init = _init(v.get("init"), v.get("init@loc"))
    out = resolve_path(v["out"], v["out@loc"]) if "out" in v else None
    model = _pick(v, "model", program.models, decl, "model")
    outputs = read_outputs(v, program, model, decl)
    if outputs:
        loss = next(iter(outputs.values())).loss  # what the data's task and `loss_task` read (the first output's)
    data_name = _pick(v, "data", program.data, decl, "data")
    facts = measurements.facts(model, decl.name)
    plan = spec.plan(model, facts)
    data = link_model(read_data(program.data[data_name], env), program, model)  # columns read by its inputs
    if "batch" in v:  # the run's batch wins over the data block's, so one data block serves several runs
        data = replace(data, batch=v["batch"])
    cfg = TrainConfig(
        name=decl.name, loc=decl.loc, model=model, data=data, loss=loss, optimizer=optimizer,
        schedule=schedule, epochs=epochs or v.get("epochs", 10), clip_grad_norm=v.get("clip_grad_norm"),
        clip_grad_value=v.get("clip_grad_value"), metrics=metrics,
        early_stop=v.get("early_stop"), checkpoint=_checkpoint(v.get("checkpoint"), bool(data.fractions.get("val"))),
        device=device or v.get("device", "auto"),
        precision=v.get("precision", "auto"), seed=v.get("seed", 0), compile=v.get("compile", "auto"),
        freeze=v.get("freeze", []),
        unfreeze=[(u["label"], u["at"]) for u, _ in v.get("unfreeze", [])],
        init=init, layer_init=v.get("layer_init", {}), out=out, log=log, target=v.get("target", "labels"),
        accumulate=v.get("accumulate", 1), sync_batchnorm=v.get("sync_batchnorm", False),
        test_every=v.get("test_every"),
        locs={k[:-4]: val for k, val in v.items() if k.endswith("@loc")}, outputs=outputs)
    _check_links(cfg, spec, plan, facts)
    warn_unused(cfg.layer_init, plan, model)
    if not outputs:  # these read one output's last layer and one target
        check_soft_targets(cfg)
        check_target_input(cfg, plan)  # first: with target input, a class loss is refused for that reason
        check_term_columns(cfg, plan)
        check_model_end(cfg, plan)
    return cfg


def fitted_to_task(cfg: TrainConfig, task: Optional[str]) -> TrainConfig:
    """`cfg` with its default loss fitted to the data's task: a train block that writes no `loss` trains a
    regression (a numeric csv target, a series) with mse, since the default cross_entropy needs class
    labels. A written loss is kept as written (check_task then says when it does not fit)."""
    if "loss" in cfg.locs or task != "regression" or cfg.outputs:
        return cfg
    return replace(cfg, loss=bind(LOSSES, S.Step("mse", (), {}, cfg.loc), "loss"))


def _checkpoint(value: Optional[dict], has_val: bool) -> Optional[dict]:
    """`checkpoint` with its monitor filled in: val_loss with a val split, else the training loss."""
    if value is None:
        return None
    return {**value, "monitor": value["monitor"] or default_monitor(has_val)}


def default_monitor(has_val: bool) -> str:
    """What decides best.ckpt when no setting names it: the val loss, else the training loss."""
    return "val_loss" if has_val else "loss"


def _init(value: Optional[dict], loc) -> Optional[dict]:
    if value is None:
        return None
    return {"path": resolve_path(value["path"], loc), "only": value["only"]}


def _known_submodules(spec, model: str, facts, labels: list, wanted: list) -> set:
    """The plan's labels, plus every submodule name when a wanted label reaches inside a layer
    (e.g. backbone.layer4 of a torchvision backbone); the model is then built once, on meta."""
    if not any("." in w and w not in labels for w in wanted):
        return set(labels)
    import torch
    with torch.device("meta"):
        module = spec.build(model, facts)
    return {name for name, _ in module.named_modules() if name}


def _pick(v: dict, key: str, table: dict, decl, what: str) -> str:
    if key in v:
        if v[key] not in table:
            raise UnknownNameError(f"no {what} named '{v[key]}'." + did_you_mean(v[key], table),
                                   v[f"{key}@loc"], hint=f"{what}s: {', '.join(table) or 'none'}")
        return v[key]
    if len(table) != 1:
        raise TrainError(f"this train block must name its {what} ({what} NAME): the spec has "
                         f"{len(table)} {what} declarations", decl.loc)
    return next(iter(table))


def _check_monitor(cfg: TrainConfig, key: str, monitor: str) -> None:
    """A monitored column must be one the run records: a metric listed, and val_ ones only with a val split."""
    has_val = bool(cfg.data.fractions.get("val"))
    names = ["loss"] + cfg.metric_names()
    known = names + ["val_" + n for n in names]
    if monitor not in known:
        recorded = known if has_val else names
        base = monitor[4:] if monitor.startswith("val_") else monitor
        listing = f"; list a metric to record it (metrics {_written_metric(cfg, base)})" \
            if metric_for_column(base) else ""
        error = UnknownNameError(f"{key} monitors '{monitor}', which is not recorded." + did_you_mean(monitor, recorded),
                                 cfg.locs.get(key), hint=f"recorded: {', '.join(recorded)}{listing}")
        error.follows_from = "metrics"  # with a mistaken metrics line left out, its columns are missing here
        raise error
    if monitor.startswith("val_") and not has_val:
        raise DlspecError(f"{key} monitors '{monitor}', but data {cfg.data.name} has no val split, so there is no "
                          f"{monitor} to monitor", cfg.locs.get(key),
                          hint=f"add a val part (split train=0.7 val=0.15 test=0.15) or monitor={monitor[4:]}")


def _written_metric(cfg: TrainConfig, column: str) -> str:
    """How the metric of `column` is listed: `f1`, or per output `kind: f1` for the column kind_f1."""
    for name in cfg.outputs or {}:
        if column.startswith(name + "_"):
            return f"{name}: {column[len(name) + 1:]}"
    return column


def _check_mode(cfg: TrainConfig, key: str, monitor: str, mode: str) -> None:
    """A warning (not an error) when mode=min|max runs against the direction the registry knows for the
    monitored column: mode stays the way to overrule a plugin metric that declares its direction wrongly,
    but written by mistake it would keep the worst epoch's weights or stop on the best ones."""
    base = monitor[4:] if monitor.startswith("val_") else monitor
    if mode == "auto" or (base != "loss" and metric_for_column(base) is None):
        return  # a column whose direction nothing declares: mode is the only word on it
    better = "higher" if higher_is_better(monitor) else "lower"
    if (mode == "max") != (better == "higher"):
        effect = {"checkpoint": "best.ckpt would keep the worst epoch's weights",
                  "early_stop": f"training would stop while {monitor} improves",
                  "schedule": f"the learning rate would drop while {monitor} improves"}[key]
        warn(f"{key} monitors '{monitor}' with mode={mode}, but {better} {monitor} is better: {effect}",
             cfg.locs.get(key), hint=f"mode=auto follows the metric's direction (here "
                                     f"{'max' if better == 'higher' else 'min'})")


def _check_links(cfg: TrainConfig, spec, plan, facts) -> None:
    for key in ("early_stop", "checkpoint"):
        monitor = (getattr(cfg, key) or {}).get("monitor")
        if monitor:
            _check_monitor(cfg, key, monitor)
            _check_mode(cfg, key, monitor, getattr(cfg, key).get("mode", "auto"))
    if cfg.schedule and cfg.schedule[0].name == "plateau":  # else it would step on the training loss, unsaid
        _check_monitor(cfg, "schedule", cfg.schedule[1]["monitor"])
        _check_mode(cfg, "schedule", cfg.schedule[1]["monitor"], cfg.schedule[1]["mode"])
    from ..planning.nodes import iter_nodes
    labels = [q for q, _, _ in iter_nodes(plan)]
    lr_for = cfg.optimizer[1].get("lr_for") or {}
    if not isinstance(lr_for, dict):
        raise DlspecError("lr_for takes {label: lr, ...}, e.g. lr_for={backbone: 1e-4}", cfg.locs.get("optimizer"))
    named = [("freeze", label) for label in cfg.freeze] + [("unfreeze", label) for label, _ in cfg.unfreeze] + \
            [("optimizer", label) for label in lr_for] + \
            ([("init", cfg.init["only"])] if cfg.init and cfg.init["only"] else [])
    known = _known_submodules(spec, cfg.model, facts, labels, [label for _, label in named])
    for key, label in named:
        if label not in known:
            raise UnknownNameError(f"{key}: the model has no submodule '{label}'." + did_you_mean(label, labels),
                                   cfg.locs.get(key), hint="label a step to name it: `backbone: Block(64)`")
    for label, _ in cfg.unfreeze:
        if not any(label == f or label.startswith(f + ".") for f in cfg.freeze):
            raise DlspecError(f"unfreeze {label}: it is not frozen (freeze {label} first)", cfg.locs.get("unfreeze"))
