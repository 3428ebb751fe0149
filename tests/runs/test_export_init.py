"""The python export's build() without weights starts where dlspec's own build starts: every param init kind."""
import importlib.util

import pytest
import torch

import dlspec
from dlspec.planning import graph as planning_graph
from dlspec.planning.nodes import iter_nodes

# One param per way of writing an init; the kinds they cover must be every kind the language has.
INITS = {"halve": "0.5", "negative": "-2.5", "nothing": "zeros", "gain": "ones",
         "shift": "normal(mean=1, std=0.02)", "tilt": "uniform(-0.1, 0.3)"}
RANDOM = {"shift": ("normal", 1.0, 0.02), "tilt": ("uniform", -0.1, 0.3)}


def spec_text():
    params = "".join(f"    param {name}(16, 8, 8) = {init}\n" for name, init in INITS.items())
    uses = " -> ".join(f"add({name})" for name in INITS)
    return f"""
block Res(ch) {{
{params}    y = input -> conv(ch, 3, padding=1) -> relu -> {uses}
    add(y, input)
}}
model Net {{
    input image(1, 8, 8)
    param scale(1, 8, 8) = uniform(0.5, 1.5)
    x = input -> mul(scale) -> conv(16, 3, padding=1) -> Res(16) -> Res(16)
    x -> flatten -> linear(10)
}}
data d {{ source sklearn_digits; split train=0.8 test=0.2; batch 64 }}
train {{ epochs 1 }}
"""


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    base = tmp_path_factory.mktemp("init")
    (base / "net.dlspec").write_text(spec_text())
    dlspec.fit(base / "net.dlspec", out=str(base / "run"), log=lambda *a: None, progress=False)
    path = dlspec.export(str(base / "run"), "python", str(base / "export"))
    loader = importlib.util.spec_from_file_location("exported_init_model", path)
    module = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(module)
    return dlspec.load(base / "net.dlspec"), module


def test_the_cases_cover_every_param_init_kind():
    spec = dlspec.loads(spec_text())
    kinds = {p.init[0] for _, node, _ in iter_nodes(spec.plan("Net")) for p in getattr(node, "params", [])}
    assert kinds == {"constant"} | set(planning_graph._INITS)


def test_build_without_weights_initialises_params_as_the_spec_says(exported):
    spec, module = exported
    torch.manual_seed(0)
    ours, theirs = spec.build("Net"), module.build()
    ours_params, theirs_params = dict(ours.named_parameters()), dict(theirs.named_parameters())
    assert list(ours_params) == list(theirs_params)
    for block in ("res", "res_1"):
        for name, init in INITS.items():
            key = f"{block}.{name}"
            mine, exported_value = ours_params[key], theirs_params[key]
            assert exported_value.shape == mine.shape == (16, 8, 8)
            if name not in RANDOM:  # deterministic: exactly the spec's value
                value = {"zeros": 0.0, "ones": 1.0}.get(init, None)
                expected = float(init) if value is None else value
                assert torch.equal(exported_value, torch.full_like(mine, expected)) and torch.equal(exported_value, mine)
                continue
            kind, a, b = RANDOM[name]
            for values in (mine, exported_value):  # both drawn from the same distribution
                values = values.detach()
                if kind == "normal":
                    assert abs(values.mean().item() - a) < 5 * b / values.numel() ** 0.5
                    assert values.std().item() == pytest.approx(b, rel=0.1)
                else:
                    assert a <= values.min().item() and values.max().item() <= b
                    assert values.mean().item() == pytest.approx((a + b) / 2, abs=0.02)
                    assert values.max().item() - values.min().item() > 0.9 * (b - a)
    scale = theirs_params["scale"].detach()
    assert 0.5 <= scale.min().item() and scale.max().item() <= 1.5 and scale.std().item() > 0.2


def test_same_seed_same_initial_model(exported):
    """Params are made in the order dlspec makes them, so a seed gives the export dlspec's very weights."""
    spec, module = exported
    torch.manual_seed(7)
    ours = spec.build("Net").state_dict()
    torch.manual_seed(7)
    theirs = module.build().state_dict()
    assert list(ours) == list(theirs) and all(torch.equal(ours[k], theirs[k]) for k in ours)
