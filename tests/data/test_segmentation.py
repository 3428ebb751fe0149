"""The segmentation source: images and masks paired by file stem, masks moved with their images by every
geometric step (and left alone by photometric ones), and the mistakes in a mask folder named at the source."""
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

import dlspec
from tests.conftest import ROOT
from dlspec.data.config import read_data
from dlspec.data.pipeline import build_data
from dlspec.data.route import describe_route
from dlspec.errors import DataError

CLASSES = '["background", "circle", "square"]'
SHADE = 80  # images whose red channel is mask * SHADE: a geometric step must keep the two in step


def write_pairs(root, count=4, size=(8, 6), classes=3, seed=0):
    """count RGB images (width x height = size) and masks; red = mask * SHADE, green and blue random."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(parents=True, exist_ok=True)
    pairs = []
    for i in range(count):
        mask = rng.integers(0, classes, (size[1], size[0])).astype(np.uint8)
        image = rng.integers(0, 256, (size[1], size[0], 3)).astype(np.uint8)
        image[..., 0] = mask * SHADE
        Image.fromarray(image, "RGB").save(root / "images" / f"s{i}.png")
        Image.fromarray(mask, "L").save(root / "masks" / f"s{i}.png")
        pairs.append((image, mask))
    return pairs


def data_config(root, steps="", extra=""):
    text = (f'data d {{\n    source segmentation("{root}/images", masks="{root}/masks", classes={CLASSES})\n'
            f"    split train=1.0 seed=0\n    batch 100\n    shuffle false\n{extra}{steps}}}\n")
    spec = dlspec.loads(text, str(root / "spec.dlspec"))
    return read_data(next(iter(spec.program.data.values())), spec.program.global_env())


def train_batch(cfg):
    bundle = build_data(cfg)
    x, y = next(iter(bundle.loaders["train"]))
    return bundle, x, y


def split_order(bundle, pairs) -> tuple:
    """(images [N, 3, H, W] in [0, 1], masks [N, H, W]) of the written pairs in the training split's order."""
    order = bundle.loaders["train"].dataset.indices
    images = torch.stack([torch.from_numpy(pairs[i][0]).permute(2, 0, 1).float() / 255 for i in order])
    return images, torch.stack([torch.from_numpy(pairs[i][1]).long() for i in order])


def test_masks_load_as_class_maps_beside_their_images(tmp_path):
    pairs = write_pairs(tmp_path)
    bundle, x, y = train_batch(data_config(tmp_path))
    assert bundle.dense and bundle.classes == ["background", "circle", "square"]
    assert bundle.sample_shape == (3, 6, 8) and bundle.target_shape == (6, 8)
    assert y.dtype == torch.int64 and type(y) is torch.Tensor
    images, masks = split_order(bundle, pairs)
    torch.testing.assert_close(x.as_subclass(torch.Tensor), images)
    assert torch.equal(y, masks)


@pytest.mark.parametrize("step, reference", [
    ("flip(horizontal, p=1)", lambda t: t.flip(-1)),
    ("flip(vertical, p=1)", lambda t: t.flip(-2)),
    ("center_crop([4, 6])", lambda t: t[..., 1:5, 1:7]),
])
def test_deterministic_geometric_steps_apply_to_image_and_mask_alike(tmp_path, step, reference):
    pairs = write_pairs(tmp_path)
    bundle, x, y = train_batch(data_config(tmp_path, f"    transform {{ {step} }}\n"))
    images, masks = split_order(bundle, pairs)
    torch.testing.assert_close(x.as_subclass(torch.Tensor), reference(images))
    assert torch.equal(y, reference(masks))


def test_resize_samples_the_mask_with_nearest_neighbour(tmp_path):
    pairs = write_pairs(tmp_path)
    bundle, x, y = train_batch(data_config(tmp_path, "    transform { resize([12, 16]) }\n"))
    masks = split_order(bundle, pairs)[1].unsqueeze(1).float()
    reference = torch.nn.functional.interpolate(masks, size=(12, 16), mode="nearest").squeeze(1).long()
    assert x.shape == (4, 3, 12, 16) and torch.equal(y, reference)


