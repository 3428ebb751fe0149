"""data/step_checks.py and what it guards: steps that need images, on data that is not images (tables, series,
token ids); normalize lists of the wrong length; noise on a table's category features; a constant feature
under normalize(auto). Cases come from the transform registry."""
import textwrap

import pytest
import torch

import dlspec
from dlspec.data.cache import ChannelMoments
from dlspec.data.config import read_data
from dlspec.data.encoding import category_features
from dlspec.data.pipeline import build_data
from dlspec.data.transforms import TRANSFORMS
from dlspec.errors import DataError
from dlspec.schema.args import REQUIRED

IMAGE_STEPS = sorted(n for n, t in TRANSFORMS.items() if t.source == "built-in" and t.images)
VALUE_STEPS = sorted(n for n, t in TRANSFORMS.items() if t.source == "built-in" and not t.images)
_EXAMPLE = {"ints": "4", "int": "4", "float": "0.5"}  # a valid value of each argument type


def call(name: str) -> str:
    """A valid call of a registered step, from its required arguments' types."""
    args = []
    for a in TRANSFORMS[name].args:
        if a.default is REQUIRED:
            args.append(a.choices[0] if a.choices else _EXAMPLE[a.kind])
    return f"{name}({', '.join(args)})"


def data_config(folder, text):
    spec = dlspec.loads(textwrap.dedent(text), str(folder / "s.dlspec"))
    return read_data(next(iter(spec.program.data.values())), spec.program.global_env())


def table(folder, rows=60, width=10):
    lines = [",".join([f"f{i}" for i in range(width)] + ["y"])]
    g = torch.Generator().manual_seed(0)
    for r in range(rows):
        lines.append(",".join(f"{float(v):.3f}" for v in torch.rand(width, generator=g)) + f",{r % 3}")
    (folder / "t.csv").write_text("\n".join(lines) + "\n")


def block(source, step, cache="auto"):
    where = "augment" if TRANSFORMS[step.split("(")[0]].batch_only or "noise" in step else "transform"
    return f'data d {{\n  source {source}\n  cache {cache}\n  {where} {{ {step} }}\n}}\n', where


def test_the_registry_marks_exactly_the_value_steps_as_working_on_any_data():
    assert VALUE_STEPS == ["mixup", "noise", "normalize"]
    assert {"resize", "center_crop", "flip", "rotate", "grayscale", "cutmix", "cutout"} <= set(IMAGE_STEPS)


@pytest.mark.parametrize("step", IMAGE_STEPS)
def test_image_steps_on_a_table_are_located_errors_at_compile(tmp_path, step):
    table(tmp_path)
    text, where = block('csv("t.csv", target="y")', call(step))
    with pytest.raises(DataError) as info:
        data_config(tmp_path, text)
    e = info.value
    assert (e.line, e.column) == (4, len(where) + 6)  # the step itself
    assert f"{where} step {step} needs images (samples [channels, height, width])" in str(e)
    assert "csv table" in str(e) and "noise" in e.hint and "normalize" in e.hint


@pytest.mark.parametrize("source, step, message", [
    ("sine(window=30)", "rotate(10)",
     r"transform step rotate needs images .* gives samples \[window, 1\] \(windows of a series\)"),
    ("labelled_sentences", "noise(0.1)",
     r"augment step noise changes values, .* \[max_len\] \(token ids of a text source\)"),
    ("labelled_sentences", "normalize(auto)", r"transform step normalize changes values")])
def test_steps_on_series_and_token_ids_are_located_errors_at_compile(tmp_path, source, step, message):
    with pytest.raises(DataError, match=message) as info:
        data_config(tmp_path, block(source, step)[0])
    assert info.value.line == 4


VECTORS = '''
import torch

class Vec(torch.utils.data.Dataset):
    """Samples of SHAPE and DTYPE, classes 0-2."""
    def __len__(self):
        return 30
    def __getitem__(self, i):
        return torch.arange(SIZE).reshape(SHAPE).to(torch.DTYPE) + i, i % 3
'''


