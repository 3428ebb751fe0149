"""examples/vae/samples.py runs as written: it trains the VAE spec and writes the picture of decoded samples."""
import runpy
import sys

from PIL import Image

from tests.conftest import ROOT


def test_the_vae_samples_script_writes_a_grid_of_decoded_digits(monkeypatch, tmp_path, capsys):
    out = tmp_path / "samples.png"
    monkeypatch.setattr(sys, "argv", ["samples.py", "--epochs", "1", "--out", str(out)])
    runpy.run_path(str(ROOT / "examples" / "vae" / "samples.py"), run_name="__main__")
    assert f"wrote {out}" in capsys.readouterr().out
    picture = Image.open(out)
    assert picture.size == (8 * 33 + 1, 8 * 33 + 1) and picture.mode == "L"  # 8 x 8 digits, 4x pixels, 1px gaps
    low, high = picture.getextrema()
    assert high - low > 64  # decoded strokes, not a blank tile


def test_the_committed_picture_is_the_scripts_grid():
    picture = Image.open(ROOT / "docs" / "vae_samples.png")
    assert picture.size == (8 * 33 + 1, 8 * 33 + 1)
