"""Batched augmentation (dlspec/data/batch_augment.py): every batched step against torchvision's
per-sample transform, exactly where the randomness can be fixed and statistically where it cannot
(flip rate, crop offsets, rotation angles, colour factors, erasing rate and area)."""
import math

import pytest
import torch
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as TF

from dlspec.data import batch_affine as A
from dlspec.data import batch_augment as B
from dlspec.data.transforms import TRANSFORMS, check_steps, has_batched_form
from dlspec.errors import ArgumentError
from dlspec.schema.settings import Step

N = 4000  # samples per statistical test; tolerances are about 5 standard errors


def steps(*calls):
    """Checked augment steps from (name, args, kwargs) triples."""
    return check_steps([Step(name, tuple(args), dict(kwargs), None) for name, args, kwargs in calls], "augment")


def run(pipeline_steps, x, y=None, seed=0, classes=10):
    pipe = B.BatchPipeline(pipeline_steps, classes)
    return pipe(x, torch.zeros(len(x), dtype=torch.long) if y is None else y, B.Rng(x.device, seed))


# Example arguments for every built-in step with a batched form: a new batched step must be added here.
EXAMPLES = {
    "flip": ((), {}), "random_crop": ((8,), {"padding": 2}), "center_crop": ((6,), {}), "resize": ((12,), {}),
    "rotate": ((15,), {}), "scale": ((0.9, 1.1), {}), "translate": ((0.1,), {}),
    "affine": ((), {"degrees": 10, "translate": 0.1, "scale": [0.9, 1.1]}), "noise": ((0.1,), {}),
    "grayscale": ((), {"channels": 3}), "color_jitter": ((), {"brightness": 0.3, "contrast": 0.3,
                                                               "saturation": 0.3, "hue": 0.1}),
    "brightness": ((0.3,), {}), "contrast": ((0.3,), {}), "random_erasing": ((), {"p": 0.5}),
    "cutout": ((3,), {}), "mixup": ((0.2,), {}), "cutmix": ((1.0,), {}),
}


def test_every_batched_builtin_step_has_an_example_and_runs_on_a_batch():
    batched = {name for name, t in TRANSFORMS.items() if has_batched_form(t) and name != "normalize"}
    assert batched == set(EXAMPLES)
    x = torch.rand(6, 3, 8, 8)
    for name, (args, kwargs) in EXAMPLES.items():
        out, y = run(steps((name, args, kwargs)), x)
        assert out.dtype == torch.float32 and out.shape[:2] == (6, 3), name
        assert out.shape[-1] == {"center_crop": 6, "resize": 12}.get(name, 8), name
        assert (y.shape == (6, 10)) == (name in ("mixup", "cutmix")), name


def test_steps_without_a_batched_form_are_known():
    assert not has_batched_form(TRANSFORMS["random_resized_crop"])
    builtins = {name for name, t in TRANSFORMS.items() if t.source == "built-in" and name != "normalize"}
    ops = {**B.OPS, **B.AFFINE, **B.MIXING}  # what BatchPipeline can run: the flag must say exactly that
    assert {name for name in builtins if has_batched_form(TRANSFORMS[name])} == builtins & set(ops)
    assert set(ops) <= builtins


def test_flip_rate_and_flips_whole_images():
    x = torch.arange(8.0).expand(N, 1, 8, 8).clone()
    for p in (0.5, 0.2):
        out, _ = run(steps(("flip", (), {"p": p})), x)
        flipped = out[:, 0, 0, 0] == 7
        assert torch.equal(out[flipped], x[flipped].flip(-1)) and torch.equal(out[~flipped], x[~flipped])
        assert abs(flipped.float().mean().item() - p) < 5 * math.sqrt(p * (1 - p) / N)


def test_vertical_flip():
    x = torch.arange(8.0).view(1, 1, 8, 1).expand(N, 1, 8, 8).clone()
    out, _ = run(steps(("flip", ("vertical",), {"p": 1.0})), x)
    assert torch.equal(out, x.flip(-2))


def _offsets(out, pad):
    """(dy, dx) per sample from where the original pixel (4, 4) landed."""
    where = (out[:, 0] == 4 * 8 + 4 + 1).nonzero()
    assert len(where) == len(out)
    return 4 + pad - where[:, 1], 4 + pad - where[:, 2]


