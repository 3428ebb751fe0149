"""The cached data path (dlspec/data/cache.py, data/route.py): same batches as the loader path, exact
resume with augmentation, the budget error, mixup/cutmix training and refusal, the path shown by
compile --show and the fit header, and the GPU presets / compile setting (train/presets.py)."""
import time
import warnings

import pytest
import torch
from click.testing import CliRunner
from PIL import Image

import dlspec
from dlspec.cli import main
from dlspec.data import cache
from dlspec.data.cache import CachedLoader
from dlspec.data.pipeline import build_data
from dlspec.errors import DataError, DlspecError
from dlspec.train import presets
from dlspec.train.config import read_train
from dlspec.train.loop import StepSetup
from dlspec.train.losses import LOSSES

SPEC = """
model Net {
    input image(CHANNELS, 8, 8)
    conv(8, 3, padding=1) -> batchnorm -> relu -> maxpool(2)
    flatten
    linear(CLASSES)
}
data d {
    source SOURCE
    split train=0.6 val=0.2 test=0.2 seed=1
    batch 16
    DATA
}
train {
    model Net
    data d
    optimizer sgd(lr=0.05, momentum=0.9)
    epochs 2
    metrics accuracy
    seed 4
    TRAIN
}
"""


def make(tmp_path, data="", train="", source="sklearn_digits", channels=1, classes=10, split=None):
    text = SPEC if split is None else SPEC.replace("train=0.6 val=0.2 test=0.2", split)
    text = (text.replace("SOURCE", source).replace("DATA", data).replace("TRAIN", train)
            .replace("CHANNELS", str(channels)).replace("CLASSES", str(classes)))
    path = tmp_path / "s.dlspec"
    path.write_text(text)
    return dlspec.load(path)


def data_cfg(spec):
    return read_train(spec).data


def batches(loader, epoch):
    loader.set_epoch(epoch)
    return list(loader)


def assert_same_batches(a, b, exact=True):
    assert len(a) == len(b) and len(a) > 1
    for (xa, ya), (xb, yb) in zip(a, b):
        assert torch.equal(ya, yb)
        assert torch.equal(xa, xb) if exact else torch.allclose(xa, xb, atol=1e-6)


@pytest.mark.parametrize("data", ["", "transform { normalize(mean=[0.3], std=[0.2]) }",
                                  "transform { resize(10) -> center_crop(8) }"])
def test_cached_path_gives_the_loader_paths_batches_without_augmentation(tmp_path, data):
    cached = build_data(data_cfg(make(tmp_path, data)))
    loader = build_data(data_cfg(make(tmp_path, data + "; cache none")))
    assert isinstance(cached.loaders["train"], CachedLoader) and not isinstance(loader.loaders["train"], CachedLoader)
    for split in ("train", "val", "test"):
        for epoch in (0, 3):
            assert_same_batches(batches(cached.loaders[split], epoch), batches(loader.loaders[split], epoch))


def test_normalize_auto_measures_the_same_statistics(tmp_path):
    cached = build_data(data_cfg(make(tmp_path, "transform { normalize(auto) }")))
    loader = build_data(data_cfg(make(tmp_path, "transform { normalize(auto) }; cache none")))
    for key in ("mean", "std"):
        assert cached.normalization[key] == pytest.approx(loader.normalization[key], rel=1e-6)
    assert_same_batches(batches(cached.loaders["train"], 1), batches(loader.loaders["train"], 1), exact=False)


def test_normalize_auto_measures_each_feature_of_a_table_as_the_loader_path_does(tmp_path):
    # a table's sample is (features,): each feature is a channel on both paths (one mean over all the
    # features would leave a column of sizes near 100 beside one of rooms near 3)
    g = torch.Generator().manual_seed(0)
    rows = ["size,rooms,flag,price"] + [f"{100 + 50 * float(torch.rand(1, generator=g)):.2f},"
                                        f"{int(torch.randint(1, 6, (1,), generator=g))},{i % 2},{i}"
                                        for i in range(60)]
    (tmp_path / "t.csv").write_text("\n".join(rows) + "\n")
    text = ('model M { input vector(3); linear(1) }\n'
            'data d { source csv("t.csv", target="price"); split train=0.8 test=0.2; batch 8; CACHE\n'
            '         transform { normalize(auto) } }\n'
            'train { loss mse; epochs 1 }\n')
    found = {}
    for cache_setting in ("cache auto", "cache none"):
        (tmp_path / "s.dlspec").write_text(text.replace("CACHE", cache_setting))
        found[cache_setting] = build_data(data_cfg(dlspec.load(tmp_path / "s.dlspec")))
    cached, loader = found["cache auto"], found["cache none"]
    assert isinstance(cached.loaders["train"], CachedLoader)
    assert len(cached.normalization["mean"]) == 3
    for key in ("mean", "std"):
        assert cached.normalization[key] == pytest.approx(loader.normalization[key], rel=1e-5)
    assert_same_batches(batches(cached.loaders["train"], 1), batches(loader.loaders["train"], 1), exact=False)


