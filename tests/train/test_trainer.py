"""The trainer on tiny real data: run files, resume, early stop, freezing, NaN and errors."""
import json
import math

import pytest
import torch

import dlspec
from dlspec.errors import TrainError, UnknownNameError
from dlspec.train.checkpoint import load_checkpoint

TINY = """
let epochs = 2
model Net {
    input image(1, 8, 8)
    features: conv(8, 3, padding=1) -> batchnorm -> relu -> maxpool(2)
    flatten
    dropout(0.1)
    head: linear(10)
}
data digits {
    source sklearn_digits
    split train=0.6 val=0.2 test=0.2 seed=0
    batch 64
    augment { rotate(5) }
}
train {
    model Net
    data digits
    optimizer sgd(lr=0.05, momentum=0.9)
    epochs epochs
    metrics accuracy, top_k(k=3)
    seed 3
    SETTINGS
}
"""


def spec(tmp_path, settings="", **overrides):
    path = tmp_path / "tiny.dlspec"
    path.write_text(TINY.replace("SETTINGS", settings))
    return dlspec.load(path, overrides or None)


def quiet(*a):
    pass


def test_run_directory_files(tmp_path):
    run = dlspec.fit(spec(tmp_path), out=str(tmp_path / "run"), log=quiet)
    names = {p.name for p in (tmp_path / "run").iterdir()}
    assert {"spec.dlspec", "run.yaml", "metrics.csv", "results.json", "last.ckpt", "best.ckpt", "curves.png"} <= names
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert set(results["test"]) == {"loss", "accuracy", "top_3"} and results["train_samples_per_second"] > 0
    assert results["final"]["epoch"] == 2 and len(run.history) == 2
    lines = (tmp_path / "run" / "metrics.csv").read_text().splitlines()
    assert lines[0].startswith("epoch,lr,loss,accuracy,top_3,val_loss") and len(lines) == 3
    ckpt = load_checkpoint(str(tmp_path / "run"))
    assert {"model", "spec_text", "settings", "optimizer", "epoch", "rng"} <= set(ckpt)
    assert ckpt["epoch"] == 2 and "conv(8, 3" in ckpt["spec_text"]


@pytest.mark.slow
def test_resume_is_bit_identical_on_cpu(tmp_path):
    straight = dlspec.fit(spec(tmp_path, epochs="4"), out=str(tmp_path / "a"), log=quiet)
    dlspec.fit(spec(tmp_path, epochs="2"), out=str(tmp_path / "b"), log=quiet)
    resumed = dlspec.fit(None, resume=str(tmp_path / "b"), epochs=4, log=quiet)
    assert [r["loss"] for r in resumed.history] == [r["loss"] for r in straight.history]
    for (ka, a), (kb, b) in zip(straight.model.state_dict().items(), resumed.model.state_dict().items()):
        assert ka == kb and torch.equal(a, b), ka


def test_early_stop_fires_and_restores_best_weights(tmp_path):
    s = spec(tmp_path, "early_stop monitor=val_accuracy patience=0 mode=max", epochs="30")
    run = dlspec.fit(s, out=str(tmp_path / "run"), log=quiet)
    assert len(run.history) < 30
    best = load_checkpoint(str(tmp_path / "run" / "best.ckpt"))
    for k, v in run.model.state_dict().items():
        assert torch.equal(v, best["model"][k])
    assert run.results["best_epoch"] == best["epoch"]


def test_freeze_keeps_parameters_and_has_no_optimizer_state(tmp_path):
    s = spec(tmp_path, "freeze features")
    torch.manual_seed(3)  # the train block's seed: the same initial weights as the run
    initial = {k: v.clone() for k, v in s.build("Net").state_dict().items()}
    run = dlspec.fit(s, out=str(tmp_path / "run"), log=quiet)
    state = run.model.state_dict()
    # `features:` names its whole chain: the conv and the batchnorm after it are frozen alike
    for key in ("features.conv.weight", "features.batchnorm.weight", "features.batchnorm.running_mean"):
        assert torch.equal(state[key], initial[key]), key
    assert not torch.equal(state["head.weight"], initial["head.weight"])
    ckpt = load_checkpoint(str(tmp_path / "run"))
    trainable = [p for p in run.model.parameters() if p.requires_grad]
    assert len(ckpt["optimizer"]["state"]) == len(trainable)