@pytest.mark.parametrize("steps", ["random_crop(6, padding=2)", "rotate(40)", "translate(0.3)",
                                   "affine(degrees=20, translate=0.2, scale=[0.8, 1.2])", "scale(0.7, 1.3)",
                                   "flip(horizontal) -> flip(vertical)"])
def test_random_geometric_augmentation_moves_the_mask_with_its_image(tmp_path, steps):
    """The red channel is the mask times SHADE before the step; the same draw applied to both keeps it so
    (nearest sampling; padding and rotated-in corners are 0 in both), a different draw would not."""
    write_pairs(tmp_path, count=8, size=(10, 10))
    torch.manual_seed(0)
    _, x, y = train_batch(data_config(tmp_path, f"    augment {{ {steps} }}\n"))
    red = torch.round(x[:, 0].as_subclass(torch.Tensor) * 255 / SHADE).long()
    assert torch.equal(red, y)


def test_photometric_steps_leave_the_mask_alone(tmp_path):
    pairs = write_pairs(tmp_path)
    steps = "    augment { noise(0.2) -> color_jitter(brightness=0.5) -> random_erasing(p=1.0) }\n"
    bundle, x, y = train_batch(data_config(tmp_path, steps + "    transform { normalize(auto) }\n"))
    assert torch.equal(y, split_order(bundle, pairs)[1])
    assert x.shape == (4, 3, 6, 8)


def test_a_missing_mask_is_named_with_the_nearest_stems(tmp_path):
    write_pairs(tmp_path)
    (tmp_path / "masks" / "s2.png").rename(tmp_path / "masks" / "s2_mask.png")
    with pytest.raises(DataError) as err:
        build_data(data_config(tmp_path))
    message = str(err.value)
    assert f"image {tmp_path / 'images' / 's2.png'} has no mask in {tmp_path / 'masks'}" in message
    assert "s2_mask" in message  # the nearest stem in the mask folder


def test_a_mask_without_an_image_is_refused(tmp_path):
    write_pairs(tmp_path)
    Image.fromarray(np.zeros((6, 8), np.uint8), "L").save(tmp_path / "masks" / "extra.png")
    with pytest.raises(DataError, match=r"mask .*extra\.png has no image in"):
        build_data(data_config(tmp_path))


def test_a_mask_value_beyond_the_classes_is_refused(tmp_path):
    write_pairs(tmp_path)
    Image.fromarray(np.full((6, 8), 3, np.uint8), "L").save(tmp_path / "masks" / "s1.png")
    with pytest.raises(DataError) as err:
        build_data(data_config(tmp_path))
    assert "s1.png holds the value 3, but the data has 3 classes (background, circle, square), so a mask value " \
           "must be 0 to 2" in str(err.value)


def black_and_white_masks(root):
    """Binary masks as most tools save them: 0 for the background, 255 for the object."""
    write_pairs(root, classes=2)
    for path in (root / "masks").iterdir():
        Image.fromarray(np.asarray(Image.open(path)) * 255, "L").save(path)


def test_black_and_white_masks_under_two_classes_say_to_save_1_for_255(tmp_path):
    black_and_white_masks(tmp_path)
    text = (f'data d {{\n    source segmentation("{tmp_path}/images", masks="{tmp_path}/masks", classes=["bg", "fg"])\n'
            f"    split train=1.0 seed=0\n}}\n")
    spec = dlspec.loads(text, str(tmp_path / "spec.dlspec"))
    with pytest.raises(DataError) as err:
        build_data(read_data(next(iter(spec.program.data.values())), spec.program.global_env()))
    assert "holds the value 255, but the data has 2 classes (bg, fg), so a mask value must be 0 to 1; it holds only " \
           "0 and 255, a black-and-white mask" in str(err.value)
    assert "save the masks with the values 0 and 1" in err.value.hint


