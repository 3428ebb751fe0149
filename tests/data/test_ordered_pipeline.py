"""One ordered pipeline (data/ordered.py): fixed and random steps in the written order, random steps train-only
unless every_split=true; the cached route where the order allows it, the per-sample route (and why) where not."""
import pytest
import torch

import dlspec
from dlspec.data.config import read_data
from dlspec.data.pipeline import build_data
from dlspec.data.route import choose_route, describe_route
from dlspec.data.transforms import TRANSFORMS
from dlspec.errors import ArgumentError, DataError, UnknownNameError

FIXED = sorted(name for name, t in TRANSFORMS.items() if not t.random)


def _images(root, n=8):
    from PIL import Image
    for cls in ("a", "b"):
        (root / "imgs" / cls).mkdir(parents=True)
        for i in range(n):
            img = Image.new("RGB", (14, 12))
            img.putdata([((x * 17 + i * 31) % 256, (y * 23) % 256, (x * y + i) % 256) for y in range(12)
                         for x in range(14)])
            img.save(root / "imgs" / cls / f"{i}.png")


def _config(tmp_path, steps: str, extra: str = ""):
    path = tmp_path / "s.dlspec"
    path.write_text(f'data d {{\n    source image_folder("imgs")\n    split train=0.5 val=0.5 seed=0\n'
                    f'    pipeline {{ {steps} }}\n    batch 4\n{extra}}}\n')
    spec = dlspec.load(str(path))
    return read_data(spec.program.data["d"], spec.program.global_env())


def _reference(*steps):
    from torchvision.transforms import v2
    return v2.Compose([v2.ToImage(), v2.ToDtype(torch.float32, scale=True), *steps])


def test_the_fixed_steps_are_the_registry_s_deterministic_ones():
    assert FIXED == ["center_crop", "grayscale", "normalize", "resize"]


def test_resize_rotate_center_crop_on_every_split_equals_torchvision_compose(tmp_path):
    from torchvision.transforms import v2
    _images(tmp_path)
    cfg = _config(tmp_path, "resize(10) -> rotate(30, every_split=true) -> center_crop(8)")
    bundle = build_data(cfg)
    reference = _reference(v2.Resize(10, antialias=True), v2.RandomRotation(30), v2.CenterCrop(8))
    for split in ("train", "val"):
        view = bundle.loaders[split].dataset
        for k in range(len(view)):
            torch.manual_seed(100 + k)
            ours = view[k][0]
            torch.manual_seed(100 + k)
            theirs = reference(view.base[view.indices[k]][0])
            assert ours.shape == (3, 8, 8) and torch.equal(ours, theirs)
    torch.manual_seed(5)
    batches = torch.cat([x for x, _ in bundle.loaders["val"]])  # through the loader: the same draws in order
    torch.manual_seed(5)
    view = bundle.loaders["val"].dataset
    assert torch.equal(batches, torch.stack([reference(view.base[i][0]) for i in view.indices]))


def test_random_steps_run_on_the_training_split_only_in_their_place(tmp_path):
    from torchvision.transforms import v2
    _images(tmp_path)
    bundle = build_data(_config(tmp_path, "resize(10) -> rotate(30) -> center_crop(8)"))
    train = bundle.loaders["train"].dataset
    torch.manual_seed(3)
    ours = train[0][0]
    torch.manual_seed(3)
    rotated = _reference(v2.Resize(10, antialias=True), v2.RandomRotation(30), v2.CenterCrop(8))
    assert torch.equal(ours, rotated(train.base[train.indices[0]][0]))
    val = bundle.loaders["val"].dataset
    plain = _reference(v2.Resize(10, antialias=True), v2.CenterCrop(8))  # no rotation off the training split
    assert torch.equal(torch.cat([x for x, _ in bundle.loaders["val"]]),
                       torch.stack([plain(val.base[i][0]) for i in val.indices]))


def test_an_order_that_needs_the_per_sample_route_says_why(tmp_path):
    cfg = _config(tmp_path, "resize(10) -> rotate(30) -> center_crop(8)")
    assert not choose_route(cfg).cached
    assert "pipeline step center_crop at line 4 comes after the random step rotate at line 4" in describe_route(cfg)
    every = _config(tmp_path, "resize(10) -> rotate(30, every_split=true)")
    assert "rotate at line 4 is random on every split (every_split=true)" in describe_route(every)


def test_a_pipeline_in_transform_then_augment_order_keeps_the_cached_route(tmp_path):
    cfg = _config(tmp_path, "resize(10) -> center_crop(8) -> flip -> rotate(10) -> normalize(auto)")
    assert cfg.ordered is None and choose_route(cfg).cached
    assert [st.name for _, _, st in cfg.transform] == ["resize", "center_crop", "normalize"]
    assert [st.name for _, _, st in cfg.augment] == ["flip", "rotate"]


