"""Answers from a model's outputs: a model, a batch of inputs, their names and the run's `meta` (plain JSON
data: classes, task, each output's task, classes and target scale) in, one dict per input out: label,
probability and top classes; a value (in the data's units); or the raw output; per output for a model with
several. `dlspec predict` and an export's predict.py both word their answers here. Imports only torch: export
copies it whole.
"""
import torch

from .inputs import InputError


def describe(name, out, meta, top=1):
    """One input's answer: label, probability and the top classes; a value (regression); or the raw output."""
    classes = meta.get("classes")
    if classes and out.dim() == 1 and meta.get("task") != "regression":
        if out.numel() == 1:
            p = float(torch.sigmoid(out))
            index = int(p > 0.5)
            return {"input": name, "label": str(classes[index]), "probability": p if index else 1 - p}
        probs = torch.softmax(out, 0)
        values, indices = probs.topk(min(top, len(probs)))
        best = [{"label": str(classes[i]), "probability": float(v)} for v, i in zip(values, indices)]
        return {"input": name, **best[0], "top": best}
    if classes and out.dim() == 3 and out.shape[0] == len(classes) and meta.get("task") != "regression":
        return class_map(name, out, classes)
    if meta.get("task") == "regression" and out.dim() <= 1:
        return {"input": name, "prediction": out.tolist() if out.numel() > 1 else float(out)}
    return {"input": name, "output": out.tolist()}



def class_map(name, out, classes):
    """A segmentation answer from scores [C, H, W]: the class index of each pixel ("output", [H, W]; in a .npy
    file beside --out) and, in words, the share of the pixels each class found covers."""
    pixels = out.argmax(0)
    counts = torch.bincount(pixels.flatten(), minlength=len(classes)).tolist()
    shares = ", ".join(f"{classes[i]} {c / pixels.numel():.1%}" for i, c in enumerate(counts) if c)
    return {"input": name, "pixels": shares, "output": pixels.tolist()}


def describe_several(name, outs, meta, top=1):
    """One input's answer from a model with several outputs: under each output's name its own answer (label,
    probability and top classes; or a value, in the data's units when its targets were scaled)."""
    answer = {"input": name}
    for key, out in outs.items():
        info = meta["outputs"][key]
        classes, task = info.get("classes"), info.get("task")
        if task == "classification" and not classes:  # the data named no classes: their indices
            classes = [str(i) for i in range(max(out.numel(), 2))]
        scale = info.get("scale")
        if task == "regression" and scale:
            out = out * scale["spread"] + scale["center"]
        part = describe(name, out, {"classes": classes, "task": task}, top)
        del part["input"]
        answer[key] = part
    return answer


def predict_batch(model, x, names, meta, top=1, device="cpu"):
    """The answers of one batch: `x` a tensor, or a dict of named inputs for a model with several."""
    if isinstance(x, dict):  # positional, in the model's order: an export's pre-hooks see positional inputs only
        order = meta.get("inputs") or list(x)
        missing = [k for k in order if k not in x]
        if missing:
            raise InputError(f"no tensor for input {', '.join(missing)}; the model takes {', '.join(order)}")
        out = model(*(x[k].to(device) for k in order))
    else:
        out = model(x.to(device))
    if isinstance(out, dict):
        outs = {k: v.float().cpu() for k, v in out.items()}
        return [describe_several(n, {k: v[i] for k, v in outs.items()}, meta, top) for i, n in enumerate(names)]
    return [describe(n, o, meta, top) for n, o in zip(names, out.float().cpu())]
