"""Hostile and careless data files: decompression-bomb images (refused from their header, by the pixel
cap), paths that are not regular files (a link to /dev/zero is never read), and class targets that
cannot train (one class; cross-entropy over one output). Errors name the file or the spec's line;
inside a folder a bad image is a warning and a skip, the other images still used."""
import os
import struct
import zlib

import pytest
from click.testing import CliRunner

import dlspec
from dlspec.cli import main
from dlspec.errors import DataError, DlspecError, DlspecWarning, TrainError
from dlspec.runtime.inputs import MAX_PIXELS, SkippedInput
from tests.helpers.predict_runs import make_images, make_run


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png(width: int, height: int, bit_depth: int, pixels: bytes) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, bit_depth, 0, 0, 0, 0)  # greyscale, no interlace
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", pixels) + _chunk(b"IEND", b""))


def declared_bomb(path, side=100_000):
    """A PNG whose header declares side x side pixels, with hardly any data behind it (a few dozen bytes)."""
    path.write_bytes(_png(side, side, 8, zlib.compress(b"\x00" * 64)))
    return path


def real_bomb(path, side=14_000):
    """A real side x side single-colour PNG that decodes whole: 1-bit rows of zeros, compressed as a
    stream (25 MB of rows in, about 25 kB out, in a fraction of a second)."""
    row = b"\x00" * (1 + (side + 7) // 8)  # filter byte 0, then the row's bits
    packer = zlib.compressobj(9)
    block = 1000
    data = b"".join(packer.compress(row * min(block, side - start)) for start in range(0, side, block))
    path.write_bytes(_png(side, side, 1, data + packer.flush()))
    return path


def test_the_bombs_are_what_they_claim():
    """The test files themselves: tiny on disk, past the cap in their headers; the real one decodes."""
    import io

    from PIL import Image
    for make, side in ((declared_bomb, 100_000), (real_bomb, 14_000)):
        data = make(_Bytes(), side).data
        assert len(data) < 100_000
        Image.MAX_IMAGE_PIXELS, saved = None, Image.MAX_IMAGE_PIXELS
        try:
            with Image.open(io.BytesIO(data)) as img:
                assert img.size == (side, side) and side * side > MAX_PIXELS
        finally:
            Image.MAX_IMAGE_PIXELS = saved
    small = real_bomb(_Bytes(), 40).data  # the same maker at a size that may be decoded: every pixel black
    with Image.open(io.BytesIO(small)) as img:
        assert img.size == (40, 40) and img.convert("L").getextrema() == (0, 0)


class _Bytes:
    """Stands for a path in the makers above, keeping the bytes in memory."""

    def write_bytes(self, data):
        self.data = data


@pytest.fixture(scope="module")
def image_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("bad_data")
    return make_run(base, "image"), base / "images"


@pytest.mark.parametrize("make,side", [(declared_bomb, 100_000), (real_bomb, 14_000)])
def test_predict_on_a_bomb_named_alone_is_an_error_that_gives_its_size(image_run, tmp_path, make, side):
    run, _ = image_run
    bomb = make(tmp_path / "bomb.png", side)
    with pytest.raises(DataError) as caught:
        dlspec.predict(str(run), [str(bomb)])
    message = str(caught.value)
    assert f"{bomb} declares {side:,} x {side:,} = {side * side:,} pixels" in message
    assert f"more than the cap of {MAX_PIXELS:,} (max_pixels)" in message
    assert "--max-pixels" in caught.value.hint
    result = CliRunner().invoke(main, ["predict", str(run), str(bomb)])
    assert result.exit_code == 1 and "internal error" not in result.output
    assert f"error: {bomb} declares" in result.output


def test_a_bomb_in_a_folder_is_skipped_with_a_warning_and_the_rest_predicted(image_run, tmp_path):
    run, _ = image_run
    folder = make_images(tmp_path / "photos", per_class=2)
    declared_bomb(folder / "bright" / "1a.png")
    real_bomb(folder / "dark" / "1a.png")
    good = sorted(str(p) for p in folder.rglob("*.png") if p.name != "1a.png")
    with pytest.warns(SkippedInput) as caught:
        answers = dlspec.predict(str(run), [str(folder)], batch=2)
    assert [a["input"] for a in answers] == good
    skipped = sorted(str(w.message) for w in caught if issubclass(w.category, SkippedInput))
    assert skipped == [f"skipping: {folder / 'bright' / '1a.png'} declares 100,000 x 100,000 = 10,000,000,000 "
                       f"pixels, more than the cap of {MAX_PIXELS:,} (max_pixels)",
                       f"skipping: {folder / 'dark' / '1a.png'} declares 14,000 x 14,000 = 196,000,000 "
                       f"pixels, more than the cap of {MAX_PIXELS:,} (max_pixels)"]
    result = CliRunner().invoke(main, ["predict", str(run), str(folder / "*" / "*.png")])
    assert result.exit_code == 0, result.output
    assert "warning: skipping: " in result.output and len(result.output.splitlines()) == len(good) + 2


def test_max_pixels_lowers_the_cap_of_predict_and_a_folder_of_only_bad_images_is_an_error(image_run, tmp_path):
    run, images = image_run
    one = next(iter(sorted((images / "dark").glob("*.png"))))  # 12 x 12 = 144 pixels
    assert dlspec.predict(str(run), [str(one)], max_pixels=144)[0]["input"] == str(one)
    with pytest.raises(DataError, match=r"declares 12 x 12 = 144 pixels, more than the cap of 143 \(max_pixels\)"):
        dlspec.predict(str(run), [str(one)], max_pixels=143)
    with pytest.warns(SkippedInput), pytest.raises(DataError, match="no input could be read: all 6 were skipped"):
        dlspec.predict(str(run), [str(images / "dark")], max_pixels=100)
    with pytest.raises(DlspecError, match="max_pixels must be a positive whole number of pixels, received 0"):
        dlspec.predict(str(run), [str(one)], max_pixels=0)
    result = CliRunner().invoke(main, ["predict", str(run), str(one), "--max-pixels", "0"])
    assert result.exit_code == 2 and "--max-pixels" in result.output


def test_the_training_scan_skips_a_bomb_unread_and_max_pixels_sets_the_cap(tmp_path):
    folder = make_images(tmp_path / "images", per_class=3)
    declared_bomb(folder / "bright" / "x.png")
    real_bomb(folder / "dark" / "x.png")
    spec = tmp_path / "s.dlspec"
    spec.write_text('model Net { input image(3, 12, 12); flatten -> linear(2) }\n'
                    'data d { source image_folder("images", max_pixels=150); batch 4 }\n'
                    'train { epochs 1 }\n')
    with pytest.warns(DlspecWarning) as caught:
        result = dlspec.fit(str(spec), out=str(tmp_path / "run"), log=lambda *a: None, progress=False)
    skipped = sorted((w.message for w in caught if "skipping image" in str(w.message)), key=str)
    assert [(m.message, m.loc.line, m.hint) for m in skipped] == [
        (f"skipping image: {folder / 'bright' / 'x.png'} declares 100,000 x 100,000 = 10,000,000,000 pixels, "
         "more than the cap of 150 (max_pixels)", 2, "shrink the image, or raise the cap: image_folder(..., "
                                                     "max_pixels=N)"),
        (f"skipping image: {folder / 'dark' / 'x.png'} declares 14,000 x 14,000 = 196,000,000 pixels, more than "
         "the cap of 150 (max_pixels)", 2, "shrink the image, or raise the cap: image_folder(..., max_pixels=N)")]
    assert len(result.history) == 1  # trained on the six good images
    # the run keeps its cap: predict refuses what the scan refused
    with pytest.raises(DataError, match="more than the cap of 150"):
        dlspec.predict(str(tmp_path / "run"), [str(folder / "dark" / "x.png")])
    spec.write_text(spec.read_text().replace("max_pixels=150", "max_pixels=143"))
    with pytest.warns(DlspecWarning), pytest.raises(DataError, match=r"class folder .*bright holds no readable "
                                                                       r"image \(4 unreadable\)"):
        dlspec.fit(str(spec), out=str(tmp_path / "run2"), log=lambda *a: None, progress=False)


def test_max_pixels_must_be_positive_at_its_line(tmp_path):
    spec = tmp_path / "s.dlspec"
    spec.write_text('model Net { input image(3, 12, 12); flatten -> linear(2) }\n'
                    'data d { source image_folder("images", max_pixels=0) }\n'
                    'train { epochs 1 }\n')
    result = CliRunner().invoke(main, ["compile", str(spec)])
    assert result.exit_code == 1 and "internal error" not in result.output
    assert ":2:" in result.output and "max_pixels" in result.output and "must be positive" in result.output


# ---- paths that are not regular files -------------------------------------------------------------------


@pytest.fixture
def zero_link(tmp_path):
    if not os.path.exists("/dev/zero"):
        pytest.skip("no /dev/zero here")
    link = tmp_path / "zero.png"
    link.symlink_to("/dev/zero")
    return link


def test_predict_on_a_link_to_dev_zero_says_it_is_not_a_regular_file(image_run, zero_link):
    run, _ = image_run
    with pytest.raises(DataError) as caught:
        dlspec.predict(str(run), [str(zero_link)])
    assert caught.value.message == f"{zero_link} is not a regular file (a character device); devices, pipes and " \
                                "sockets are never read"
    result = CliRunner().invoke(main, ["predict", str(run), str(zero_link)])
    assert result.exit_code == 1 and "not found" not in result.output and "not a regular file" in result.output


def test_a_link_to_dev_zero_in_a_folder_or_glob_is_skipped_unread(image_run, tmp_path, zero_link):
    run, images = image_run
    folder = tmp_path / "photos"
    folder.mkdir()
    good = sorted((images / "dark").glob("*.png"))[:2]
    for path in good:
        (folder / path.name).write_bytes(path.read_bytes())
    (folder / "zz.png").symlink_to(zero_link)
    for words in ([str(folder)], [str(folder / "*.png")]):
        with pytest.warns(SkippedInput, match=r"skipping: .*zz\.png is not a regular file \(a character device\)"):
            answers = dlspec.predict(str(run), words)
        assert [a["input"] for a in answers] == [str(folder / p.name) for p in good]


@pytest.mark.parametrize("source", ['csv("zero.csv", target="y")', 'text("zero.csv")',
                                    'timeseries("zero.csv", window=3)',
                                    'idx(images="zero.csv", labels="zero.csv")'])
def test_training_data_that_is_not_a_regular_file_is_an_error_at_the_source(tmp_path, zero_link, source):
    (tmp_path / "zero.csv").symlink_to("/dev/zero")
    spec = tmp_path / "s.dlspec"
    spec.write_text('model Net { input vector(4); linear(2) }\n'
                    f'data d {{ source {source} }}\n'
                    'train { epochs 1 }\n')
    with pytest.raises(DataError) as caught:
        dlspec.fit(str(spec), out=str(tmp_path / "run"), log=lambda *a: None, progress=False)
    assert caught.value.message.endswith(f"file {tmp_path / 'zero.csv'} is not a regular file (a character device)")
    assert caught.value.loc.line == 2 and "never read" in caught.value.hint


def test_an_image_folder_that_is_a_device_or_a_file_says_what_it_is(tmp_path, zero_link):
    (tmp_path / "photos.png").write_bytes(b"not a folder")
    for name, kind in ((zero_link.name, "a character device"), ("photos.png", "a file")):
        spec = tmp_path / "s.dlspec"
        spec.write_text('model Net { input image(3, 12, 12); flatten -> linear(2) }\n'
                        f'data d {{ source image_folder("{name}") }}\ntrain {{ epochs 1 }}\n')
        with pytest.raises(DataError) as caught:
            _fit(spec)
        assert caught.value.message == f"image folder {tmp_path / name} is not a folder ({kind})"
        assert caught.value.loc.line == 2


def test_a_link_to_dev_zero_among_training_images_is_skipped_unread(tmp_path, zero_link):
    folder = make_images(tmp_path / "images", per_class=3)
    (folder / "dark" / "z.png").symlink_to(zero_link)
    from dlspec.data.sources.images import scan_images
    with pytest.warns(DlspecWarning, match=r"skipping image: .*z\.png is not a regular file \(a character device\)"):
        files, labels, classes, bad, sizes = scan_images(str(folder), None)
    assert bad == [str(folder / "dark" / "z.png")] and len(files) == 6


# ---- targets that cannot train -----------------------------------------------------------------------


def _table(path, labels):
    path.write_text("a,b,label\n" + "".join(f"{i % 7},{i % 3},{labels[i % len(labels)]}\n" for i in range(30)))
    return path


def _fit(spec):
    return dlspec.fit(str(spec), out=str(spec.parent / "run"), log=lambda *a: None, progress=False)


@pytest.mark.parametrize("loss", ["cross_entropy", "nll"])
def test_a_softmax_loss_over_one_output_is_an_error_at_the_loss_line(tmp_path, loss):
    _table(tmp_path / "t.csv", ["yes"])
    spec = tmp_path / "s.dlspec"
    spec.write_text('model Net { input vector(2); linear(1) }\n'
                    'data d { source csv("t.csv", target="label") }\n'
                    f'train {{ epochs 1\n        loss {loss} }}\n')
    with pytest.raises(TrainError) as caught:
        _fit(spec)
    assert caught.value.message.startswith(f"loss {loss} needs one output per class, but model Net gives 1 per "
                                           "sample (shape [1])")
    assert (caught.value.loc.line, caught.value.loc.column) == (4, 9)
    assert "bce_with_logits" in caught.value.hint
    result = CliRunner().invoke(main, ["compile", str(spec)])  # found from the spec alone, before any data
    assert result.exit_code == 1 and f"s.dlspec:4:9: train error: loss {loss} needs one output per class" in result.output
    assert "^" in result.output


def test_the_default_loss_over_one_output_is_an_error_once_the_data_holds_classes(tmp_path):
    _table(tmp_path / "t.csv", ["yes", "no"])
    spec = tmp_path / "s.dlspec"
    spec.write_text('model Net { input vector(2); linear(1) }\n'
                    'data d { source csv("t.csv", target="label") }\n'
                    'train { epochs 1 }\n')
    with pytest.raises(TrainError, match="the default loss cross_entropy needs one output per class") as caught:
        _fit(spec)
    assert caught.value.loc.line == 3
    (tmp_path / "t.csv").write_text("a,b,label\n" + "".join(f"{i},{i % 3},{i * 0.5 + 0.25}\n" for i in range(30)))
    _fit(spec)  # numbers to predict: the default loss becomes mse, and linear(1) is right


@pytest.mark.parametrize("labels,loss,shown", [(["yes"], "cross_entropy", "yes"), (["1"], "cross_entropy", "1"),
                                               (["cat"], "bce_with_logits", "cat")])
def test_a_target_column_of_one_class_is_an_error_naming_the_column(tmp_path, labels, loss, shown):
    _table(tmp_path / "t.csv", labels)
    spec = tmp_path / "s.dlspec"
    spec.write_text('model Net { input vector(2); linear(2) }\n'
                    'data d { source csv("t.csv",\n                    target="label") }\n'
                    f'train {{ epochs 1; loss {loss} }}\n')
    with pytest.raises(DataError) as caught:
        _fit(spec)
    assert caught.value.message == (f"{tmp_path / 't.csv'}: target column 'label' holds one class ('{shown}') in "
                                    "all 30 rows; a classifier needs two or more")
    assert (caught.value.loc.line, caught.value.loc.column) == (3, 21)  # at target=
    assert "target=" in caught.value.hint
    result = CliRunner().invoke(main, ["compile", str(spec)])  # a table is read at compile: found there too
    assert result.exit_code == 1 and "target column 'label' holds one class" in result.output


def test_the_python_export_refuses_a_bomb_as_predict_does(image_run, tmp_path):
    import subprocess
    import sys
    run, images = image_run
    dlspec.export(str(run), "python", str(tmp_path / "export"))
    folder = tmp_path / "photos"
    folder.mkdir()
    good = sorted((images / "bright").glob("*.png"))[0]
    (folder / "a.png").write_bytes(good.read_bytes())
    bomb = declared_bomb(folder / "b.png")
    alone = subprocess.run([sys.executable, "predict.py", str(bomb)], cwd=tmp_path / "export", capture_output=True,
                           text=True, timeout=120)
    assert alone.returncode == 1 and alone.stderr.startswith(f"error: {bomb} declares 100,000 x 100,000")
    inside = subprocess.run([sys.executable, "predict.py", str(folder)], cwd=tmp_path / "export",
                            capture_output=True, text=True, timeout=120)
    assert inside.returncode == 0 and f"skipping: {bomb} declares" in inside.stderr
    assert [line.split('"input": ')[1].split(",")[0] for line in inside.stdout.splitlines()] == [f'"{folder / "a.png"}"']