def test_random_crop_is_exactly_a_crop_of_the_padded_image_with_uniform_offsets():
    pad = 2
    x = (torch.arange(64.0) + 1).view(1, 1, 8, 8).expand(N, 1, 8, 8).clone()
    out, _ = run(steps(("random_crop", (8,), {"padding": pad})), x)
    dy, dx = _offsets(out, pad)
    padded = TF.pad(x[:1], [pad])[0]
    for i in range(50):  # each output is the torchvision crop at its offset
        assert torch.equal(out[i], TF.crop(padded, int(dy[i]), int(dx[i]), 8, 8))
    for d in (dy, dx):
        counts = torch.bincount(d, minlength=2 * pad + 1).float() / N
        assert counts.shape[0] == 2 * pad + 1 and (counts - 1 / (2 * pad + 1)).abs().max() < 0.03
    # torchvision's per-sample RandomCrop has the same offset distribution
    tv = torch.stack([v2.RandomCrop(8, padding=pad)(x[0]) for _ in range(1500)])
    tdy, _ = _offsets(tv, pad)
    assert (torch.bincount(tdy, minlength=5).float() / 1500 - 0.2).abs().max() < 0.05


def _blob(n, right=10):
    x = torch.zeros(n, 1, 33, 33)
    x[:, :, 15:18, 15 + right:18 + right] = 1.0  # a 3x3 blob `right` pixels right of the centre
    return x


def _angles(out):
    ys, xs = torch.meshgrid(torch.arange(33.0), torch.arange(33.0), indexing="ij")
    mass = out[:, 0].sum((1, 2))
    cy, cx = (out[:, 0] * ys).sum((1, 2)) / mass - 16, (out[:, 0] * xs).sum((1, 2)) / mass - 16
    return torch.rad2deg(torch.atan2(-cy, cx))  # counter-clockwise on screen is positive


def test_rotation_matches_torchvision_at_a_fixed_angle():
    x = torch.rand(1, 3, 17, 23)
    for angle in (30.0, -75.0):
        ours = A.warp(x, A._rotation(torch.tensor([angle])))[0]
        theirs = TF.rotate(x[0], angle)
        assert (ours - theirs).abs().gt(1e-6).float().mean() < 0.03, angle
        assert _angles(A.warp(_blob(1), A._rotation(torch.tensor([angle]))))[0].sub(angle).abs() < 3


def test_rotation_angles_are_uniform_over_the_range():
    out, _ = run(steps(("rotate", (30,), {})), _blob(N))
    angles = _angles(out)
    assert angles.abs().max() < 30 + 3 and angles.abs().max() > 27
    assert abs(angles.mean().item()) < 5 * 17.3 / math.sqrt(N)
    assert abs(angles.std().item() - 30 / math.sqrt(3)) < 1.0  # uniform on [-30, 30]
    tv = torch.stack([v2.RandomRotation(30)(_blob(1)[0]) for _ in range(800)])
    assert abs(_angles(tv).std().item() - 30 / math.sqrt(3)) < 1.5


def test_consecutive_affine_steps_fuse_into_one_resampling():
    pipe = B.BatchPipeline(steps(("rotate", (10,), {}), ("scale", (0.9, 1.1), {}), ("translate", (0.1,), {}),
                                 ("flip", (), {}), ("rotate", (5,), {})))
    assert len(pipe.ops) == 1  # rotate, scale, translate, flip (an exact affine map beside them), rotate
    alone = B.BatchPipeline(steps(("flip", (), {}), ("noise", (0.1,), {}), ("flip", ("vertical",), {})))
    assert len(alone.ops) == 3  # a flip with no affine step beside it stays a flip


@pytest.mark.parametrize("direction", ["horizontal", "vertical"])
@pytest.mark.parametrize("size", [(8, 8), (7, 12)])
def test_a_flip_fused_into_a_rotation_is_the_flip_after_it_pixel_for_pixel(direction, size):
    """The same generator draws the same angles and coins; flipping the rotated batch and resampling once
    through the mirrored map give the same pixels."""
    x = torch.rand(64, 2, *size)
    fused = A.fused_affine([A.rotate({"degrees": 10}), A.flip_inverse({"direction": direction, "p": 0.5})])
    separate = [A.fused_affine([A.rotate({"degrees": 10})]), B.flip({"direction": direction, "p": 0.5})]
    y = torch.zeros(64, dtype=torch.long)
    ours, _ = fused(x, y, B.Rng("cpu", 3))
    rng, theirs = B.Rng("cpu", 3), x
    for op in separate:
        theirs, _ = op(theirs, y, rng)
    assert torch.equal(ours, theirs)
    assert not torch.equal(ours, fused(x, y, B.Rng("cpu", 4))[0])