def _image_folder(root, size=(6, 5)):
    g = torch.Generator().manual_seed(0)
    for c in range(3):
        (root / f"c{c}").mkdir(parents=True)
        for i in range(10):
            pixels = torch.randint(0, 256, (size[1], size[0], 3), generator=g, dtype=torch.uint8).numpy()
            Image.fromarray(pixels).save(root / f"c{c}" / f"{i}.png")


def test_image_files_are_cached_as_uint8_and_batch_like_the_loader(tmp_path):
    _image_folder(tmp_path / "imgs")
    src = 'image_folder("imgs")'
    spec_text = dict(source=src, channels=3, classes=3)
    cached = build_data(data_cfg(make(tmp_path, "transform { center_crop(4) }", **spec_text)))
    loader = build_data(data_cfg(make(tmp_path, "transform { center_crop(4) }; cache none", **spec_text)))
    assert cached.loaders["train"].x.dtype == torch.uint8 and cached.sample_shape == (3, 4, 4)
    for epoch in (0, 1):
        assert_same_batches(batches(cached.loaders["train"], epoch), batches(loader.loaders["train"], epoch))


def test_augmented_batches_depend_only_on_seed_and_epoch(tmp_path):
    cfg = data_cfg(make(tmp_path, "augment { random_crop(8, padding=1) -> rotate(10) -> flip(horizontal) }"))
    a, b = build_data(cfg).loaders["train"], build_data(cfg).loaders["train"]
    batches(a, 0)  # a has run an epoch already; b has not
    assert_same_batches(batches(a, 1), batches(b, 1))
    first, second = batches(a, 1), batches(a, 2)
    assert not torch.equal(first[0][0], second[0][0])


def quiet(*a):
    pass


@pytest.mark.slow
def test_resume_is_bit_exact_with_augmentation_on_the_cached_path(tmp_path):
    data = "augment { random_crop(8, padding=1) -> rotate(10) -> flip(horizontal) -> noise(0.05) }"
    spec = make(tmp_path, data)
    straight = dlspec.fit(spec, out=str(tmp_path / "a"), epochs=2, log=quiet, progress=False)
    dlspec.fit(make(tmp_path, data), out=str(tmp_path / "b"), epochs=1, log=quiet, progress=False)
    resumed = dlspec.fit(None, resume=str(tmp_path / "b"), epochs=2, log=quiet, progress=False)
    assert [r["loss"] for r in resumed.history] == [r["loss"] for r in straight.history]
    for (ka, a), (kb, b) in zip(straight.model.state_dict().items(), resumed.model.state_dict().items()):
        assert ka == kb and torch.equal(a, b), ka


def test_cache_device_on_data_that_does_not_fit_names_the_line_and_sizes(tmp_path, monkeypatch):
    monkeypatch.setattr(cache, "available_ram", lambda: 40_000)  # a 10,000-byte budget
    spec = make(tmp_path, "cache device")
    with pytest.raises(DataError) as exc:
        build_data(data_cfg(spec))
    text = str(exc.value)
    assert "s.dlspec:12:" in text and "cache device" in text and "cache device: data d takes" in text
    assert "KB once decoded, more than the cache budget of 9.8 KB" in text and "cache auto" in text
    bundle = build_data(data_cfg(make(tmp_path, "")))  # cache auto falls back and says why
    assert not isinstance(bundle.loaders["train"], CachedLoader)
    assert "per-sample DataLoader (the decoded data" in bundle.path and "does not fit" in bundle.path


