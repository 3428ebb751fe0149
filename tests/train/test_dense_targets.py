"""Dense (per-pixel) targets: cross_entropy over [C, H, W], the dice loss, the iou and pixel_accuracy metrics
against hand-written references at several batch sizes, the output checks, and a U-Net that learns."""
import importlib.util

import numpy as np
import pytest
import torch
from sklearn.metrics import jaccard_score

import dlspec
from tests.conftest import ROOT
from dlspec.errors import TrainError
from dlspec.train.loop import prepare_target
from dlspec.train.losses import LOSSES
from dlspec.train.metrics import METRICS

CLASSES, H, W = 4, 5, 6


def batches(seed=0, n=7):
    """Logits [n, C, H, W] and targets [n, H, W]; class 3 never in the targets, so the references skip it only
    where the predictions skip it too."""
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, CLASSES, H, W, generator=g)
    targets = torch.randint(0, CLASSES - 1, (n, H, W), generator=g)
    return logits, targets


def summed(name, logits, targets, batch):
    metric = METRICS[name].make({a.name: a.default for a in METRICS[name].args})
    for start in range(0, len(logits), batch):
        metric.update(logits[start:start + batch], targets[start:start + batch])
    return metric.compute()


@pytest.mark.parametrize("batch", [1, 2, 3, 7])
def test_iou_is_sklearns_macro_jaccard_over_the_whole_split(batch):
    logits, targets = batches()
    pred = logits.argmax(1)
    expected = jaccard_score(targets.reshape(-1).numpy(), pred.reshape(-1).numpy(), average="macro")
    assert summed("iou", logits, targets, batch) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("batch", [1, 2, 3])
def test_iou_is_not_a_mean_of_batch_means(batch):
    """Two batches of very different IoU and size: the split's IoU weighs pixels, not batches."""
    logits, targets = batches(seed=1, n=6)
    logits[:1] = torch.nn.functional.one_hot(targets[:1], CLASSES).movedim(-1, 1).float()  # one perfect sample
    expected = jaccard_score(targets.reshape(-1).numpy(), logits.argmax(1).reshape(-1).numpy(), average="macro")
    assert summed("iou", logits, targets, batch) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("batch", [1, 2, 3])
def test_pixel_accuracy_counts_pixels(batch):
    logits, targets = batches()
    expected = float((logits.argmax(1) == targets).double().mean())
    assert summed("pixel_accuracy", logits, targets, batch) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("batch", [1, 2, 3])
def test_f1_over_pixels_is_sklearns(batch):
    from sklearn.metrics import f1_score
    logits, targets = batches()
    truth = targets.reshape(-1).numpy()  # dlspec's macro f1 averages the classes the targets hold
    expected = f1_score(truth, logits.argmax(1).reshape(-1).numpy(), average="macro", labels=np.unique(truth))
    assert summed("f1", logits, targets, batch) == pytest.approx(expected, abs=1e-12)


def numpy_dice(logits: np.ndarray, targets: np.ndarray, smooth: float) -> float:
    """1 - mean over classes of (2 sum(p t) + s) / (sum(p) + sum(t) + s), written out with numpy."""
    e = np.exp(logits - logits.max(1, keepdims=True))
    p = e / e.sum(1, keepdims=True)
    scores = []
    for c in range(logits.shape[1]):
        t = (targets == c).astype(np.float64)
        scores.append((2 * (p[:, c] * t).sum() + smooth) / (p[:, c].sum() + t.sum() + smooth))
    return 1 - float(np.mean(scores))


@pytest.mark.parametrize("batch, smooth", [(1, 1.0), (2, 1.0), (3, 0.5), (7, 1e-3)])
def test_dice_is_the_documented_formula(batch, smooth):
    logits, targets = batches(n=batch)
    loss_entry = LOSSES["dice"]
    loss = loss_entry.build({"smooth": smooth})(logits, prepare_target(loss_entry, logits, targets))
    assert float(loss) == pytest.approx(numpy_dice(logits.double().numpy(), targets.numpy(), smooth), abs=1e-6)


def test_dice_is_zero_for_a_perfect_confident_prediction():
    _, targets = batches(n=2)
    logits = torch.nn.functional.one_hot(targets, CLASSES).movedim(-1, 1).float() * 50
    assert float(LOSSES["dice"].build({"smooth": 1.0})(logits, targets)) == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("batch", [1, 2, 3])
def test_cross_entropy_over_pixels_is_torchs(batch):
    logits, targets = batches(n=batch)
    entry = LOSSES["cross_entropy"]
    got = entry.build({"label_smoothing": 0.0})(logits, prepare_target(entry, logits, targets.int()))
    torch.testing.assert_close(got, torch.nn.functional.cross_entropy(logits, targets))


