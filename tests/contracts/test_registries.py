"""Every registry, entry by entry: documented, tagged with where it came from, and working.

Derived from the registries themselves, so a new layer, source, transform, loss,
optimizer, schedule or metric is tested the moment it is registered.
"""
import math

import pytest
import torch

from dlspec.views.catalog import listing, registries
from dlspec.schema.args import bind_args

# test modules register throwaway entries (test_*, opaque_*): only shipped ones are checked here
SHIPPED = {kind: [e for e in reg.entries() if not e.name.startswith(("test_", "opaque_"))]
           for kind, reg in registries().items()}
ENTRIES = [(kind, entry) for kind, entries in SHIPPED.items() for entry in entries]


def ids(cases):
    return [f"{kind}-{entry.name}" for kind, entry in cases]


@pytest.mark.parametrize("kind, entry", ENTRIES, ids=ids(ENTRIES))
def test_every_entry_is_documented_and_says_where_it_came_from(kind, entry):
    assert entry.doc.strip(), f"{kind} {entry.name} has no doc"
    assert entry.source == "built-in" or entry.source.startswith("plugin "), entry.source
    for arg in entry.args:
        assert arg.name.isidentifier()


def test_plugin_entries_are_listed_as_plugins():
    sources = {row[0].split("(")[0]: row[2] for row in listing("sources")}
    assert sources["two_moons"] == "plugin dlspec_example_plugin.TwoMoons"  # the example plugin's data set
    layers = {row[0].split("(")[0]: row[2] for row in listing("layers")}
    assert layers["scaled_linear"].startswith("plugin dlspec_example_plugin")
    assert sources["sklearn_digits"] == "built-in"


# arguments for the required parameters of built-in transforms; a new transform needs a line here
TRANSFORM_ARGS = {
    "center_crop": {"size": 6}, "noise": {"std": 0.1}, "normalize": {"mean": [0.5], "std": [0.5]},
    "random_crop": {"size": 6, "padding": 1}, "random_resized_crop": {"size": 6}, "resize": {"size": 6},
    "rotate": {"degrees": 10.0}, "scale": {"min": 0.9, "max": 1.1}, "translate": {"fraction": 0.1},
    "brightness": {"factor": 0.2}, "contrast": {"factor": 0.2}, "cutout": {"size": 3},
}
# mixup and cutmix need a whole batch: tests/data/test_batch_augment.py runs them (and every batched form)
TRANSFORMS = [e for e in SHIPPED["transforms"] if e.source == "built-in" and not e.batch_only]


@pytest.mark.parametrize("entry", TRANSFORMS, ids=[e.name for e in TRANSFORMS])
def test_every_transform_builds_and_runs_on_an_image(entry):
    kwargs = TRANSFORM_ARGS.get(entry.name, {})
    missing = [a.name for a in entry.args if a.required and a.name not in kwargs]
    assert not missing, f"give {entry.name} example arguments in TRANSFORM_ARGS: {missing}"
    transform = entry.build(bind_args(entry.name, entry.args, [], kwargs, None))
    image = torch.rand(3, 8, 8)
    out = transform(image)
    assert isinstance(out, torch.Tensor) and out.dim() == 3 and torch.isfinite(out).all()  # grayscale: 1 channel
    if entry.resizes:
        assert tuple(out.shape[1:]) == (6, 6)


# a path argument defaulting to None is one of several ways to give the files (image_folder's path or
# train=/val=/test=): such a source needs a path too
SOURCES = [e for e in SHIPPED["sources"] if not any(a.required for a in e.args)
           and "download" not in {a.name for a in e.args}
           and not any(a.name in e.paths and a.default is None for a in e.args)]


@pytest.mark.parametrize("entry", SOURCES, ids=[e.name for e in SOURCES])
def test_every_source_without_a_path_loads(entry):
    data = entry.load(bind_args(entry.name, entry.args, [], {}, None), None)
    if data.fit_on_train is not None:  # a text source encodes once its vocabulary is built
        data.fit_on_train(list(range(len(data.train))))
    x, y = data.train[0]
    import numpy as np
    assert len(data.train) > 10 and torch.as_tensor(np.array(x)).numel() > 0  # a tensor, or a PIL image


METRICS = SHIPPED["metrics"]


@pytest.mark.parametrize("entry", METRICS, ids=[e.name for e in METRICS])
def test_every_metric_computes_a_finite_number(entry):
    metric = entry.make(bind_args(entry.name, entry.args, [], {}, None))
    torch.manual_seed(0)
    if entry.task == "regression":
        out, y = torch.randn(16, 1), torch.randn(16, 1)
    else:
        out, y = torch.randn(16, 6), torch.randint(0, 6, (16,))
    metric.update(out, y)
    assert math.isfinite(float(metric.compute()))


@pytest.mark.parametrize("entry", SHIPPED["optimizers"], ids=[e.name for e in SHIPPED["optimizers"]])
def test_every_optimizer_steps(entry):
    model = torch.nn.Linear(3, 1)
    before = model.weight.detach().clone()
    optimizer = entry.build(model.parameters(), bind_args(entry.name, entry.args, [], {}, None))
    model(torch.randn(4, 3)).pow(2).sum().backward()
    optimizer.step()
    assert not torch.equal(model.weight, before)


SCHEDULE_ARGS = {"multistep": {"milestones": [1, 2]}}


@pytest.mark.parametrize("entry", SHIPPED["schedules"], ids=[e.name for e in SHIPPED["schedules"]])
def test_every_schedule_gives_positive_learning_rates(entry):
    model = torch.nn.Linear(2, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = entry.build(optimizer, bind_args(entry.name, entry.args, [], SCHEDULE_ARGS.get(entry.name, {}), None),
                            3, 4)
    rates = []
    for _ in range(3 * 4 if entry.per_step else 3):
        optimizer.step()
        scheduler.step() if entry.per_step else scheduler.step(1.0)
        rates.append(optimizer.param_groups[0]["lr"])
    assert rates[0] > 0 and all(r >= 0 and math.isfinite(r) for r in rates)  # cosine may end at exactly 0


def test_every_built_in_source_declares_what_a_sample_is():
    kinds = {"image", "grayscale image", "table", "text", "series"}
    for entry in SHIPPED["sources"]:
        if entry.source == "built-in":
            assert entry.input_kind in kinds, entry.name
    assert {e.name for e in SHIPPED["sources"] if e.input_kind == "grayscale image"} == {
        "sklearn_digits", "mnist", "fashion_mnist", "idx"}
