"""`init "file"` loads a plain state_dict (torch.save(model.state_dict())) as well as a dlspec run; keys that
differ are named at the init line."""
import pytest
import torch

import dlspec
from dlspec.errors import Loc, TrainError
from dlspec.train.finetune import init_weights

MODEL = """model Net {
    input image(1, 8, 8)
    features: conv(4, 3, padding=1) -> relu -> global_avgpool -> flatten
    head: linear(10)
}
"""
TRAIN_LINE = 9  # the line of `init` in spec() below


def spec(init_path, only=""):
    return (MODEL + "data d { source sklearn_digits; split train=0.9 test=0.1; batch 256 }\n"
            + f'train {{\n    epochs 1\n    init "{init_path}"{f" only={only}" if only else ""}\n}}\n')


def quiet(*args):
    pass


def fresh_model():
    return dlspec.loads(MODEL).build()


def saved_state(path, transform=lambda state: state):
    torch.manual_seed(5)
    state = fresh_model().state_dict()
    torch.save(transform(state), path)
    return state


def test_the_spec_puts_init_on_the_line_the_tests_expect(tmp_path):
    assert spec(tmp_path / "w.pth").splitlines()[TRAIN_LINE - 1].strip().startswith("init ")


def test_a_plain_state_dict_loads_into_fit(tmp_path):
    saved = saved_state(tmp_path / "weights.pth")
    (tmp_path / "net.dlspec").write_text(spec(tmp_path / "weights.pth"))
    logs = []
    dlspec.fit(tmp_path / "net.dlspec", out=str(tmp_path / "run"), log=logs.append, progress=False)
    assert f"init: loaded {len(saved)} tensors from {tmp_path / 'weights.pth'}" in logs


@pytest.mark.parametrize("wrap", ["plain", "model", "state_dict", "model_state_dict"])
def test_every_form_of_weights_file_loads_exactly(tmp_path, wrap):
    saved = saved_state(tmp_path / "w.pt", lambda s: s if wrap == "plain" else {wrap: s, "epoch": 3})
    model = fresh_model()
    report = init_weights(model, {"path": str(tmp_path / "w.pt"), "only": None}, None)
    assert report == f"init: loaded {len(saved)} tensors from {tmp_path / 'w.pt'}"
    assert all(torch.equal(model.state_dict()[k], saved[k]) for k in saved)


def test_keys_that_differ_are_named_at_the_init_line(tmp_path):
    saved_state(tmp_path / "w.pth", lambda s: {f"module.{k}": v for k, v in s.items()})  # DataParallel's names
    (tmp_path / "net.dlspec").write_text(spec(tmp_path / "w.pth"))
    with pytest.raises(TrainError) as info:
        dlspec.fit(tmp_path / "net.dlspec", out=str(tmp_path / "run"), log=quiet, progress=False)
    error = info.value
    assert error.line == TRAIN_LINE
    assert error.message == (f"init: no tensor of {tmp_path / 'w.pth'} matches the model: the model has "
                             "features.conv.weight, features.conv.bias, head.weight, head.bias; the file has "
                             "module.features.conv.weight, module.features.conv.bias, module.head.weight, module.head.bias")
    assert "every name in the file starts with 'module.'" in error.hint


def test_a_few_of_many_differing_keys_are_named(tmp_path):
    torch.save({f"layer{i}.weight": torch.zeros(2) for i in range(12)}, tmp_path / "w.pth")
    with pytest.raises(TrainError) as info:
        init_weights(fresh_model(), {"path": str(tmp_path / "w.pth"), "only": None}, Loc("s.dlspec", 8, 5))
    assert info.value.message.endswith("the file has layer0.weight, layer1.weight, layer2.weight, layer3.weight, "
                                       "layer4.weight ... (7 more)")
    assert info.value.line == 8


def test_shape_mismatches_are_named(tmp_path):
    saved_state(tmp_path / "w.pth", lambda s: {**s, "head.weight": torch.zeros(3, 4)})
    (tmp_path / "net.dlspec").write_text(spec(tmp_path / "w.pth"))
    with pytest.raises(TrainError) as info:
        dlspec.fit(tmp_path / "net.dlspec", out=str(tmp_path / "run"), log=quiet, progress=False)
    assert info.value.message == "init: shapes differ for 1 tensor(s): head.weight (3, 4) -> (10, 4)"
    assert info.value.line == TRAIN_LINE


def test_a_partial_match_loads_and_reports_both_sides(tmp_path):
    saved_state(tmp_path / "w.pth", lambda s: {"features.conv.weight": s["features.conv.weight"], "features.conv.bias": s["features.conv.bias"],
                                               "classifier.weight": torch.zeros(10, 4)})
    report = init_weights(fresh_model(), {"path": str(tmp_path / "w.pth"), "only": None}, None)
    assert report == (f"init: loaded 2 tensors from {tmp_path / 'w.pth'}; not loaded (2): head.weight, head.bias; "
                      "in the file but not the model (1): classifier.weight")


def test_only_loads_under_its_label_from_a_plain_state_dict(tmp_path):
    saved = saved_state(tmp_path / "w.pth")
    model = fresh_model()
    before = model.state_dict()["head.weight"].clone()
    report = init_weights(model, {"path": str(tmp_path / "w.pth"), "only": "features"}, None)
    assert report.startswith("init: loaded 2 tensors") and "not loaded (2): head.weight, head.bias" in report
    assert torch.equal(model.state_dict()["features.conv.weight"], saved["features.conv.weight"])
    assert torch.equal(model.state_dict()["head.weight"], before)


@pytest.mark.parametrize("content, described", [
    (torch.zeros(3), "a Tensor"), ([1, 2], "a list"), ({"epoch": 3, "lr": 0.1}, "a dict with keys epoch, lr"),
])
def test_a_file_without_a_state_dict_says_what_it_holds(tmp_path, content, described):
    torch.save(content, tmp_path / "w.pth")
    with pytest.raises(TrainError) as info:
        init_weights(fresh_model(), {"path": str(tmp_path / "w.pth"), "only": None}, Loc("s.dlspec", 8, 5))
    assert info.value.message.startswith(f"init: {tmp_path / 'w.pth'} holds no state_dict")
    assert info.value.message.endswith(f"it holds {described}") and info.value.line == 8
    assert "torch.save(model.state_dict(), PATH)" in info.value.hint
