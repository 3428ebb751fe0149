"""Data blocks: sources, splits, transforms and loaders, on real local data."""
import warnings

import pytest
import torch

import dlspec
from tests.conftest import SHARED_DATA, needs_shared
from dlspec.data.config import read_data
from dlspec.data.pipeline import build_data
from dlspec.data.splits import split_indices
from dlspec.errors import ArgumentError, DataError, UnknownNameError

HYMENOPTERA = SHARED_DATA / "hymenoptera_data" / "train"
MNIST = SHARED_DATA / "mnist"


def data_config(text, path="<string>"):
    spec = dlspec.loads(text, str(path))
    decl = next(iter(spec.program.data.values()))
    return read_data(decl, spec.program.global_env())


def test_splits_are_disjoint_complete_stratified_and_reproducible():
    targets = [i % 3 for i in range(300)] + [0] * 30
    fractions = {"train": 0.7, "val": 0.15, "test": 0.15}
    a = split_indices(len(targets), fractions, seed=1, targets=targets)
    b = split_indices(len(targets), fractions, seed=1, targets=targets)
    a, b = ({k: v.tolist() for k, v in s.items()} for s in (a, b))
    assert a == b
    all_idx = a["train"] + a["val"] + a["test"]
    assert sorted(all_idx) == list(range(len(targets)))  # every sample exactly once
    share = sum(targets[i] == 0 for i in a["test"]) / len(a["test"])
    assert abs(share - 130 / 330) < 0.03  # the class keeps its share
    assert {k: v.tolist() for k, v in split_indices(len(targets), fractions, seed=2, targets=targets).items()} != a


def test_digits_source_and_loaders():
    cfg = data_config("data d { source sklearn_digits; split train=0.8 test=0.2 seed=0; batch 50 }")
    bundle = build_data(cfg)
    assert bundle.sample_shape == (1, 8, 8) and len(bundle.classes) == 10
    assert set(bundle.loaders) == {"train", "test"} and bundle.sizes["train"] + bundle.sizes["test"] == 1797
    x, y = next(iter(bundle.loaders["train"]))
    assert x.shape == (50, 1, 8, 8) and 0 <= float(x.min()) and float(x.max()) <= 1 and y.dtype == torch.long


def test_augment_applies_to_the_training_split_only():
    cfg = data_config("data d { source sklearn_digits; split train=0.5 test=0.5; shuffle false\n"
                      " augment { noise(5.0) } }")
    bundle = build_data(cfg)
    train_x = next(iter(bundle.loaders["train"]))[0]
    test_x = next(iter(bundle.loaders["test"]))[0]
    assert float(train_x.abs().max()) > 2  # noise of std 5 left its mark
    assert 0 <= float(test_x.min()) and float(test_x.max()) <= 1  # test data untouched


def test_normalize_auto_uses_training_statistics():
    cfg = data_config("data d { source sklearn_digits; split train=0.8 test=0.2\n transform { normalize(auto) } }")
    bundle = build_data(cfg)
    xs = torch.cat([x for x, _ in bundle.loaders["train"]])
    assert abs(float(xs.mean())) < 1e-4 and abs(float(xs.std()) - 1) < 1e-2
    assert len(bundle.normalization["mean"]) == 1


@needs_shared
def test_image_folder_with_resize_on_real_images():
    cfg = data_config(f'data d {{ source image_folder("{HYMENOPTERA}"); split train=0.8 val=0.2; batch 8\n'
                      ' transform { resize(40) -> center_crop(32) -> normalize(mean=[0.5, 0.5, 0.5], std=[0.5, 0.5, 0.5]) } }')
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bundle = build_data(cfg)
    assert bundle.classes == ["ants", "bees"] and bundle.sample_shape == (3, 32, 32)
    assert bundle.sizes["train"] + bundle.sizes["val"] == 245  # the .gif counts too: Pillow reads it