def test_scale_zooms_about_the_centre_within_the_range():
    out, _ = run(steps(("scale", (0.5, 2.0), {})), _blob(N, right=6))
    ys, xs = torch.meshgrid(torch.arange(33.0), torch.arange(33.0), indexing="ij")
    mass = out[:, 0].sum((1, 2))
    seen = mass > 0
    distance = ((out[:, 0] * xs).sum((1, 2))[seen] / mass[seen] - 16) / 6  # blob 6 px right: the zoom factor
    assert distance.min() > 0.5 - 0.15 and distance.max() < 2.0 + 0.15 and abs(distance.mean() - 1.25) < 0.05


def test_translate_moves_by_whole_pixels_within_the_fraction():
    x = torch.zeros(N, 1, 20, 20)
    x[:, :, 10, 10] = 1
    out, _ = run(steps(("translate", (0.1,), {})), x)
    where = out[:, 0].flatten(1).argmax(1)
    dy, dx = where // 20 - 10, where % 20 - 10
    assert dx.abs().max() == 2 and dy.abs().max() == 2 and out[:, 0].sum((1, 2)).eq(1).all()


@pytest.mark.parametrize("name", ["brightness", "contrast", "saturation", "hue"])
def test_each_colour_step_matches_torchvision_for_the_same_factor(name):
    x = torch.rand(8, 3, 6, 6)
    factors = torch.linspace(0.6, 1.4, 8) if name != "hue" else torch.linspace(-0.3, 0.3, 8)
    apply, _ = B._JITTER[name]
    ours = apply(x, factors.view(-1, 1, 1, 1))
    tv = getattr(TF, f"adjust_{name}")
    for i in range(8):
        assert torch.allclose(ours[i], tv(x[i], float(factors[i])), atol=1e-5), (name, i)


def test_brightness_factors_are_uniform_per_sample():
    x = torch.full((N, 3, 4, 4), 0.5)
    out, _ = run(steps(("brightness", (0.5,), {})), x)
    f = out[:, 0, 0, 0] / 0.5
    assert f.min() >= 0.5 - 1e-6 and f.max() <= 1.5 + 1e-6
    assert abs(f.mean().item() - 1) < 0.02 and abs(f.std().item() - 1 / math.sqrt(12)) < 0.02
    assert (out == out[:, :1, :1, :1]).all()  # one factor per image


def test_color_jitter_order_is_random_per_sample():
    # brightness then contrast differs from contrast then brightness when the image clips;
    # both orders must occur, as in torchvision's ColorJitter
    x = torch.rand(1, 3, 6, 6).expand(400, 3, 6, 6).clone()
    out, _ = run(steps(("color_jitter", (), {"brightness": 0.9, "contrast": 0.9})), x)
    assert out.isfinite().all() and out.min() >= 0 and out.max() <= 1
    assert len({tuple(o.flatten()[:3].tolist()) for o in out}) > 300


def test_noise_has_the_given_std_and_mean():
    out, _ = run(steps(("noise", (0.2,), {"mean": 0.1})), torch.zeros(N, 1, 8, 8))
    assert abs(out.mean().item() - 0.1) < 0.01 and abs(out.std().item() - 0.2) < 0.01


def test_grayscale_matches_torchvision():
    x = torch.rand(4, 3, 5, 5)
    out, _ = run(steps(("grayscale", (), {"channels": 3})), x)
    assert torch.allclose(out, torch.stack([v2.Grayscale(3)(s) for s in x]), atol=1e-6)


def _erased(out):
    return (out == 0).flatten(1)


def test_random_erasing_rate_and_area_match_torchvision():
    x = torch.rand(N, 3, 16, 16) + 0.1
    out, _ = run(steps(("random_erasing", (), {"p": 0.5})), x)
    area = _erased(out).float().mean(1)
    tv_t = v2.RandomErasing(p=0.5)
    tv = torch.stack([tv_t(s) for s in x[:1500]])
    tv_area = _erased(tv).float().mean(1)
    assert abs((area > 0).float().mean() - (tv_area > 0).float().mean()) < 0.06
    assert abs(area[area > 0].mean() - tv_area[tv_area > 0].mean()) < 0.03
    assert area.max() <= 0.34 * 3  # at most scale[1] of the area in each of 3 channels