def test_a_step_without_a_batched_form_takes_the_per_sample_path_and_says_why(tmp_path):
    spec = make(tmp_path, "augment { flip(horizontal) -> random_resized_crop(8, scale=[0.5, 1.0]) }")
    bundle = build_data(data_cfg(spec))
    assert not isinstance(bundle.loaders["train"], CachedLoader)
    assert bundle.path == ("data d: per-sample DataLoader (augment step random_resized_crop at line 12 "
                           "has no batched form (it runs per sample only))")
    result = CliRunner().invoke(main, ["compile", str(tmp_path / "s.dlspec"), "--show"])
    assert result.exit_code == 0 and bundle.path in result.output
    with pytest.raises(DataError) as exc:
        data_cfg(make(tmp_path, "cache device; augment { random_resized_crop(8) }"))
    assert "s.dlspec:12:" in str(exc.value) and "has no batched form" in str(exc.value)


def test_compile_show_and_the_fit_header_name_the_cached_path(tmp_path):
    make(tmp_path, "augment { flip(horizontal) }")
    result = CliRunner().invoke(main, ["compile", str(tmp_path / "s.dlspec"), "--show"])
    assert "data d: cached on the training device when it fits" in result.output
    lines = []
    dlspec.fit(make(tmp_path, "augment { flip(horizontal) }", split="train=0.1 val=0.9"), out=str(tmp_path / "r"),
               epochs=1, log=lines.append, progress=False)
    assert any(line.startswith("data d: cached in cpu (") and "flip batched on cpu" in line for line in lines)


@pytest.mark.slow
@pytest.mark.parametrize("step", ["mixup(0.4)", "cutmix(1.0)"])
def test_mixup_and_cutmix_train_with_soft_targets(tmp_path, step):
    run = dlspec.fit(make(tmp_path, f"augment {{ flip(horizontal) -> {step} }}"), out=str(tmp_path / "r"),
                     log=quiet, progress=False)
    assert all(r["loss"] == r["loss"] for r in run.history)
    assert run.history[-1]["val_accuracy"] > 0.5 and run.results["test"]["accuracy"] > 0.5


@pytest.mark.parametrize("loss", ["nll", "mse"])
def test_mixup_is_refused_with_a_located_error_when_the_loss_cannot_take_soft_targets(tmp_path, loss):
    spec = make(tmp_path, "augment { mixup(0.2) }", train=f"loss {loss}")
    with pytest.raises(DlspecError) as exc:
        read_train(spec)
    text = str(exc.value)
    assert "s.dlspec:12:" in text and f"mixup makes soft targets" in text and f"loss {loss} (line 21)" in text
    assert "cross_entropy or bce_with_logits" in text
    result = CliRunner().invoke(main, ["compile", str(tmp_path / "s.dlspec")])
    assert result.exit_code != 0 and "Traceback" not in result.output


def test_mixup_on_the_per_sample_path_is_refused(tmp_path):
    with pytest.raises(DataError) as exc:
        data_cfg(make(tmp_path, "cache none; augment { cutmix(1.0) }"))
    assert "s.dlspec:12:" in str(exc.value) and "only the cached path offers" in str(exc.value)


def test_cache_setting_values_are_checked(tmp_path):
    with pytest.raises(DlspecError) as exc:
        data_cfg(make(tmp_path, "cache gpu"))
    assert "auto, device, host, none" in str(exc.value)


# ---- presets and compile ----


def on_cpu(model, loss_fn=None) -> StepSetup:
    """What compiled_model reads: the model, a class loss (cross_entropy's entry), the CPU, fp32."""
    return StepSetup(model, LOSSES["cross_entropy"], loss_fn, torch.device("cpu"))


def test_compile_off_and_auto_on_cpu_train_the_plain_model():
    model = torch.nn.Linear(3, 2)
    for setting in ("off", "auto"):
        assert presets.compiled_model(on_cpu(model), setting, None, 10) is model
    assert presets.apply_gpu_presets(model, torch.device("cpu"), "auto", {}) == []