def test_nan_loss_stops_with_epoch_and_step(tmp_path):
    text = (TINY.replace("sgd(lr=0.05, momentum=0.9)", "sgd(lr=1e30)").replace("SETTINGS", "")
            .replace("-> batchnorm", ""))
    with pytest.raises(TrainError, match=r"NaN or infinite at epoch \d+, step \d+") as info:
        dlspec.fit(dlspec.loads(text, str(tmp_path / "nan.dlspec")), out=str(tmp_path / "run"), log=quiet)
    assert "lower the learning rate" in info.value.hint


def test_model_and_data_mismatch_is_reported_at_the_models_input_line(tmp_path):
    text = TINY.replace("input image(1, 8, 8)", "input image(1, 28, 28)").replace("SETTINGS", "")
    with pytest.raises(TrainError, match=r"takes samples of shape \[1, 28, 28\], but data digits gives \[1, 8, 8\]") \
            as info:
        dlspec.fit(dlspec.loads(text, str(tmp_path / "x.dlspec")), out=str(tmp_path / "run"), log=quiet)
    assert text.split("\n")[info.value.line - 1].strip().startswith("input image(1, 28, 28)")


@pytest.mark.parametrize("setting, words", [
    ("loss cross_entropyy", "unknown loss 'cross_entropyy'. Did you mean 'cross_entropy'"),
    ("early_stop monitor=val_acc", "Did you mean 'val_accuracy'"),
    ("freeze featurs", "Did you mean 'features'"),
    ("epoch 3", "Did you mean 'epochs'"),
])
def test_train_block_errors_name_the_line(tmp_path, setting, words):
    with pytest.raises(UnknownNameError) as info:
        dlspec.fit(spec(tmp_path, setting), out=str(tmp_path / "run"), log=quiet)
    assert words in info.value.message and info.value.line is not None


def test_unknown_optimizer_in_compile(tmp_path):
    path = tmp_path / "o.dlspec"
    path.write_text(TINY.replace("sgd(lr=0.05, momentum=0.9)", "adamm(lr=1e-3)").replace("SETTINGS", ""))
    with pytest.raises(UnknownNameError, match="Did you mean 'adam'"):
        dlspec.api.compile_spec(path)


def test_evaluate_and_predict(tmp_path):
    run = dlspec.fit(spec(tmp_path), out=str(tmp_path / "run"), log=quiet)
    again = dlspec.evaluate(str(tmp_path / "run"))
    assert math.isclose(again["accuracy"], run.results["test"]["accuracy"], abs_tol=1e-9)
    from PIL import Image
    from sklearn.datasets import load_digits
    image = load_digits().images[0]
    Image.fromarray((image / 16 * 255).round().astype("uint8")).save(tmp_path / "zero.png")
    [p] = dlspec.predict(str(tmp_path / "run"), [str(tmp_path / "zero.png")])
    assert p["label"] in [str(i) for i in range(10)] and 0 < p["probability"] <= 1


