"""Splits the data gives, kept as given: per-split image folders, a csv split column, and list files per
split (`split files(...)`); the seeded fractions stay the default."""
import pytest

import dlspec
from dlspec.data.config import describe_split, read_data
from dlspec.data.pipeline import build_data
from dlspec.diagnostics import data_paths
from dlspec.errors import DataError, UnknownNameError

COUNTS = {"train": {"ants": 5, "bees": 4}, "val": {"ants": 2, "bees": 3}, "test": {"ants": 1, "bees": 2}}


def _images(root, counts=COUNTS):
    from PIL import Image
    for split, classes in counts.items():
        for cls, n in classes.items():
            folder = root / split / cls
            folder.mkdir(parents=True)
            for i in range(n):
                Image.new("RGB", (6, 6), (40 * i % 255, 90, 30)).save(folder / f"{i}.png")


def _spec(tmp_path, data_lines: str):
    text = f"data d {{\n    {data_lines}\n    batch 4\n}}\n"
    path = tmp_path / "s.dlspec"
    path.write_text(text)
    return dlspec.load(str(path))


def _config(tmp_path, data_lines: str):
    spec = _spec(tmp_path, data_lines)
    return read_data(spec.program.data["d"], spec.program.global_env())


def test_per_split_folders_keep_the_folders_sizes(tmp_path):
    _images(tmp_path)
    cfg = _config(tmp_path, 'source image_folder(train="train", val="val", test="test")')
    bundle = build_data(cfg)
    assert bundle.sizes == {split: sum(c.values()) for split, c in COUNTS.items()}
    assert bundle.classes == ["ants", "bees"]
    val = [int(y) for _, ys in bundle.loaders["val"] for y in ys]
    assert sorted(val) == [0] * 2 + [1] * 3
    assert cfg.fractions == {"train": 1.0, "val": 1.0, "test": 1.0}
    assert describe_split(cfg) == "splits as given by per-split folders train=train, val=val, test=test"


def test_show_says_how_the_split_was_made(tmp_path):
    _images(tmp_path)
    assert "splits as given by per-split folders train=train, val=val" in \
        data_paths(_spec(tmp_path, 'source image_folder(train="train", val="val")'))["d"]
    assert data_paths(_spec(tmp_path, "source sklearn_digits"))["d"].endswith(
        "splits drawn by seed 0: train 0.8 / val 0.1 / test 0.1")


def test_a_missing_split_folder_is_located(tmp_path):
    _images(tmp_path)
    with pytest.raises(DataError) as exc:
        build_data(_config(tmp_path, 'source image_folder(train="train", val="valid")'))
    assert f"image folder not found: {tmp_path / 'valid'}" in str(exc.value)
    line = '    source image_folder(train="train", val="valid")'
    assert (exc.value.loc.line, exc.value.loc.column) == (2, line.index("val=") + 1)


def test_a_val_class_the_train_folder_lacks_names_the_nearest(tmp_path):
    _images(tmp_path, {"train": {"ants": 2, "bees": 2}, "val": {"bess": 1}})
    with pytest.raises(DataError) as exc:
        build_data(_config(tmp_path, 'source image_folder(train="train", val="val")'))
    assert "class folder 'bess' that the train folder lacks. Did you mean 'bees'?" in str(exc.value)


def test_fractions_beside_given_splits_are_refused(tmp_path):
    _images(tmp_path)
    with pytest.raises(DataError) as exc:
        _config(tmp_path, 'source image_folder(train="train", val="val")\n    split train=0.5 val=0.5')
    assert "split fractions cannot apply: the splits are given by per-split folders" in str(exc.value)
    assert exc.value.loc.line == 3


def test_per_split_folders_inside_one_folder_imagenet_style(tmp_path):
    _images(tmp_path / "hymenoptera")
    cfg = _config(tmp_path, 'source image_folder("hymenoptera", train="train", val="val")')
    assert build_data(cfg).sizes == {"train": 9, "val": 5, "test": 0}
    assert cfg.source_args["train"] == str(tmp_path / "hymenoptera" / "train")