def test_a_failing_compile_falls_back_to_eager_with_a_warning(monkeypatch):
    class Broken(torch.nn.Module):
        def forward(self, x):
            raise RuntimeError("backend compiler failed: no C++ compiler")

    monkeypatch.setattr(torch, "compile", lambda model: Broken())
    model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    batch = (torch.randn(4, 3), torch.tensor([0, 1, 0, 1]))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        chosen = presets.compiled_model(on_cpu(model, torch.nn.functional.cross_entropy), "on", batch, 10, quiet)
    assert chosen is model
    assert any("torch.compile failed (RuntimeError: backend compiler failed" in str(w.message) for w in caught)
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_calibration_leaves_weights_and_statistics_untouched(monkeypatch):
    class Slower(torch.nn.Module):  # a "compiled" model that is slower than eager: auto must keep eager
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, x):
            time.sleep(0.02)
            return self.model(x)

    monkeypatch.setattr(torch, "compile", Slower)
    monkeypatch.setattr(presets, "CALIBRATED_ON", ("cpu",))
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.Dropout(0.5))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    batch = (torch.randn(8, 3), torch.randint(0, 4, (8,)))
    rng = torch.get_rng_state()
    logs = []
    chosen = presets.compiled_model(on_cpu(model, torch.nn.functional.cross_entropy), "auto", batch, 10, logs.append)
    assert chosen is model and logs and "-> eager" in logs[0]
    assert torch.equal(torch.get_rng_state(), rng) and all(p.grad is None for p in model.parameters())
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k


@pytest.mark.parametrize("fast, compile_seconds, planned, expected", [
    (0.5, 1.0, 1000, "compiled"),  # 2x, compile 0.2% of the run
    (0.95, 1.0, 1000, "eager"),  # 1.05x: not worth it
    (0.5, 10.0, 100, "eager"),  # 2x, but compiling takes 10% of the run
])
def test_compile_auto_decision(monkeypatch, fast, compile_seconds, planned, expected):
    monkeypatch.setattr(presets, "CALIBRATED_ON", ("cpu",))
    times = iter([compile_seconds, fast, 1.0])  # first (compiling) call, compiled steps, eager steps
    monkeypatch.setattr(presets, "_timed_steps", lambda *a: next(times))
    monkeypatch.setattr(torch, "compile", lambda model: torch.nn.Identity())
    model = torch.nn.Linear(2, 2)
    logs = []
    chosen = presets.compiled_model(on_cpu(model), "auto", (torch.zeros(1, 2), None), planned, logs.append)
    assert (chosen is model) == (expected == "eager") and logs[0].endswith("-> " + expected)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_gpu_cache_presets_and_compile(tmp_path):
    spec = make(tmp_path, "augment { random_crop(8, padding=1) -> flip(horizontal) }", train="compile auto")
    lines = []
    run = dlspec.fit(spec, out=str(tmp_path / "r"), device="cuda", log=lines.append, progress=False)
    assert any("cached in cuda" in line and "channels_last" in line for line in lines)
    assert any(line.startswith("compile auto:") for line in lines)
    assert run.results["test"]["accuracy"] > 0.5


def test_a_plugin_transform_runs_per_sample_and_the_path_says_so(tmp_path):
    from dlspec.data.transforms import TRANSFORMS
    from dlspec.plugins.adapters import register_transform_plugin

    class Invert:
        def __call__(self, x):
            return 1 - x

    register_transform_plugin("test_cache_invert", Invert)
    try:
        bundle = build_data(data_cfg(make(tmp_path, "augment { flip(horizontal) -> test_cache_invert() }")))
    finally:
        TRANSFORMS.remove("test_cache_invert")
    assert not isinstance(bundle.loaders["train"], CachedLoader)
    assert "augment step test_cache_invert at line 12 has no batched form (a plugin transform)" in bundle.path


def test_images_of_different_sizes_are_resized_then_cached(tmp_path):
    _image_folder(tmp_path / "imgs" / "a", size=(6, 5))
    _image_folder(tmp_path / "imgs" / "b", size=(9, 7))
    src = 'image_folder("imgs/a")'
    import shutil
    for c in range(3):  # mix both sizes in every class folder
        for f in (tmp_path / "imgs" / "b" / f"c{c}").iterdir():
            shutil.copy(f, tmp_path / "imgs" / "a" / f"c{c}" / f"big_{f.name}")
    bundle = build_data(data_cfg(make(tmp_path, "transform { resize([4, 4]) }", source=src, channels=3, classes=3)))
    assert isinstance(bundle.loaders["train"], CachedLoader) and bundle.loaders["train"].x.dtype == torch.uint8
    assert bundle.sample_shape == (3, 4, 4) and bundle.sizes["train"] + bundle.sizes["val"] + bundle.sizes["test"] == 60
