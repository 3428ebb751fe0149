"""Every shipped spec compiles, its inferred shapes match a real forward pass,
and hundreds of mutations of it either compile or raise DlspecError."""
import random

import pytest
import torch

import dlspec
from conftest import SPECS, load_shipped
from dlspec.compiler import iter_nodes
from dlspec.errors import DlspecError


@pytest.mark.parametrize("path", SPECS, ids=[p.name for p in SPECS])
def test_shipped_spec_compiles_and_shapes_match_forward(path):
    spec = load_shipped(path)
    for name in spec.model_names:
        plan = spec.plan(name)
        model = spec.build(name).eval()
        outputs = {}
        hooks = [model.get_submodule(q).register_forward_hook(
            lambda m, i, o, q=q: outputs.__setitem__(q, tuple(o.shape[1:]))) for q, _, _ in iter_nodes(plan)]
        x = torch.randint(0, 2, (2,) + plan.in_shape.dims) if plan.in_shape.integer else torch.randn((2,) + plan.in_shape.dims)
        with torch.no_grad():
            y = model(x)
        assert tuple(y.shape[1:]) == plan.out_shape.dims
        for q, node, _ in iter_nodes(plan):
            assert outputs[q] == node.out_shape.dims, q
        for h in hooks:
            h.remove()


TOKENS = ["(", ")", "{", "}", ",", "->", "=", "input", "repeat", "3", "-1", "0", "relu", "conv", "add(y, input)",
          '"x"', "\n", ";", ":", "linear(", "block", "model", "let", "1e9", "[", "]", "#", "\x00", "x.y", "//", "0.5"]


def mutations(text, count, seed):
    rng = random.Random(seed)
    tokens = text.replace("(", " ( ").replace(")", " ) ").replace(",", " , ").split(" ")
    for _ in range(count):
        t = list(tokens)
        op = rng.choice(["delete", "duplicate", "swap", "insert"])
        i, j = rng.randrange(len(t)), rng.randrange(len(t))
        if op == "delete":
            del t[i]
        elif op == "duplicate":
            t.insert(i, t[j])
        elif op == "swap":
            t[i], t[j] = t[j], t[i]
        else:
            t.insert(i, rng.choice(TOKENS))
        yield " ".join(t)


@pytest.mark.parametrize("path", SPECS, ids=[p.name for p in SPECS])
def test_mutated_specs_compile_or_raise_dlspec_error(path):
    text = path.read_text()
    outcomes = {"ok": 0, "error": 0}
    for i, mutated in enumerate(mutations(text, 150, seed=hash(path.name) % 1000)):
        try:
            spec = dlspec.loads(mutated, str(path))
            spec.check()
            with torch.device("meta"):  # building must not fail after a clean check
                for name in spec.model_names:
                    spec.build(name)
            outcomes["ok"] += 1
        except DlspecError as err:
            assert err.report()  # the report itself must not crash
            outcomes["error"] += 1
    assert outcomes["error"] > 0 and sum(outcomes.values()) == 150


@pytest.mark.parametrize("path", SPECS, ids=[p.name for p in SPECS])
def test_shipped_spec_data_and_train_blocks_check(path):
    result = dlspec.api.compile_spec(path)
    assert result.model_names


def test_main_job_digits_reaches_97_percent(tmp_path):
    """README's main job: the digits CNN reaches at least 97% test accuracy."""
    from conftest import ROOT
    run = dlspec.fit(ROOT / "specs" / "digits.dlspec", out=str(tmp_path / "run"), log=lambda *a: None)
    assert run.results["test"]["accuracy"] >= 0.97