def test_cutout_zeroes_at_most_a_square_and_the_per_sample_form_agrees():
    x = torch.rand(N, 1, 10, 10) + 0.1
    out, _ = run(steps(("cutout", (4,), {})), x)
    zeros = _erased(out).sum(1)
    assert zeros.max() == 16 and zeros.min() >= 4 and (zeros > 0).all()
    single = TRANSFORMS["cutout"].build({"size": 4, "p": 1.0})(x[0])
    assert single.shape == x[0].shape and 4 <= (single == 0).sum() <= 16


def test_mixup_mixes_inputs_and_labels_with_the_same_weight():
    x = torch.eye(10).view(10, 1, 1, 10).expand(10, 1, 4, 10).contiguous()
    y = torch.arange(10)
    out, soft = run(steps(("mixup", (0.4,), {})), x, y)
    assert torch.allclose(soft.sum(1), torch.ones(10))
    assert torch.allclose(out[:, 0, 0, :], soft, atol=1e-6)  # pixel k carries label k's weight


def test_cutmix_label_weights_are_the_pasted_share():
    x = torch.arange(8.0).view(8, 1, 1, 1).expand(8, 1, 16, 16).contiguous()
    y = torch.arange(8)
    for seed in range(5):
        out, soft = run(steps(("cutmix", (1.0,), {})), x, y, seed=seed, classes=8)
        for i in range(8):
            share = torch.bincount(out[i].flatten().long(), minlength=8).float() / 256
            assert torch.allclose(share, soft[i], atol=1e-6), (seed, i)


def test_mixup_belongs_in_augment():
    with pytest.raises(ArgumentError) as exc:
        check_steps([Step("mixup", (0.2,), {}, None)], "transform")
    assert "put it in `augment" in str(exc.value)


def test_same_seed_same_batch_and_different_epochs_differ():
    x = torch.rand(64, 3, 8, 8)
    chain = steps(("random_crop", (8,), {"padding": 1}), ("rotate", (10,), {}), ("flip", (), {}))
    a, _ = run(chain, x, seed=5)
    b, _ = run(chain, x, seed=5)
    c, _ = run(chain, x, seed=6)
    assert torch.equal(a, b) and not torch.equal(a, c)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_batched_steps_run_on_the_gpu():
    x = torch.rand(32, 3, 16, 16, device="cuda")
    for name, (args, kwargs) in EXAMPLES.items():
        out, _ = run(steps((name, args, kwargs)), x)
        assert out.device.type == "cuda", name


@pytest.mark.parametrize("size", [(17, 23), (1, 1), (1, 7), (6, 1), (8, 8), (9, 9), (32, 31), (5, 64)])
def test_the_warp_grid_is_affine_grids_for_the_same_map(size):
    """warp builds the sampling grid from cached pixel centres; F.affine_grid of the same map (scaled to [-1, 1])
    samples the same pixels, for odd, even, non-square and one-pixel images, but where the source point is a
    rounding tie (half a pixel between two, to float precision): the two grids' last bits may then differ."""
    import torch.nn.functional as F
    x = torch.rand(64, 3, *size)
    rng = B.Rng("cpu", 1)
    m = A._rotation(rng.uniform(64, -40, 40)) @ A._scaling(rng.uniform(64, 0.7, 1.3))
    H, W = x.shape[-2:]
    to_norm, to_pix = torch.diag(torch.tensor([2.0 / W, 2.0 / H, 1.0])), torch.diag(torch.tensor([W / 2.0, H / 2.0, 1.0]))
    grid = F.affine_grid((to_norm @ m @ to_pix)[:, :2, :], list(x.shape), align_corners=False)
    reference = F.grid_sample(x, grid, mode="nearest", padding_mode="zeros", align_corners=False)
    differ = (A.warp(x, m) != reference).any(1)  # [n, H, W]
    source = ((grid.double() + 1) * torch.tensor([W, H], dtype=torch.float64) - 1) / 2  # in pixels, as sampled
    tie = ((source - source.floor() - 0.5).abs() < 1e-4).any(-1)
    assert not (differ & ~tie).any() and int(differ.sum()) <= max(1, differ.numel() // 10000)