def test_per_split_folders_need_train(tmp_path):
    _images(tmp_path)
    with pytest.raises(DataError) as exc:
        build_data(_config(tmp_path, 'source image_folder(val="val")'))
    assert "per-split folders need train=" in str(exc.value)


CSV = "a,b,label,fold\n" + "".join(f"{i},{i % 3},{'xy'[i % 2]},{['train', 'train', 'val', 'test'][i % 4]}\n"
                                   for i in range(20))


def test_a_split_column_puts_rows_where_it_says(tmp_path):
    (tmp_path / "t.csv").write_text(CSV)
    cfg = _config(tmp_path, 'source csv("t.csv", target="label", split="fold")')
    bundle = build_data(cfg)
    assert bundle.sizes == {"train": 10, "val": 5, "test": 5}
    assert bundle.features == ["a", "b"]  # the split column is not a feature
    val_a = sorted(int(x[0]) for xs, _ in bundle.loaders["val"] for x in xs)
    assert val_a == [2, 6, 10, 14, 18]  # the rows whose fold is val
    assert describe_split(cfg) == "splits as given by the csv column 'fold'"


def test_an_unknown_split_value_names_its_line_and_the_nearest(tmp_path):
    (tmp_path / "t.csv").write_text(CSV.replace("2,2,x,val", "2,2,x,vall"))
    with pytest.raises(DataError) as exc:
        build_data(_config(tmp_path, 'source csv("t.csv", target="label", split="fold")'))
    assert "line 4, column 'fold' (column 4): 'vall' is not a split. Did you mean 'val'?" in str(exc.value)


def test_a_split_column_that_is_not_there(tmp_path):
    (tmp_path / "t.csv").write_text(CSV)
    with pytest.raises(DataError) as exc:
        build_data(_config(tmp_path, 'source csv("t.csv", target="label", split="folds")'))
    assert "no column 'folds' for split=. Did you mean 'fold'?" in str(exc.value)


def test_split_files_list_images_relative_to_the_folder(tmp_path):
    _images(tmp_path, {"all": {"ants": 4, "bees": 4}})
    (tmp_path / "train.txt").write_text("ants/0.png\nants/1.png\nbees/0.png\nbees/1.png\nbees/2.png\n")
    (tmp_path / "val.txt").write_text("ants/2.png\nbees/3.png\n")
    with pytest.warns(UserWarning, match="1 of 8 samples are in no split list"):
        bundle = build_data(_config(tmp_path, 'source image_folder("all")\n'
                                              '    split files(train="train.txt", val="val.txt")'))
    assert bundle.sizes == {"train": 5, "val": 2, "test": 0}


def test_split_files_list_row_indices_of_other_sources(tmp_path):
    (tmp_path / "t.csv").write_text(CSV)
    (tmp_path / "train.txt").write_text("\n".join(str(i) for i in range(15)))
    (tmp_path / "test.txt").write_text("\n".join(str(i) for i in range(15, 20)))
    cfg = _config(tmp_path, 'source csv("t.csv", target="label", features=["a", "b"])\n'
                            '    split files(train="train.txt", test="test.txt")')
    assert cfg.fractions == {"train": 1.0, "val": 0.0, "test": 1.0}
    assert build_data(cfg).sizes == {"train": 15, "val": 0, "test": 5}


def test_a_listed_file_that_does_not_exist_names_the_nearest(tmp_path):
    _images(tmp_path, {"all": {"ants": 2, "bees": 2}})
    (tmp_path / "train.txt").write_text("ants/0.png\nants/1.pgn\n")
    with pytest.raises(DataError) as exc:
        build_data(_config(tmp_path, 'source image_folder("all")\n    split files(train="train.txt")'))
    assert "train.txt, line 2: 'ants/1.pgn' is not a sample of data d. Did you mean 'ants/1.png'" in str(exc.value)
    assert exc.value.loc.line == 3


