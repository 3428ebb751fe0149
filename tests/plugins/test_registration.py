"""The plugin registration API: decorators, signature-derived arguments, injected sizes."""
import pytest
import torch
from torch import nn

import dlspec
from dlspec.errors import ArgumentError, PluginError
from dlspec.layers.registry import find_layer


@dlspec.layer("test_gain")
class Gain(nn.Module):
    """Multiply by a learnable gain per channel."""

    def __init__(self, num_features: int, init: float = 1.0):
        super().__init__()
        self.gain = nn.Parameter(torch.full((num_features, 1, 1), init))

    def forward(self, x):
        return x * self.gain


@dlspec.layer("test_pairs", input_arg="width")
def pairs(width: int, groups: int = 2):
    """A factory function: sums neighbouring features."""
    return nn.Unflatten(1, (width // groups, groups))


@dlspec.layer("test_fails")
class Fails(nn.Module):
    def forward(self, x):
        if x.device.type == "meta":
            return x
        raise ValueError("bad things")


def test_arguments_come_from_the_signature():
    layer = find_layer("test_gain")
    assert [(a.name, a.kind, a.default) for a in layer.args] == [("init", "float", 1.0)]
    assert layer.doc == "Multiply by a learnable gain per channel."
    with pytest.raises(ArgumentError, match="test_gain has no argument 'inti'. Did you mean 'init'"):
        dlspec.loads("model M { input image(3, 4, 4); test_gain(inti=2.0) }").check()
    with pytest.raises(ArgumentError, match="expects a number"):
        dlspec.loads('model M { input image(3, 4, 4); test_gain(init="x") }').check()


def test_input_size_is_injected_and_params_count_and_train():
    spec = dlspec.loads("model M { input image(3, 4, 4); conv(5, 1) -> test_gain(init=2.0) -> flatten -> linear(1) }")
    model = spec.build()
    assert model.test_gain.gain.shape == (5, 1, 1)
    from dlspec.views.summary import model_summary
    summary = model_summary(spec, "M")
    assert summary["params"] == sum(p.numel() for p in model.parameters())
    assert next(r for r in summary["layers"] if r["name"] == "test_gain")["params"] == 5
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    model(torch.randn(2, 3, 4, 4)).sum().backward()
    opt.step()
    assert not torch.equal(model.test_gain.gain, torch.full((5, 1, 1), 2.0))
    assert "test_gain.gain" in model.state_dict()


def test_factory_functions_and_named_input_arg():
    spec = dlspec.loads("model M { input vector(6); test_pairs(groups=3) }")
    assert spec.plan().out_shape.dims == (2, 3)
    assert spec.build()(torch.randn(4, 6)).shape == (4, 2, 3)


def test_error_in_plugin_forward_names_the_plugin_and_line():
    model = dlspec.loads("model M {\n input vector(3)\n test_fails\n}", "p.dlspec").build()
    with pytest.raises(PluginError) as info:
        model(torch.randn(1, 3))
    assert info.value.line == 3 and "test_fails" in info.value.message and "bad things" in info.value.message
    assert "test_registration.Fails" in info.value.message


def test_duplicate_names_are_refused_unless_overridden():
    with pytest.raises(ValueError, match="already registered; pass override=True"):
        dlspec.layer("test_gain")(Gain)
    dlspec.layer("test_gain", override=True)(Gain)
    with pytest.raises(ValueError, match="already registered"):
        dlspec.loss("mse")(lambda out, y: (out - y).abs().mean())


def test_plugin_loss_metric_optimizer_and_transform_in_a_train_block(tmp_path):
    @dlspec.loss("test_l1")
    def l1(out, target, weight: float = 1.0):
        """Weighted L1."""
        return weight * (out - target).abs().mean()

    @dlspec.metric("test_max_error", higher_is_better=False)
    def max_error(out, target):
        return (out.reshape(target.shape) - target).abs().max()

    @dlspec.optimizer("test_sgd")
    def plain_sgd(params, lr: float = 0.1):
        return torch.optim.SGD(params, lr=lr)

    @dlspec.transform("test_shift")
    class Shift:
        def __init__(self, by: float = 0.0):
            self.by = by

        def __call__(self, x):
            return x + self.by

    rows = "".join(f"{i / 20},{i / 10 + 1}\n" for i in range(40))
    (tmp_path / "t.csv").write_text("a,y\n" + rows)
    (tmp_path / "r.dlspec").write_text(
        'model R { input vector(1); linear(1) }\n'
        'data t { source csv("t.csv", target="y"); split train=0.8 test=0.2; transform { test_shift(by=0.5) } }\n'
        'train { loss test_l1(weight=2.0); optimizer test_sgd(lr=0.05); epochs 3; metrics test_max_error }')
    run = dlspec.fit(tmp_path / "r.dlspec", out=str(tmp_path / "run"), log=lambda *a: None)
    assert "test_max_error" in run.results["test"] and run.history[-1]["loss"] < run.history[0]["loss"]
