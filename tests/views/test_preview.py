"""dlspec data [--preview] (dlspec/views/preview.py): augmented training samples, a row per class."""
from __future__ import annotations

import pytest
import torch
from click.testing import CliRunner

import dlspec
from tests.conftest import ROOT
from dlspec.cli import main
from dlspec.errors import DataError
from dlspec.views.preview import data_block, preview_grid, samples_by_class

DIGITS = ROOT / "specs" / "digits.dlspec"


def picture_ok(path, min_side=300):
    import matplotlib.image as mpimg
    pixels = mpimg.imread(str(path))
    assert pixels.shape[0] >= min_side and pixels.shape[1] >= min_side, pixels.shape
    assert float(pixels[..., :3].var()) > 1e-3  # not blank
    return pixels


def digits_with(augment: str, write_spec):
    return dlspec.load(write_spec("data d {\n    source sklearn_digits\n    augment { %s }\n}\n" % augment))


def test_a_row_per_class_and_flip_is_torch_flip(write_spec):
    cfg = data_block(digits_with("flip(horizontal, p=1.0)", write_spec), None)
    rows, names, images = samples_by_class(cfg, per_class=3, seed=0)
    assert names == [str(i) for i in range(10)] and images
    for row in rows:
        assert len(row) == 4  # the sample without augmentation, then three augmented samples
        assert torch.equal(row[1], torch.flip(row[0], dims=[-1]))  # the same sample, flipped


def test_rotation_changes_samples_and_the_seed_repeats_them():
    cfg = data_block(dlspec.load(DIGITS), None)
    rows, _, _ = samples_by_class(cfg, per_class=2, seed=0)
    assert any(not torch.equal(row[0], row[1]) for row in rows)
    again, _, _ = samples_by_class(cfg, per_class=2, seed=0)
    assert all(torch.equal(a, b) for r1, r2 in zip(rows, again) for a, b in zip(r1, r2))


def test_preview_png_opens_and_is_not_blank(tmp_path):
    out = preview_grid(dlspec.load(DIGITS), None, str(tmp_path / "grid.png"), per_class=4)
    pixels = picture_ok(out)
    assert pixels.shape[0] > pixels.shape[1] * 0.8  # ten rows of classes: a tall picture


def test_series_preview_draws_lines(tmp_path):
    out = preview_grid(dlspec.load(ROOT / "specs" / "sine_rnn.dlspec"), None, str(tmp_path / "s.png"), per_class=3)
    picture_ok(out, min_side=200)


def test_text_data_is_refused_with_a_reason(write_spec, tmp_path):
    (tmp_path / "r.tsv").write_text("a fine film\t1\nawful\t0\ngood\t1\nbad\t0\n" * 5)
    spec = dlspec.load(write_spec('data d {\n    source text("r.tsv")\n}\n'))
    with pytest.raises(DataError, match="a preview shows images and series"):
        preview_grid(spec, None, str(tmp_path / "t.png"))


def test_cli_data_describes_and_previews(tmp_path):
    result = CliRunner().invoke(main, ["data", str(DIGITS)])
    assert result.exit_code == 0, result.output
    assert "samples: train 1258, val 270, test 269" in result.output and "classes (10)" in result.output
    out = tmp_path / "p.png"
    result = CliRunner().invoke(main, ["data", str(DIGITS), "--preview", "-o", str(out), "--per-class", "2"])
    assert result.exit_code == 0 and f"wrote {out}" in result.output
    picture_ok(out)
    result = CliRunner().invoke(main, ["data", str(DIGITS), "--data", "digit", "--preview"])
    assert result.exit_code == 1 and "Did you mean 'digits'" in result.output


def test_dlspec_data_lists_a_tables_columns_as_the_model_gets_them(tmp_path):
    (tmp_path / "t.csv").write_text("a,city,colour,y\n" + "".join(
        f"{'' if i == 3 else i},c{i % 20},{'rg'[i % 2]},{i}.5\n" for i in range(80)))
    (tmp_path / "s.dlspec").write_text('data d {\n  source csv("t.csv", target="y", missing=median, embedding_dim=4)\n}')
    done = CliRunner().invoke(main, ["data", str(tmp_path / "s.dlspec")])
    assert done.exit_code == 0, done.output
    lines = done.output.splitlines()
    assert "  a: number; missing cells: " in "\n".join(lines)
    assert any(line in ("  colour: one-hot, 2 levels (g, r); missing cells: " + fill) for fill in "gr" for line in lines)
    assert any(line.startswith("  city: 20 levels (c0, c1, c10,") and "a learnt vector of 4 numbers" in line
               for line in lines)
    done = CliRunner().invoke(main, ["data", str(tmp_path / "s.dlspec"), "--preview", "-o", str(tmp_path / "p.png")])
    assert done.exit_code == 1 and "this source gives table rows" in done.output and "column by column" in done.output