def dataset_module(folder, monkeypatch, shape, dtype="float32"):
    size = 1
    for d in shape:
        size *= d
    code = VECTORS.replace("SHAPE", str(tuple(shape))).replace("SIZE", str(size)).replace("DTYPE", dtype)
    name = f"vecs_{'_'.join(map(str, shape))}_{dtype}"
    (folder / f"{name}.py").write_text(code)
    monkeypatch.syspath_prepend(str(folder))
    return f"{name}.Vec()"


@pytest.mark.parametrize("cache", ["auto", "none"])
@pytest.mark.parametrize("step", IMAGE_STEPS)
def test_image_steps_on_vectors_of_a_dataset_class_fail_at_load_on_both_paths(tmp_path, monkeypatch, step, cache):
    source = dataset_module(tmp_path, monkeypatch, (10,))
    if step == "cutmix" and cache == "none":
        pytest.skip("cutmix on the per-sample path is refused before loading (route.py)")
    cfg = data_config(tmp_path, block(source, call(step), cache)[0])  # the class declares no kind: loads
    with pytest.raises(DataError, match=rf"step {step} needs images .* gives samples \[10\]") as info:
        build_data(cfg)
    assert info.value.line == 4 and "remove " + step in info.value.hint


@pytest.mark.parametrize("cache", ["auto", "none"])
def test_series_shaped_and_token_samples_of_a_dataset_class_fail_at_load(tmp_path, monkeypatch, cache):
    windows = dataset_module(tmp_path, monkeypatch, (30, 1))
    with pytest.raises(DataError, match=r"step rotate needs images .* gives samples \[30, 1\]"):
        build_data(data_config(tmp_path, block(windows, "rotate(10)", cache)[0]))
    tokens = dataset_module(tmp_path, monkeypatch, (12,), "long")
    with pytest.raises(DataError, match=r"step noise changes values, but data d gives samples \[12\] \(token ids\)"):
        build_data(data_config(tmp_path, block(tokens, "noise(0.1)", cache)[0]))


@pytest.mark.parametrize("cache", ["auto", "none"])
def test_normalize_lists_must_hold_one_value_or_one_per_channel(tmp_path, cache):
    table(tmp_path)
    text = 'data d {{\n  source csv("t.csv", target="y")\n  cache {}\n  transform {{ normalize(mean={}, std={}) }}\n}}'
    with pytest.raises(DataError) as info:
        build_data(data_config(tmp_path, text.format(cache, "[0.5, 1, 2]", "[1, 1, 1]")))
    assert "normalize: mean has 3 values, but the samples of data d have 10 channels" in str(info.value)
    assert (info.value.line, info.value.column) == (4, 15) and "1 value" in info.value.hint
    with pytest.raises(DataError, match="std has 2 values, .* 10 channels"):
        build_data(data_config(tmp_path, text.format(cache, "[0.5]", "[1, 2]")))
    plain = build_data(data_config(tmp_path, text.format(cache, "[0]", "[1]").replace("cache", "shuffle false; cache")))
    x0 = next(iter(plain.loaders["train"]))[0]
    for mean, std in (("[0.5]", "[2]"), (str([0.5] * 10), str([2] * 10))):
        data = build_data(data_config(tmp_path, text.format(cache, mean, std).replace("cache", "shuffle false; cache")))
        assert torch.allclose(next(iter(data.loaders["train"]))[0], (x0 - 0.5) / 2)


def test_normalize_lists_are_checked_against_image_channels(tmp_path):
    with pytest.raises(DataError, match="mean has 3 values, but the samples of data d have 1 channels"):
        build_data(data_config(tmp_path, 'data d { source sklearn_digits\n'
                                         ' transform { normalize(mean=[0.5, 0.5, 0.5], std=[1, 1, 1]) } }'))


