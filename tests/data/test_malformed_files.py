"""Nothing in a data file crashes dlspec or runs code: bad cells, encodings, broken files and images, dotted sources."""
import pytest

import dlspec
from dlspec.data.config import read_data
from dlspec.data.pipeline import build_data
from dlspec.errors import ArgumentError, DataError, DlspecWarning


def data_config(text, path="<string>"):
    spec = dlspec.loads(text, str(path))
    return read_data(next(iter(spec.program.data.values())), spec.program.global_env())


# ---- (8) NaN, inf and empty cells are found while loading --------------------------------------

@pytest.mark.parametrize("source, cell, words", [
    ('csv("F", target="y")', "nan", "line 3, column 'b' (column 2): 'nan' is not a finite number"),
    ('csv("F", target="y")', "-inf", "line 3, column 'b' (column 2): '-inf' is not a finite number"),
    ('csv("F", target="y")', "", "line 3, column 'b' (column 2): the cell is empty"),
    ('csv("F", target="b")', "nan", "line 3, column 'b' (column 2): the target is 'nan', a missing value"),
    ('timeseries("F", column="b", window=1)', "inf", "line 3, column 'b' (column 2): 'inf' is not a finite"),
    ('timeseries("F", column="b", window=1)', "NaN", "line 3, column 'b' (column 2): 'NaN' is not a finite"),
])
def test_non_finite_and_empty_cells_name_file_line_and_column(tmp_path, source, cell, words):
    (tmp_path / "f.csv").write_text(f"a,b,y\n1,2,3.5\n2,{cell},4.5\n3,4,5.5\n4,5,6.5\n")
    cfg = data_config("\n\ndata d { source " + source.replace("F", str(tmp_path / "f.csv")) + " }")
    with pytest.raises(DataError) as info:
        build_data(cfg, loss_task="regression" if "missing" not in words else "classification")
    assert f"{tmp_path / 'f.csv'}, {words}" in info.value.message and info.value.line == 3


# ---- dotted sources are checked before anything is called ---------------------------------------

@pytest.mark.parametrize("call", ['os.system("echo pwned > MARKER")', 'builtins.eval("open(\'MARKER\', \'w\')")',
                                  'subprocess.run(["touch", "MARKER"])'])
def test_dotted_sources_that_are_not_datasets_never_run(tmp_path, call):
    marker = tmp_path / "marker"
    cfg = data_config("data d {\n  source " + call.replace("MARKER", str(marker)) + "\n}")
    with pytest.raises(DataError, match="is not a torch Dataset class .*it was not called") as info:
        build_data(cfg)
    assert info.value.line == 2 and "@dlspec.dataset" in info.value.hint
    assert not marker.exists()


def test_a_dotted_dataset_class_still_loads():
    cfg = data_config("data d { source torchvision.datasets.FakeData(size=20, image_size=[1, 8, 8], num_classes=2) }")
    assert build_data(cfg).sample_shape == (1, 8, 8)


# ---- broken images ----------------------------------------------------------------------------

