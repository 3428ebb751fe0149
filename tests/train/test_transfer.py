"""Transfer learning: torchvision backbones, local weights, freezing, lr_for, init from a run."""
import json
import warnings

import pytest
import torch
import torchvision
from click.testing import CliRunner

import dlspec
from tests.conftest import ROOT, SHARED_DATA, needs_shared
from dlspec.cli import main
from dlspec.errors import DlspecError, TrainError
from dlspec.train.checkpoint import load_checkpoint

MODELS = ["resnet18", "resnet34", "resnet50", "mobilenet_v2", "mobilenet_v3_small", "mobilenet_v3_large",
          "efficientnet_b0", "vgg11", "densenet121"]


def quiet(*a):
    pass


@pytest.mark.parametrize("name", MODELS)
def test_backbones_match_torchvision_with_and_without_head(name):
    reference = torchvision.models.get_model(name)
    count = sum(p.numel() for p in reference.parameters())
    linears = [m for m in reference.modules() if isinstance(m, torch.nn.Linear)]
    head = sum(p.numel() for p in linears[-1].parameters())
    spec = dlspec.loads(f"model A {{ input image(3, 64, 64); torchvision.{name}() }}\n"
                        f"model B {{ input image(3, 64, 64); torchvision.{name}(head=false) -> linear(3) }}")
    from dlspec.views.summary import model_summary
    assert model_summary(spec, "A")["params"] == count
    plan = spec.plan("B")
    assert plan.children[0].out_shape.dims == (linears[-1].in_features,)
    assert model_summary(spec, "B")["params"] == count - head + linears[-1].in_features * 3 + 3


def write_spec(tmp_path, weights, settings="freeze backbone\n", size=64, epochs=1):
    folder = SHARED_DATA / "hymenoptera_data" / "train"
    text = (ROOT / "specs" / "transfer_resnet18.dlspec").read_text()
    text = text.replace("    freeze backbone\n    unfreeze backbone at=4\n", "    " + settings)
    text = text.replace("let classes = 10", "let classes = 2")  # ants and bees
    path = tmp_path / "t.dlspec"
    path.write_text(text)
    return dlspec.load(path, {"weights": str(weights), "folder": str(folder), "size": size}), epochs


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("w") / "resnet18.pth"
    torch.manual_seed(1)
    torch.save(torchvision.models.resnet18().state_dict(), path)
    return path


def test_weights_from_a_local_file_land_in_the_model(weights_file):
    spec = dlspec.loads(f'model M {{ input image(3, 32, 32); backbone: torchvision.resnet18(weights="{weights_file}",'
                        ' head=false); linear(2) }')  # the label names its chain: the backbone alone
    model = spec.build()
    saved = torch.load(weights_file, weights_only=True)
    for key, value in model.backbone.state_dict().items():
        assert torch.equal(value, saved[key]), key


def test_missing_weights_file_and_unknown_weights_name(tmp_path):
    with pytest.raises(DlspecError, match="weights file not found") as info:
        dlspec.loads('model M {\n input image(3, 32, 32)\n torchvision.resnet18(weights="nope.pth")\n}',
                     str(tmp_path / "m.dlspec")).check()
    assert info.value.line == 3
    with pytest.raises(DlspecError, match="has no weights 'IMAGENET9'"):
        dlspec.loads("model M { input image(3, 32, 32); torchvision.resnet18(weights=IMAGENET9) }").build()


@needs_shared
@pytest.mark.slow
def test_frozen_backbone_is_unchanged_and_has_no_optimizer_state(tmp_path, weights_file):
    spec, _ = write_spec(tmp_path, weights_file)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = dlspec.fit(spec, out=str(tmp_path / "run"), epochs=1, log=quiet)
    saved = torch.load(weights_file, weights_only=True)
    for key, value in run.model.backbone.state_dict().items():
        if key.startswith("fc."):
            continue
        assert torch.equal(value.cpu(), saved[key]), key  # weights and BatchNorm statistics untouched
    ckpt = load_checkpoint(str(tmp_path / "run" / "last.ckpt"))
    assert len(ckpt["optimizer"]["state"]) == 2  # head.weight and head.bias only
    initial = dlspec.load(tmp_path / "t.dlspec", {"weights": str(weights_file)}).build().head.weight
    assert not torch.equal(run.model.head.weight.detach(), initial)