def test_a_sample_listed_twice_is_refused(tmp_path):
    (tmp_path / "t.csv").write_text(CSV)
    (tmp_path / "train.txt").write_text("0\n1\n2\n")
    (tmp_path / "val.txt").write_text("3\n2\n")
    with pytest.raises(DataError) as exc:
        build_data(_config(tmp_path, 'source csv("t.csv", target="label")\n'
                                     '    split files(train="train.txt", val="val.txt")'))
    assert "val.txt, line 2: '2' is listed twice (first in train.txt, line 3)" in str(exc.value)


def test_split_takes_fractions_or_files(tmp_path):
    with pytest.raises(UnknownNameError) as exc:
        _config(tmp_path, 'source sklearn_digits\n    split file(train="a.txt")')
    assert "split takes fractions or files(...), not file(...). Did you mean 'files'?" in str(exc.value)


@pytest.mark.parametrize("reader", ["columnar", "row-wise"])
def test_split_files_count_rows_in_the_file_when_missing_drop_leaves_some_out(tmp_path, monkeypatch, reader):
    """Row 2 has a missing cell and goes: the lists still name rows by their place in the file, so the rows
    after it land in the split their index says (not one split further on), and listing the dropped row
    puts it nowhere."""
    from dlspec.data.sources import csv_columns
    if reader == "row-wise":
        monkeypatch.setattr(csv_columns, "pyarrow_or_none", lambda: None)
    rows = [f"{i},{'' if i == 2 else i * 10},{'x' if i % 2 else 'y'}" for i in range(12)]
    (tmp_path / "t.csv").write_text("a,b,label\n" + "\n".join(rows) + "\n")
    (tmp_path / "train.txt").write_text("\n".join(str(i) for i in range(8)))
    (tmp_path / "val.txt").write_text("8\n9\n10\n11\n")
    cfg = _config(tmp_path, 'source csv("t.csv", target="label", missing=drop)\n'
                            '    split files(train="train.txt", val="val.txt")')
    with pytest.warns(UserWarning, match="1 of 12 rows with a missing cell left out"):
        bundle = build_data(cfg)
    assert bundle.sizes == {"train": 7, "val": 4, "test": 0}
    val_a = sorted(int(x[0]) for xs, _ in bundle.loaders["val"] for x in xs)
    assert val_a == [8, 9, 10, 11]
    (tmp_path / "val.txt").write_text("8\n12\n")
    with pytest.raises(DataError) as exc:
        build_data(cfg)
    assert "val.txt, line 2: '12' is not a sample of data d." in str(exc.value)
    assert exc.value.hint == "each line is a sample's index, 0 to 11"


def test_a_split_column_that_is_also_a_feature_says_so(tmp_path):
    (tmp_path / "t.csv").write_text(CSV)
    with pytest.raises(DataError) as exc:
        build_data(_config(tmp_path, 'source csv("t.csv", target="label", split="fold", features=["a", "fold"])'))
    assert "split= names 'fold', which is also a feature column" in str(exc.value)


def test_a_parquet_split_column_splits_as_the_same_csv_column_does(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq
    (tmp_path / "t.csv").write_text(CSV)
    pq.write_table(pcsv.read_csv(tmp_path / "t.csv"), tmp_path / "t.parquet")
    bundles = [build_data(_config(tmp_path, f'source {kind}("t.{kind}", target="label", split="fold")'))
               for kind in ("csv", "parquet")]
    assert bundles[1].sizes == bundles[0].sizes == {"train": 10, "val": 5, "test": 5}
    assert bundles[1].features == ["a", "b"]
    for split in ("train", "val", "test"):
        assert [x.tolist() for xs, _ in bundles[1].loaders[split] for x in xs] == \
               [x.tolist() for xs, _ in bundles[0].loaders[split] for x in xs]
    table = pa.table({"a": [1.0, 2.0, 3.0], "label": ["x", "y", "x"], "fold": ["train", "tset", "val"]})
    pq.write_table(table, tmp_path / "bad.parquet")
    with pytest.raises(DataError) as exc:
        build_data(_config(tmp_path, 'source parquet("bad.parquet", target="label", split="fold")'))
    assert "bad.parquet, line 2, column 'fold' (column 3): 'tset' is not a split. Did you mean 'test'?" \
        in str(exc.value)