def test_ctrl_c_saves_a_resumable_checkpoint(tmp_path, monkeypatch):
    import dlspec.train.trainer as trainer
    real = trainer.train_epoch
    calls = []

    def interrupt_second_epoch(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(trainer, "train_epoch", interrupt_second_epoch)
    run = dlspec.fit(spec(tmp_path, epochs="3"), out=str(tmp_path / "run"), log=quiet)
    assert run.interrupted and load_checkpoint(str(tmp_path / "run"))["epoch"] == 1
    monkeypatch.setattr(trainer, "train_epoch", real)
    resumed = dlspec.fit(None, resume=str(tmp_path / "run"), log=quiet)
    assert [r["epoch"] for r in resumed.history] == [1, 2, 3]


def test_csv_regression_with_clipping_and_csv_predict(tmp_path):
    rows = "".join(f"{i / 50},{(i % 7) / 7},{i / 50 + (i % 7) / 7 + 1}\n" for i in range(100))
    (tmp_path / "t.csv").write_text("a,b,y\n" + rows)
    (tmp_path / "new.csv").write_text("a,b\n0.5,0.1\n")
    text = ('model R { input vector(2); linear(16) -> relu -> linear(1) }\n'
            'data t { source csv("t.csv", target="y"); split train=0.8 test=0.2; transform { normalize(auto) } }\n'
            'train { loss mse; optimizer adam(lr=0.03); epochs 40; clip_grad_norm 1.0; metrics mae }')
    path = tmp_path / "r.dlspec"
    path.write_text(text)
    run = dlspec.fit(path, out=str(tmp_path / "run"), log=quiet)
    assert run.results["test"]["mae"] < 0.2 and run.history[-1]["loss"] < run.history[0]["loss"]
    [p] = dlspec.predict(str(tmp_path / "run"), [str(tmp_path / "new.csv")])
    assert abs(p["prediction"] - 1.6) < 0.3


def test_binary_single_logit_with_bce(tmp_path):
    text = ('model B { input image(1, 8, 8); flatten -> linear(1) }\n'
            'data d { source idx(images="I", labels="L"); split train=0.8 test=0.2 }\n'
            'train { loss bce_with_logits; optimizer adam(lr=0.01); epochs 3; metrics accuracy, f1(average=binary) }')
    import gzip
    import numpy as np
    from sklearn.datasets import load_digits
    d = load_digits()
    keep = d.target < 2
    images = (d.images[keep] / 16 * 255).astype(np.uint8)
    with gzip.open(tmp_path / "i.gz", "wb") as f:
        f.write(bytes([0, 0, 8, 3]) + b"".join(int(n).to_bytes(4, "big") for n in images.shape) + images.tobytes())
    with gzip.open(tmp_path / "l.gz", "wb") as f:
        f.write(bytes([0, 0, 8, 1]) + len(images).to_bytes(4, "big") + d.target[keep].astype(np.uint8).tobytes())
    path = tmp_path / "b.dlspec"
    path.write_text(text.replace('"I"', '"i.gz"').replace('"L"', '"l.gz"'))
    run = dlspec.fit(path, out=str(tmp_path / "run"), log=quiet)
    assert run.results["test"]["accuracy"] > 0.95 and run.results["test"]["f1_binary"] > 0.95  # f1(average=binary)


@pytest.mark.slow
def test_spec_params_train_save_and_resume(tmp_path):
    text = TINY.replace("model Net {\n    input image(1, 8, 8)\n", "model Net {\n    input image(1, 8, 8)\n"
                        "    param gain(1, 8, 8) = normal(mean=1.0, std=0.01)\n    x = mul(input, gain)\n"
                        "    x -> conv(8, 3, padding=1)\n").replace("    features: conv(8, 3, padding=1) -> ", "    ")
    text = text.replace("SETTINGS", "")
    path = tmp_path / "p.dlspec"
    path.write_text(text)
    spec = dlspec.load(path)
    assert [n for n, _ in spec.build().named_parameters()][0] == "gain"
    dlspec.fit(spec, out=str(tmp_path / "run"), log=quiet)
    state = load_checkpoint(str(tmp_path / "run"))["model"]
    assert state["gain"].shape == (1, 8, 8) and float((state["gain"] - 1).abs().max()) > 0.011
    resumed = dlspec.fit(None, resume=str(tmp_path / "run"), epochs=3, log=quiet)
    assert len(resumed.history) == 3 and torch.isfinite(resumed.model.gain).all()