def category_table(folder):
    """a number, c one-hot (3 levels), k embedded (20 levels: a level index), another number."""
    (folder / "c.csv").write_text("a,c,k,b,y\n" + "".join(
        f"{i * 0.5},{'pqr'[i % 3]},k{i % 20},{i % 7},{i % 2}\n" for i in range(80)))


@pytest.mark.parametrize("cache", ["auto", "none"])
@pytest.mark.parametrize("where", ["augment", "transform"])
def test_noise_leaves_a_tables_category_features_alone_on_both_paths(tmp_path, cache, where):
    category_table(tmp_path)
    text = ('data d {{ source csv("c.csv", target="y"); cache {}; batch 80; shuffle false\n'
            '         split train=1.0 val=0 test=0 {} }}')
    plain = build_data(data_config(tmp_path, text.format(cache, "")))
    noisy = build_data(data_config(tmp_path, text.format(cache, f"; {where} {{ noise(1.0) }}")))
    kept = category_features(noisy.table)
    assert kept == (1, 2, 3, 4)  # c=p, c=q, c=r, k
    x0, x1 = next(iter(plain.loaders["train"]))[0], next(iter(noisy.loaders["train"]))[0]
    assert torch.equal(x1[:, list(kept)], x0[:, list(kept)])
    for number in (0, 5):
        assert (x1[:, number] - x0[:, number]).std() > 0.5  # noise(1.0) on the numbers


def test_noise_still_reaches_every_feature_of_data_that_is_not_a_table(tmp_path):
    data = build_data(data_config(tmp_path, 'data d { source sine(window=8); cache auto; shuffle false\n'
                                            '         augment { noise(1.0) } }'))
    plain = build_data(data_config(tmp_path, 'data d { source sine(window=8); cache auto; shuffle false }'))
    x1, x0 = next(iter(data.loaders["train"]))[0], next(iter(plain.loaders["train"]))[0]
    assert bool(((x1 - x0).abs() > 0).all())


def _data_decl(path):
    spec = dlspec.load(path)
    return spec.program.data["d"], spec.program.global_env()


def test_a_flat_channel_gets_std_one():
    m = ChannelMoments()
    x = torch.stack([torch.rand(50), torch.full((50,), 5.0), torch.full((50,), 1000.3)], 1)
    m.add(x[:20])
    m.add(x[20:])
    mean, std = m.result()
    assert std[1] == 1 and std[2] == 1 and mean[2] == pytest.approx(1000.3)
    assert float(std[0]) == pytest.approx(float(x[:, 0].std(unbiased=False)), rel=1e-5)


@pytest.mark.parametrize("cache", ["auto", "none"])
def test_a_constant_column_under_normalize_auto_keeps_predictions_sane(tmp_path, cache):
    (tmp_path / "t.csv").write_text("a,k,y\n" + "".join(f"{i % 10},5,{2 * (i % 10)}\n" for i in range(60)))
    (tmp_path / "s.dlspec").write_text(
        'model M { input vector(auto); linear(1) }\n'
        f'data d {{ source csv("t.csv", target="y"); cache {cache}; transform {{ normalize(auto) }} }}\n'
        'train { loss mse; optimizer adam(lr=0.1); epochs 20 }')
    stats = build_data(read_data(*_data_decl(tmp_path / "s.dlspec"))).normalization
    assert stats["std"][1] == 1 and stats["mean"][1] == 5
    dlspec.fit(tmp_path / "s.dlspec", out=str(tmp_path / "run"), log=lambda *a: None, progress=False)
    (tmp_path / "new.csv").write_text("a,k\n4,5\n4,6\n")
    same, other = [p["prediction"] for p in dlspec.predict(str(tmp_path / "run"), [str(tmp_path / "new.csv")])]
    assert abs(other - same) < 3  # one unit off on an unseen-in-training column, not 1e6 units