@needs_shared
def test_image_folder_of_different_sizes_needs_a_resize():
    cfg = data_config(f'data d {{ source image_folder("{HYMENOPTERA}") }}')
    with pytest.raises(DataError, match="images differ in size") as info:
        build_data(cfg)
    assert "resize" in info.value.hint


def test_corrupt_images_are_skipped_with_a_warning_naming_each(tmp_path):
    from PIL import Image
    for cls in ("a", "b"):
        (tmp_path / cls).mkdir()
        for i in range(4):
            Image.new("RGB", (10, 10), (i * 40, 0, 0)).save(tmp_path / cls / f"{i}.png")
    (tmp_path / "a" / "broken.jpg").write_bytes(b"not an image")
    cfg = data_config(f'data d {{ source image_folder("{tmp_path}"); split train=0.5 test=0.5 }}')
    with pytest.warns(UserWarning, match="broken.jpg"):
        bundle = build_data(cfg)
    assert bundle.sizes["train"] + bundle.sizes["test"] == 8


def test_relative_paths_resolve_against_the_spec_folder(tmp_path, write_spec):
    (tmp_path / "table.csv").write_text("a,b,label\n" + "".join(f"{i},{i * 2},{i % 2}\n" for i in range(20)))
    path = write_spec('data d { source csv("table.csv", target="label"); split train=0.5 test=0.5 }')
    bundle = build_data(data_config(path.read_text(), path))
    assert bundle.sample_shape == (2,) and bundle.classes == ["0", "1"]


@needs_shared
def test_mnist_falls_back_to_local_idx_files():
    cfg = data_config(f'data d {{ source mnist(root="{MNIST}"); split train=0.9 test=0.1; batch 100 }}')
    with pytest.warns(UserWarning, match="only the test files"):
        bundle = build_data(cfg)
    assert bundle.sample_shape == (1, 28, 28) and abs(bundle.sizes["train"] - 9000) <= 10  # rounding per class


@pytest.mark.parametrize("text, error, words", [
    ('data d { source image_folder("nowhere") }', DataError, "image folder not found"),
    ("data d { source sklearn_digit }", UnknownNameError, "Did you mean 'sklearn_digits'"),
    ("data d { source sklearn_digits; split train=0.7 val=0.2 test=0.2 }", ArgumentError,
     "split fractions must add up to 1: train=0.7 + val=0.2 + test=0.2 = 1.1"),
    ("data d { source sklearn_digits; batch 0 }", ArgumentError, "argument 'batch' must be positive"),
    ("data d { source sklearn_digits; bacth 3 }", UnknownNameError, "Did you mean 'batch'"),
    ("data d { source sklearn_digits; augment { flip(diagonal) } }", ArgumentError, "must be one of horizontal, vertical"),
    ("data d { source sklearn_digits; augment { rotat(3) } }", UnknownNameError, "Did you mean 'rotate'"),
])
def test_bad_data_settings(text, error, words):
    with pytest.raises(error, match=None) as info:
        build_data(data_config(text))
    assert words in info.value.message and info.value.line == 1


def test_missing_paths_are_shown_resolved_with_what_to_do(tmp_path, write_spec):
    path = write_spec('let folder = "../nowhere/train"\ndata d { source image_folder(folder) }')
    with pytest.raises(DataError) as info:
        build_data(data_config(path.read_text(), path))
    assert info.value.message == f"image folder not found: {tmp_path.parent / 'nowhere' / 'train'}"
    assert info.value.line == 2 and "--set" in info.value.hint


def test_missing_target_column_and_empty_class_folder(tmp_path):
    (tmp_path / "t.csv").write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match="has no column 'label'"):
        build_data(data_config(f'data d {{ source csv("{tmp_path}/t.csv", target="label") }}'))
    (tmp_path / "imgs" / "cats").mkdir(parents=True)
    with pytest.raises(DataError, match="holds no images"):
        build_data(data_config(f'data d {{ source image_folder("{tmp_path}/imgs") }}'))