@needs_shared
@pytest.mark.slow
def test_unfreeze_adds_the_backbone_with_its_own_learning_rate(tmp_path, weights_file):
    spec, _ = write_spec(tmp_path, weights_file, "freeze backbone\n    unfreeze backbone.layer4 at=2\n", size=32)
    logs = []
    dlspec.fit(spec, out=str(tmp_path / "run"), epochs=2, log=logs.append)
    assert any("unfroze backbone.layer4" in line for line in logs)
    last = load_checkpoint(str(tmp_path / "run"))  # the final weights (run.model holds the best epoch's)
    assert [g["lr"] for g in last["optimizer"]["param_groups"]] == [1e-3, 1e-5]
    saved = torch.load(weights_file, weights_only=True)
    assert not torch.equal(last["model"]["backbone.layer4.0.conv1.weight"], saved["layer4.0.conv1.weight"])
    assert torch.equal(last["model"]["backbone.layer1.0.conv1.weight"], saved["layer1.0.conv1.weight"])


def test_compile_show_marks_frozen_parts_and_counts_trainable(tmp_path, weights_file):
    write_spec(tmp_path, weights_file)
    result = CliRunner().invoke(main, ["compile", str(tmp_path / "t.dlspec"), "--json", "--set", "size=64"])
    model = json.loads(result.output)["models"][0]
    assert model["trainable"] == 1026 and model["frozen"] == 11_176_512
    backbone = next(r for r in model["layers"] if r["name"] == "backbone")
    assert backbone["frozen"] and backbone["params"] == 11_176_512
    table = CliRunner().invoke(main, ["compile", str(tmp_path / "t.dlspec"), "--show", "--set", "size=64"]).output
    assert "11,176,512 (frozen)" in table and "Trainable params:  1,026" in table


DIGITS_CNN = """
block Features(width=16) {
    conv(width, 3, padding=1) -> batchnorm -> relu -> maxpool(2)
    conv(width * 2, 3, padding=1) -> batchnorm -> relu -> maxpool(2)
}
model Net {
    input image(1, 28, 28)
    features: Features()
    global_avgpool -> flatten
    head: linear(10)
}
"""


@needs_shared
@pytest.mark.slow
def test_a_backbone_pretrained_with_dlspec_beats_training_from_scratch(tmp_path):
    pretrain = DIGITS_CNN + """
data digits { source sklearn_digits; split train=0.9 val=0.1; batch 32; transform { resize(28) } }
train { optimizer adam(lr=3e-3); epochs 8 }
"""
    (tmp_path / "pre.dlspec").write_text(pretrain)
    dlspec.fit(tmp_path / "pre.dlspec", out=str(tmp_path / "pre"), log=quiet)
    target = DIGITS_CNN + f"""
data mnist {{ source mnist(root="{SHARED_DATA / 'mnist'}"); split train=0.05 test=0.95 seed=0; batch 32 }}
train {{ optimizer adam(lr=3e-3); epochs 3; metrics accuracy; seed 0; INIT }}
"""
    results = {}
    for name, init in (("scratch", ""), ("transfer", f'init "{tmp_path / "pre"}" only=features')):
        (tmp_path / f"{name}.dlspec").write_text(target.replace("INIT", init))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            logs = []
            run = dlspec.fit(tmp_path / f"{name}.dlspec", out=str(tmp_path / name), log=logs.append)
        results[name] = run.results["test"]["accuracy"]
    print(results, [line for line in logs if "init" in line])
    assert any("init: loaded" in line and "not loaded (2): head.weight, head.bias" in line for line in logs)
    assert results["transfer"] > results["scratch"] + 0.02, results


def test_init_is_strict_about_shapes(tmp_path):
    (tmp_path / "a.dlspec").write_text(DIGITS_CNN.replace("input image(1, 28, 28)", "input image(1, 8, 8)") +
                                       "data d { source sklearn_digits; split train=0.9 val=0.1 }\ntrain { epochs 1 }")
    dlspec.fit(tmp_path / "a.dlspec", out=str(tmp_path / "a"), log=quiet)
    (tmp_path / "b.dlspec").write_text(DIGITS_CNN.replace("width=16", "width=8")
                                       .replace("input image(1, 28, 28)", "input image(1, 8, 8)")
        + f'data d {{ source sklearn_digits }}\ntrain {{ epochs 1; init "{tmp_path / "a"}" }}')
    with pytest.raises(TrainError, match=r"init: shapes differ .*features\.conv\.weight \(16, 1, 3, 3\) -> \(8, 1, 3, 3\)"):
        dlspec.fit(tmp_path / "b.dlspec", out=str(tmp_path / "b"), log=quiet)