def test_black_and_white_masks_without_classes_are_not_256_classes(tmp_path):
    black_and_white_masks(tmp_path)
    text = (f'data d {{\n    source segmentation("{tmp_path}/images", masks="{tmp_path}/masks")\n'
            f"    split train=1.0 seed=0\n}}\n")
    spec = dlspec.loads(text, str(tmp_path / "spec.dlspec"))
    with pytest.raises(DataError) as err:
        build_data(read_data(next(iter(spec.program.data.values())), spec.program.global_env()))
    assert f"the masks in {tmp_path / 'masks'} hold only the values 0 and 255 (black-and-white masks), and a mask " \
           "value is a class index: they would make 256 classes" in str(err.value)
    assert err.value.loc.line == 2


def test_a_mask_of_another_size_is_refused(tmp_path):
    write_pairs(tmp_path)
    Image.fromarray(np.zeros((8, 6), np.uint8), "L").save(tmp_path / "masks" / "s0.png")
    with pytest.raises(DataError) as err:
        build_data(data_config(tmp_path))
    assert "s0.png is 6x8 but its image" in str(err.value) and "is 8x6" in str(err.value)


def test_a_colour_mask_is_refused(tmp_path):
    write_pairs(tmp_path)
    Image.fromarray(np.zeros((6, 8, 3), np.uint8), "RGB").save(tmp_path / "masks" / "s0.png")
    with pytest.raises(DataError, match="has mode RGB .*a mask holds one class index per pixel"):
        build_data(data_config(tmp_path))


def test_a_truncated_image_is_named_at_the_scan(tmp_path):
    write_pairs(tmp_path)
    data = (tmp_path / "images" / "s1.png").read_bytes()
    (tmp_path / "images" / "s1.png").write_bytes(data[:len(data) // 2])
    with pytest.raises(DataError, match=r"cannot read .*s1\.png or its mask .*s1\.png"):
        build_data(data_config(tmp_path))


def test_the_route_line_says_why_masks_take_the_per_sample_path(tmp_path):
    write_pairs(tmp_path)
    line = describe_route(data_config(tmp_path, "    augment { flip(horizontal) }\n"))
    assert line == ("data d: per-sample DataLoader (masks take their image's geometric steps per sample; the "
                    "batched augmentation moves images only)")
    with pytest.raises(DataError, match="cache device: data d has masks"):
        describe_route(data_config(tmp_path, extra="    cache device\n"))
    with pytest.raises(DataError, match=r"mixup mixes whole batches, which only the cached path offers, but data d "
                                        r"takes the per-sample path \(masks take their image's geometric steps"):
        describe_route(data_config(tmp_path, "    augment { mixup(0.2) }\n"))


def test_the_cli_names_the_source_line_of_a_mask_mistake(tmp_path):
    write_pairs(tmp_path)
    (tmp_path / "masks" / "s3.png").unlink()
    spec = tmp_path / "seg.dlspec"
    text = (ROOT / "specs" / "unet_shapes.dlspec").read_text(encoding="utf-8")
    spec.write_text(text, encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "dlspec", "fit", str(spec), "--out", str(tmp_path / "run"),
                             "--set", f'images="{tmp_path}/images"', "--set", f'masks="{tmp_path}/masks"',
                             "--set", "size=8", "--set", "epochs=1"], capture_output=True, text=True, cwd=ROOT, timeout=300)
    line = next(i for i, row in enumerate(text.splitlines(), 1) if "source segmentation" in row)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert f"seg.dlspec:{line}:" in result.stderr and "s3.png has no mask" in result.stderr
    assert "^" in result.stderr


def test_the_preview_shows_each_image_beside_its_moved_mask(tmp_path):
    from dlspec.views.preview import samples_by_class
    write_pairs(tmp_path, count=3, size=(10, 10))
    rows, names, images = samples_by_class(data_config(tmp_path, "    augment { rotate(30) -> flip(horizontal) }\n"),
                                           per_class=6, seed=0)
    assert images and len(rows) == 3 and all(len(row) == 6 for row in rows) and names[0].startswith("sample ")
    for row in rows:
        for x, mask in zip(row[0::2], row[1::2]):  # masks are shown as class / (classes - 1)
            assert torch.equal(torch.round(x[0] * 255 / SHADE), torch.round(mask * 2))