def load_make_shapes():
    path = ROOT / "examples" / "segmentation" / "make_shapes.py"
    spec = importlib.util.spec_from_file_location("make_shapes", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def shapes(tmp_path):
    load_make_shapes().make_shapes(str(tmp_path / "shapes"), count=40, size=16, seed=3)
    return tmp_path / "shapes"


def unet_spec(write_spec, shapes, name="unet.dlspec", **replace):
    """The shipped U-Net spec reading `shapes`, with text replaced (old=new pairs given as tuples)."""
    text = (ROOT / "specs" / "unet_shapes.dlspec").read_text(encoding="utf-8")
    text = text.replace('"../examples/segmentation/shapes/', f'"{shapes}/')
    for old, new in replace.values():
        assert old in text
        text = text.replace(old, new)
    return write_spec(text, name)


def test_the_shapes_script_is_seeded(tmp_path):
    make = load_make_shapes().make_shapes
    make(str(tmp_path / "a"), count=3, size=16, seed=5)
    make(str(tmp_path / "b"), count=3, size=16, seed=5)
    for folder in ("images", "masks"):
        for name in ("shape_0000.png", "shape_0002.png"):
            assert (tmp_path / "a" / folder / name).read_bytes() == (tmp_path / "b" / folder / name).read_bytes()
    from PIL import Image
    mask = np.asarray(Image.open(tmp_path / "a" / "masks" / "shape_0000.png"))
    assert mask.shape == (16, 16) and set(np.unique(mask)) <= {0, 1, 2} and mask.max() > 0


@pytest.mark.parametrize("loss", ["cross_entropy", "dice"])
def test_the_unet_spec_learns_and_evaluate_gives_iou(shapes, tmp_path, write_spec, loss):
    """The mechanism on a tiny subset (not the stated figure): the loss falls and the IoU rises."""
    path = unet_spec(write_spec, shapes, loss=("loss cross_entropy", f"loss {loss}"))
    run = dlspec.fit(path, overrides={"size": 16, "epochs": 4}, out=str(tmp_path / "run"), log=lambda *a: None,
                     progress=False)
    first, last = run.history[0], run.history[-1]
    assert last["loss"] < first["loss"] and last["iou"] > first["iou"], run.history
    results = dlspec.evaluate(str(tmp_path / "run"), split="test")
    assert 0.0 < results["iou"] <= 1.0 and 0.0 < results["pixel_accuracy"] <= 1.0, results
    if loss == "cross_entropy":
        check_predicted_class_maps(run, shapes, tmp_path)


def check_predicted_class_maps(run, shapes, tmp_path):
    """predict answers a class map per image (the argmax of the model's scores on the normalised image), kept
    in a .npy beside --out, and the share of the pixels of each class in words."""
    from PIL import Image
    files = [str(shapes / "images" / f"shape_{i:04d}.png") for i in (0, 5)]
    answers = dlspec.predict(str(tmp_path / "run"), files, out=str(tmp_path / "preds.csv"))
    maps = np.load(tmp_path / "preds.npy")
    assert maps.shape == (2, 16, 16)
    from dlspec.runs.loaded import LoadedRun
    loaded = LoadedRun(str(tmp_path / "run"))  # the reference: the best weights on the same normalised pixels
    norm = loaded.record.data.normalization
    mean, std = torch.tensor(norm["mean"]).view(3, 1, 1), torch.tensor(norm["std"]).view(3, 1, 1)
    x = torch.stack([(torch.from_numpy(np.array(Image.open(f).convert("RGB"))).permute(2, 0, 1).float() / 255
                      - mean) / std for f in files])
    with torch.no_grad():
        expected = loaded.model.eval()(x).argmax(1)
    assert np.array_equal(maps, expected.numpy().astype(np.float32))
    counts = torch.bincount(expected[0].flatten(), minlength=3)
    names = ["background", "circle", "square"]
    assert answers[0]["pixels"] == ", ".join(f"{names[i]} {int(c) / 256:.1%}" for i, c in enumerate(counts) if c)
    assert "output_index" in (tmp_path / "preds.csv").read_text(encoding="utf-8")
    from dlspec.runs.writers import readable
    assert readable(answers[1]) == f"{files[1]}: class map 16x16 ({answers[1]['pixels']})"


def test_a_model_whose_output_is_not_classes_by_pixels_is_refused(shapes, tmp_path, write_spec):
    path = unet_spec(write_spec, shapes, head=("d1 -> conv(3, 1)", "d1 -> conv(2, 1)"))
    with pytest.raises(TrainError) as err:
        dlspec.fit(path, overrides={"size": 16, "epochs": 1}, out=str(tmp_path / "run"), log=lambda *a: None)
    assert "outputs [2, 16, 16] per sample, but data shapes has masks of 16x16 pixels (width x height) and 3 classes " \
           "(background, circle, square), which need one score per class and pixel: [3, 16, 16]" in str(err.value)
    assert "conv(3, 1)" in err.value.hint


def test_a_loss_that_does_not_score_classes_is_refused_on_masks(shapes, tmp_path, write_spec):
    path = unet_spec(write_spec, shapes, loss=("loss cross_entropy", "loss mse"))
    with pytest.raises(TrainError) as err:
        dlspec.fit(path, overrides={"size": 16, "epochs": 1}, out=str(tmp_path / "run"), log=lambda *a: None)
    assert "loss mse" in str(err.value)