def test_a_pipeline_equals_the_same_transform_and_augment(tmp_path):
    _images(tmp_path)
    piped = build_data(_config(tmp_path, "resize(10) -> center_crop(8) -> normalize(auto)"))
    path = tmp_path / "t.dlspec"
    path.write_text('data d {\n    source image_folder("imgs")\n    split train=0.5 val=0.5 seed=0\n'
                    '    transform { resize(10) -> center_crop(8) -> normalize(auto) }\n    batch 4\n}\n')
    spec = dlspec.load(str(path))
    plain = build_data(read_data(spec.program.data["d"], spec.program.global_env()))
    assert torch.equal(torch.cat([x for x, _ in piped.loaders["val"]]),
                       torch.cat([x for x, _ in plain.loaders["val"]]))


def test_normalize_must_be_last(tmp_path):
    with pytest.raises(DataError) as exc:
        _config(tmp_path, "resize(10) -> normalize(auto) -> rotate(5)")
    assert "normalize must be the pipeline's last step, but rotate comes after it" in str(exc.value)
    assert exc.value.loc.line == 4


def test_pipeline_and_transform_together_are_refused(tmp_path):
    with pytest.raises(DataError) as exc:
        _config(tmp_path, "resize(10)", "    transform { center_crop(8) }\n")
    assert "either a pipeline or transform/augment, not both (transform at line 6)" in str(exc.value)


def test_every_split_takes_a_bool_and_not_on_batch_mixing(tmp_path):
    with pytest.raises(ArgumentError) as exc:
        _config(tmp_path, "rotate(10, every_split=3)")
    assert "rotate: every_split takes true or false, received 3" in str(exc.value)
    with pytest.raises(DataError) as exc:
        _config(tmp_path, "resize(10) -> mixup(0.2, every_split=true)")
    assert "mixup mixes samples of a training batch; it cannot run on every split" in str(exc.value)


def test_cache_device_with_an_order_that_needs_per_sample_is_an_error(tmp_path):
    with pytest.raises(DataError) as exc:
        _config(tmp_path, "resize(10) -> rotate(30) -> center_crop(8)", "    cache device\n")
    assert "cache device: the pipeline's order needs the per-sample path" in str(exc.value)
    assert exc.value.loc.line == 6


def test_unknown_pipeline_step_names_the_nearest(tmp_path):
    with pytest.raises(UnknownNameError) as exc:
        _config(tmp_path, "resize(10) -> rotat(5)")
    assert "unknown pipeline step 'rotat'. Did you mean 'rotate'" in str(exc.value)


def test_the_preview_shows_the_training_steps_in_their_order(tmp_path):
    from torchvision.transforms import v2
    from dlspec.data.pipeline import load_source, preview_split
    _images(tmp_path)
    cfg = _config(tmp_path, "resize(10) -> rotate(30) -> center_crop(8)")
    dataset, indices, base, trained = preview_split(cfg, load_source(cfg), "train")
    torch.manual_seed(9)
    ours = trained(dataset[indices[0]][0])
    torch.manual_seed(9)
    theirs = _reference(v2.Resize(10, antialias=True), v2.RandomRotation(30), v2.CenterCrop(8))(dataset[indices[0]][0])
    assert torch.equal(ours, theirs)
    assert torch.equal(base(dataset[indices[0]][0]),
                       _reference(v2.Resize(10, antialias=True), v2.CenterCrop(8))(dataset[indices[0]][0]))


@pytest.mark.parametrize("fixed", [name for name in FIXED if name != "normalize"])
def test_every_split_false_on_a_fixed_step_is_refused_not_ignored(tmp_path, fixed):
    """A fixed step runs on every split whatever it is marked: `every_split=false` would silently not mean
    train-only, so it is an error at the marker."""
    args = {"resize": "10", "center_crop": "8", "grayscale": ""}.get(fixed)
    if args is None:
        pytest.skip(f"no arguments known for {fixed}")
    steps = f"{fixed}({args}{', ' if args else ''}every_split=false) -> rotate(5)"
    with pytest.raises(DataError) as exc:
        _config(tmp_path, steps)
    assert f"{fixed} is a fixed step: it runs on every split, so every_split=false cannot keep it" in str(exc.value)
    assert exc.value.loc.line == 4 and exc.value.loc.column == steps.index("every_split") + 16
    _config(tmp_path, f"{fixed}({args}{', ' if args else ''}every_split=true) -> rotate(5)")  # redundant, allowed