def _truncated_images(root):
    from PIL import Image
    for cls in ("a", "b"):
        (root / cls).mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", (10, 10), (i * 40, 0, 0)).save(root / cls / f"{i}.png")
    big = Image.effect_noise((64, 64), 50).convert("RGB")
    big.save(root / "a" / "cut.png")
    big.save(root / "b" / "cut.jpg", quality=95)
    for name in ("a/cut.png", "b/cut.jpg"):
        data = (root / name).read_bytes()
        (root / name).write_bytes(data[: len(data) // 2])  # header intact: verify() passes


def test_truncated_images_are_found_by_the_scan_and_skipped_once_each(tmp_path):
    _truncated_images(tmp_path)
    cfg = data_config(f'data d {{ source image_folder("{tmp_path}"); split train=0.5 test=0.5 }}')
    with pytest.warns(DlspecWarning) as info:
        bundle = build_data(cfg)
    skipped = [str(w.message) for w in info if "skipping" in str(w.message)]
    assert len(skipped) == 2 and any("cut.png" in s for s in skipped) and any("cut.jpg" in s for s in skipped)
    assert bundle.sizes["train"] + bundle.sizes["test"] == 6
    for x, _ in bundle.loaders["train"]:  # a whole epoch reads
        assert x.shape[1:] == (3, 10, 10)


def test_a_class_folder_without_a_readable_image_is_an_error(tmp_path):
    _truncated_images(tmp_path)
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "x.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    cfg = data_config(f'data d {{ source image_folder("{tmp_path}") }}')
    with pytest.warns(DlspecWarning), pytest.raises(DataError, match=f"class folder {tmp_path / 'c'} holds no "
                                                                      "readable image"):
        build_data(cfg)


# ---- encodings --------------------------------------------------------------------------------

def test_bytes_that_are_not_the_encoding_name_the_line(tmp_path):
    (tmp_path / "t.csv").write_bytes(b"a,y\n1,caf\xe9\n2,tea\n3,tea\n4,caf\xe9\n")
    with pytest.raises(DataError) as info:
        build_data(data_config(f'data d {{ source csv("{tmp_path}/t.csv", target="y") }}'))
    assert "t.csv, line 2, column 6: byte(s) b'\\xe9' are not valid utf-8" in info.value.message
    assert "encoding=" in info.value.hint
    bundle = build_data(data_config(f'data d {{ source csv("{tmp_path}/t.csv", target="y", encoding="latin-1") }}'))
    assert bundle.classes == ["café", "tea"]
    (tmp_path / "s.tsv").write_bytes(b"good film\t1\nbad \xff film\t0\n")
    with pytest.raises(DataError, match=r"s.tsv, line 2, column 5: byte\(s\) b'\\xff'"):
        build_data(data_config(f'data d {{ source text("{tmp_path}/s.tsv") }}'))
    (tmp_path / "bom.csv").write_bytes("\ufeffa,y\n1,x\n2,z\n".encode("utf-8"))
    assert build_data(data_config(f'data d {{ source csv("{tmp_path}/bom.csv", target="y") }}')).classes == ["x", "z"]
    with pytest.raises(ArgumentError, match="is not an encoding Python knows"):
        data_config('data d { source csv("t.csv", target="y", encoding="utf-9") }')


# ---- broken files: located data errors, never internal ones ----------------------------------

@pytest.mark.parametrize("content, source, words", [
    ("", 'csv("F", target="y")', "is empty; expected a header row"),
    ("a,y\n", 'csv("F", target="y")', "has a header (a, y) but no data rows"),
    ("a,y\n1,2\n1,2,3\n", 'csv("F", target="y")', "line 3: 3 values where the header has 2"),
    ("a,b\n1,2\n", 'csv("F", target="label")', "has no column 'label'. Columns: a, b"),
    ("y\n1\n2\n", 'csv("F", target="y")', "has no feature columns besides the target 'y'"),
    ("a,a,y\n1,2,3\n", 'csv("F", target="y")', "the header names 'a' more than once"),
    ("just a sentence\n", 'text("F")', "line 1: expected at least 2 fields"),
    ("a sentence\t\n", 'text("F")', "line 1: the label (column 2) is empty"),
    ("t,v\n1,2\n2,3\n", 'timeseries("F", column="v", window=2)', "has 2 values, too few for window=2"),
    ("t,v\n1,2\n2,3\n", 'timeseries("F", column=5, window=1)', "no column 5 for the series"),
    ("t,v\n1,2\n2\n3,4\n", 'timeseries("F", column="v", window=1)', "line 3: 1 values, no column 2 ('v')"),
])
def test_broken_files_are_located_data_errors(tmp_path, content, source, words):
    (tmp_path / "f.csv").write_text(content)
    cfg = data_config("data d {\n source " + source.replace("F", str(tmp_path / "f.csv")) + "\n}")
    with pytest.raises(DataError) as info:
        build_data(cfg)
    assert words in info.value.message and info.value.line == 2
