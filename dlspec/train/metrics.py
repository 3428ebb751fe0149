"""Metrics accumulated on the device: model outputs and targets in, numbers out.

`update` only launches tensor operations (no host sync); `compute` reads the
totals once per epoch. Classification metrics understand multi-class logits
[B, C], a single binary logit [B, 1] or [B], and multi-label logits with
float targets of the same shape.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Optional

import torch

from ..schema.args import Arg, positive
from ..schema.registry import Registry, register_entry


@dataclass(frozen=True)
class MetricDef:
    name: str
    args: tuple
    make: Callable[[dict], "Metric"]
    doc: str
    higher_is_better: bool = True
    source: str = "built-in"
    task: Optional[str] = None  # classification | regression: the task it measures; None: any (plugins)


METRICS = Registry("metric")


def register_metric(m: MetricDef, override: bool = False) -> MetricDef:
    return register_entry(METRICS, m, "metric", override)


def _predictions(out: torch.Tensor, y: torch.Tensor):
    """(predicted, target) class tensors of equal shape, for any classification layout."""
    if out.dim() == y.dim() and out.shape == y.shape and y.is_floating_point():
        return (out > 0).long(), (y > 0.5).long()  # binary / multi-label logits
    if out.dim() == 2 and out.shape[1] == 1:
        return (out[:, 0] > 0).long(), y.reshape(-1).long()
    if out.dim() == 1:
        return (out > 0).long(), y.long()
    return out.argmax(1), y.long()


class Metric:
    """Sums on the device; reset each epoch."""

    def __init__(self):
        self.total = None
        self.count = None

    def _add(self, value: torch.Tensor, count) -> None:
        value = value.detach().double()
        if self.total is None:
            self.total = torch.zeros_like(value)
            self.count = torch.zeros((), dtype=torch.float64, device=value.device)
        self.total += value
        self.count += count

    def compute(self) -> float:
        if self.total is None:
            return float("nan")
        return float(self.total / self.count.clamp_min(1))


class Accuracy(Metric):
    def update(self, out, y):
        pred, target = _predictions(out, y)
        self._add((pred == target).sum(), target.numel())


class TopK(Metric):
    def __init__(self, k: int):
        super().__init__()
        self.k = k

    def update(self, out, y):
        k = min(self.k, out.shape[1])
        hit = (out.topk(k, dim=1).indices == y.view(-1, 1)).any(1)
        self._add(hit.sum(), y.numel())


class ErrorMetric(Metric):
    def __init__(self, squared: bool):
        super().__init__()
        self.squared = squared

    def update(self, out, y):
        diff = out.reshape(y.shape).float() - y.float() if out.numel() == y.numel() else out.float() - y.float()
        self._add((diff * diff).sum() if self.squared else diff.abs().sum(), diff.numel())


class R2(Metric):
    """1 - SSE/SST, from running sums of y, y^2 and squared errors (one pass, on the device)."""

    def update(self, out, y):
        out = out.reshape(y.shape).float() if out.numel() == y.numel() else out.float()
        y = y.float()
        sums = torch.stack([((out - y) ** 2).sum(), y.sum(), (y * y).sum()])
        self._add(sums, y.numel())

    def compute(self) -> float:
        if self.total is None:
            return float("nan")
        sse, s, sq = (float(v) for v in self.total)
        n = float(self.count)
        sst = sq - s * s / max(n, 1.0)
        return 1.0 - sse / sst if sst > 1e-12 else float("nan")


class Confusion(Metric):
    """Precision, recall or F1 from a confusion matrix kept on the device (macro average)."""

    def __init__(self, kind: str, average: str):
        super().__init__()
        self.kind, self.average, self.matrix = kind, average, None

    def update(self, out, y):
        pred, target = _predictions(out, y)
        # one logit per class on axis 1: [B, C] or, per pixel, [B, C, H, W]
        classes = max(out.shape[1] if out.dim() >= 2 and out.shape[1] > 1 and not y.is_floating_point() else 2, 2)
        idx = (target.reshape(-1) * classes + pred.reshape(-1)).long()
        counts = torch.bincount(idx, minlength=classes * classes).reshape(classes, classes)
        self.matrix = counts if self.matrix is None else self.matrix + counts

    def compute(self) -> float:
        if self.matrix is None:
            return float("nan")
        m = self.matrix.double()
        tp = m.diag()
        precision = tp / m.sum(0).clamp_min(1)
        recall = tp / m.sum(1).clamp_min(1)
        value = {"precision": precision, "recall": recall,
                 "f1": 2 * precision * recall / (precision + recall).clamp_min(1e-12)}[self.kind]
        if self.average == "binary" and len(value) == 2:
            return float(value[1])
        if self.average == "micro":  # pooled counts: every prediction counts once (equals accuracy)
            return float(tp.sum() / m.sum().clamp_min(1))
        support = m.sum(1)
        if self.average == "weighted":
            return float((value * support).sum() / support.sum()) if support.sum() > 0 else 0.0
        present = support > 0
        return float(value[present].mean()) if present.any() else 0.0


class MeanIoU(Metric):
    """Mean intersection over union across classes (Jaccard, macro), from per-class totals kept on the device.

    Each batch adds its per-class intersections |pred = c and target = c| and unions |pred = c or target = c|
    (pixels of [B, C, H, W] logits against [B, H, W] targets, or samples of [B, C] against [B]); compute
    divides the totals, so the result is the IoU of the whole split, not a mean of batch means. A class
    that is neither predicted nor present anywhere (union 0) is left out of the mean, as
    sklearn.metrics.jaccard_score(average="macro") leaves out labels absent from both."""

    def __init__(self):
        super().__init__()
        self.matrix = None  # [2, C]: intersections, unions (named `matrix`: summed over processes like f1's)

    def update(self, out, y):
        pred, target = _predictions(out, y)
        classes = out.shape[1] if out.dim() >= 2 and out.shape[1] > 1 and not y.is_floating_point() else 2
        cells = (target.reshape(-1) * classes + pred.reshape(-1)).long()
        # a confusion matrix by scatter_add: no host sync (bincount reads the maximum back first)
        confusion = torch.zeros(classes * classes, dtype=torch.long, device=cells.device)
        confusion = confusion.scatter_add_(0, cells, torch.ones_like(cells)).view(classes, classes)
        inter = confusion.diagonal()
        counts = torch.stack([inter, confusion.sum(0) + confusion.sum(1) - inter])
        self.matrix = counts if self.matrix is None else self.matrix + counts

    def compute(self) -> float:
        if self.matrix is None:
            return float("nan")
        inter, union = self.matrix.double()
        present = union > 0
        return float((inter[present] / union[present]).mean()) if bool(present.any()) else float("nan")


# binary scores the positive class of two; the others average over classes (check_binary_average refuses
# binary with more than two classes, where it would silently be macro)
AVERAGES = ("macro", "binary", "micro", "weighted")
_AVG = Arg("average", "str", "macro", choices=AVERAGES)
_C, _R = "classification", "regression"
register_metric(MetricDef("accuracy", (), lambda a: Accuracy(), "Share of correct predictions.", task=_C))
register_metric(MetricDef("pixel_accuracy", (), lambda a: Accuracy(),
                          "Share of pixels whose class is right (segmentation; on class labels it equals accuracy).",
                          task=_C))
register_metric(MetricDef("iou", (), lambda a: MeanIoU(),
                          "Mean intersection over union across classes (Jaccard, macro): per class |pred AND target| / "
                          "|pred OR target| summed over the split's pixels, averaged over classes present in either.",
                          task=_C))
register_metric(MetricDef("top_k", (Arg("k", "int", 5, positive),), lambda a: TopK(a["k"]),
                          "Share of samples whose class is among the k highest logits: top_k(k=5).", task=_C))
for _kind in ("f1", "precision", "recall"):
    register_metric(MetricDef(_kind, (_AVG,), (lambda k: lambda a: Confusion(k, a["average"]))(_kind),
                              f"{_kind} score, macro-averaged over classes (average=binary: the positive class of two; "
                              "micro: pooled over samples; weighted: by each class's samples).",
                              task=_C))
register_metric(MetricDef("mae", (), lambda a: ErrorMetric(False), "Mean absolute error.", higher_is_better=False,
                          task=_R))
register_metric(MetricDef("mse", (), lambda a: ErrorMetric(True), "Mean squared error.", higher_is_better=False,
                          task=_R))
register_metric(MetricDef("r2", (), lambda a: R2(), "Coefficient of determination: 1 - SSE / SST (1 is perfect).",
                          task=_R))


def metrics_for(task: str) -> list:
    """Names of the registered metrics that measure `task`."""
    return [name for name, m in METRICS.items() if m.task == task]


# columns of metrics.csv that are not metrics (val_loss: the val_ column of loss)
FIXED_COLUMNS = ("epoch", "lr", "loss", "val_loss", "samples_per_second")


def check_metrics(steps: list) -> list:
    """(MetricDef, arguments, step) per listed metric; a metric whose column name is already taken is refused.

    Every metric is recorded as NAME and val_NAME (see metric_name), so two
    listed metrics, or a metric and a fixed column, must never share a name:
    the second would silently overwrite the first.
    """
    from ..errors import DlspecError
    from ..schema.settings import bind_steps
    checked, taken = [], {c: None for c in FIXED_COLUMNS}
    for st, (m, args) in zip(steps, bind_steps(METRICS, steps, "metric")):  # each unknown name at once
        column = metric_name(m, args)
        clash = next((c for c in (column, "val_" + column) if c in taken), None)
        if clash is not None:
            first = taken[clash]
            where = f"the metric at {first.loc.line}:{first.loc.column}" if first is not None else "a fixed column"
            raise DlspecError(f"metric '{_written(st)}' would be recorded as '{clash}', the name of {where}; "
                              f"two metrics.csv columns cannot share a name", st.loc,
                              hint=f"list each metric once; arguments that differ from the default name the "
                                   f"column, e.g. f1, f1(average=binary) give f1 and f1_binary (metric columns "
                                   f"so far: {', '.join(metric_name(m, a) for m, a, _ in checked) or 'none'})")
        taken.update({column: st, "val_" + column: st})
        checked.append((m, args, st))
    return checked


def _written(step) -> str:
    shown = [str(a) for a in step.args] + [f"{k}={v}" for k, v in step.kwargs.items()]
    return step.name + (f"({', '.join(shown)})" if shown else "")


class OriginalUnits:
    """A metric fed with outputs and targets mapped back from `scale standard|minmax` to original units."""

    def __init__(self, metric, scale: dict):
        self.metric, self.center, self.spread = metric, scale["center"], scale["spread"]

    def update(self, out, y):
        self.metric.update(out * self.spread + self.center, y * self.spread + self.center)

    def compute(self) -> float:
        return self.metric.compute()


def make_metrics(checked: list, target_scale: Optional[dict] = None) -> dict:
    """Fresh accumulators by display name; with scaled targets they report in original units."""
    metrics = {metric_name(m, a): m.make(a) for m, a, _ in checked}
    if target_scale:
        return {k: OriginalUnits(m, target_scale) for k, m in metrics.items()}
    return metrics


def metric_name(m: MetricDef, args: dict) -> str:
    """The metrics.csv column of a metric: its name, then each argument that differs from its default
    (f1(average=binary) -> f1_binary); top_k(k=5) is top_5."""
    if m.name == "top_k":
        return f"top_{args['k']}"
    changed = [_slug(args[a.name]) for a in m.args if a.name in args and args[a.name] != a.default]
    return "_".join([m.name] + changed)


def _slug(value) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", str(value)).strip("_") or "_"


def metric_for_column(column: str) -> Optional[MetricDef]:
    """The registered metric a column (f1_binary, val_top_5, an output's kind_accuracy, ...) records, or
    None (loss, lr, unknown)."""
    base = column[4:] if column.startswith("val_") else column
    found = _metric_for_base(base)
    parts = base.split("_")
    for i in range(1, len(parts)):  # OUTPUT_METRIC: the output's name may itself hold underscores
        if found is not None:
            break
        found = _metric_for_base("_".join(parts[i:]))
    return found


def _metric_for_base(base: str) -> Optional[MetricDef]:
    if base in METRICS:
        return METRICS[base]
    if re.fullmatch(r"top_\d+", base):
        return METRICS.get("top_k")
    prefixes = [name for name in METRICS if base.startswith(name + "_")]
    return METRICS[max(prefixes, key=len)] if prefixes else None


def higher_is_better(name: str) -> bool:
    base = name[4:] if name.startswith("val_") else name
    m = metric_for_column(base)
    if base == "loss" or (m is None and base.endswith("_loss")):  # an output's loss: price_loss
        return False
    return m.higher_is_better if m else True
