"""Every shipped spec compiles and its inferred shapes match a real forward pass.

(Edits of these specs are fuzzed in test_fuzz.py.)"""
import pytest
import torch

import dlspec
from tests.conftest import SPECS, load_shipped
from dlspec.planning.nodes import iter_nodes
from dlspec.train.measure import Measurements


@pytest.mark.parametrize("path", SPECS, ids=[p.name for p in SPECS])
def test_shipped_spec_compiles_and_shapes_match_forward(path):
    spec = load_shipped(path)
    measurements = Measurements(spec)  # vector(auto), tokens(T): the facts of the data each model trains on
    for name in spec.model_names:
        facts = measurements.facts(name)
        plan = spec.plan(name, facts)
        model = spec.build(name, facts).eval()
        outputs = {}
        hooks = [model.get_submodule(q).register_forward_hook(
            lambda m, i, o, q=q: outputs.__setitem__(q, tuple(o.shape[1:]))) for q, _, _ in iter_nodes(plan)]
        shapes = list(plan.inputs.values()) or [plan.in_shape]  # several inputs: one batch each, in order
        with torch.no_grad():
            y = model(*(_batch_of(shape) for shape in shapes))
        if plan.outputs and len(plan.outputs) > 1:  # several outputs: a dict by name, each of its declared shape
            assert list(y) == list(plan.outputs)
            assert {k: tuple(v.shape[1:]) for k, v in y.items()} == {k: s.dims for k, s in plan.outputs.items()}
        else:
            assert tuple(y.shape[1:]) == plan.out_shape.dims
        for q, node, _ in iter_nodes(plan):
            assert outputs[q] == node.out_shape.dims, q
        for h in hooks:
            h.remove()


def _batch_of(shape):
    """A batch of two for one input: token ids for an integer input, numbers otherwise."""
    return torch.randint(0, 2, (2,) + shape.dims) if shape.integer else torch.randn((2,) + shape.dims)


def test_the_shipped_specs_include_several_inputs_and_outputs():
    """The parametrised check above covers a model with several inputs and outputs, not only single ones."""
    spec = load_shipped(next(p for p in SPECS if p.name == "listing.dlspec"))
    plan = spec.plan("Listing", Measurements(spec).facts("Listing"))
    assert list(plan.inputs) == ["photo", "words", "facts"] and list(plan.outputs) == ["price", "kind"]


@pytest.mark.parametrize("path", SPECS, ids=[p.name for p in SPECS])
def test_shipped_spec_data_and_train_blocks_check(path):
    result = dlspec.api.compile_spec(path)
    assert result.model_names


@pytest.mark.slow
def test_main_job_digits_reaches_97_percent(tmp_path):
    """README's main job: the digits CNN reaches at least 97% test accuracy."""
    from tests.conftest import ROOT
    run = dlspec.fit(ROOT / "specs" / "digits.dlspec", out=str(tmp_path / "run"), log=lambda *a: None)
    assert run.results["test"]["accuracy"] >= 0.97
