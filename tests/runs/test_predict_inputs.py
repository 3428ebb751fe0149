"""Inputs `dlspec predict` (and an export's predict.py) cannot read: named on their own they are
located errors naming the file; found in a folder or by a glob they are skipped with a one-line
warning and the others answered. Folders reached through links are walked like any other, and a
link loop is named as one."""
import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

import dlspec
from dlspec.cli import main
from dlspec.errors import DataError
from dlspec.runtime.inputs import SkippedInput
from tests.helpers.predict_runs import make_images, make_run


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("inputs")
    return {kind: make_run(base, kind) for kind in ("text", "table", "series", "image")}


def skipped(caught):
    return sorted(str(w.message) for w in caught if issubclass(w.category, SkippedInput))


# ---- text files that are not UTF-8 --------------------------------------------------------


@pytest.mark.parametrize("data, line, column, reason", [
    (b"good film\nok \xe9 fine\n", 2, 4, "invalid continuation byte"),
    (b"\xff great\n", 1, 1, "invalid start byte"),
    (b"caf\xc3\xa9 ok \xc3", 1, 9, "unexpected end of data"),  # a character cut short; columns count characters
])
def test_a_txt_file_not_utf8_named_alone_is_an_error_at_its_line_and_column(runs, tmp_path, data, line,
                                                                           column, reason):
    path = tmp_path / "latin.txt"
    path.write_bytes(data)
    message = f"{path} is not UTF-8 text ({reason} at line {line}, column {column})"
    with pytest.raises(DataError) as caught:
        dlspec.predict(str(runs["text"]), [str(path)])
    assert caught.value.message == message
    assert (caught.value.loc.file, caught.value.loc.line, caught.value.loc.column) == (str(path), line, column)
    result = CliRunner().invoke(main, ["predict", str(runs["text"]), str(path)])
    assert result.exit_code == 1 and "internal error" not in result.output
    assert result.output.startswith(f"{path}:{line}:{column}: data error: {message}")
    caret_line = result.output.splitlines()[2]
    assert caret_line.index("^") == 4 + column - 1  # under the bad byte (the quoted line is indented 4)


def test_txt_files_not_utf8_in_a_folder_or_glob_are_skipped_with_a_warning(runs, tmp_path):
    folder = tmp_path / "texts"
    folder.mkdir()
    (folder / "a.txt").write_text("a great film\n\nawful plot\n")
    (folder / "b.txt").write_bytes(b"ok\n\xe9t\xe9\n")
    (folder / "c.txt").write_text("\ufeffnot good\n")  # a BOM is no error
    want = [f"{folder / 'a.txt'}:1", f"{folder / 'a.txt'}:3", f"{folder / 'c.txt'}:1"]
    for word in (str(folder), str(folder / "*.txt")):
        with pytest.warns(SkippedInput) as caught:
            answers = dlspec.predict(str(runs["text"]), [word])
        assert [a["input"] for a in answers] == want
        assert skipped(caught) == [f"skipping: {folder / 'b.txt'} is not UTF-8 text (invalid continuation "
                                   "byte at line 2, column 1)"]
    (folder / "d.txt").write_text("\n  \n")
    with pytest.raises(DataError) as caught:
        dlspec.predict(str(runs["text"]), [str(folder / "d.txt")])
    assert caught.value.message == f"{folder / 'd.txt'} holds no line of text (it is empty or blank)"
    with pytest.warns(SkippedInput) as warned:
        assert len(dlspec.predict(str(runs["text"]), [str(folder)])) == len(want)
    assert f"skipping: {folder / 'd.txt'} holds no line of text (it is empty or blank)" in skipped(warned)
    (folder / "d.txt").unlink()
    (folder / "a.txt").unlink()
    (folder / "c.txt").unlink()
    with pytest.warns(SkippedInput), pytest.raises(DataError, match="no input could be read: all 1 were skipped"):
        dlspec.predict(str(runs["text"]), [str(folder)])


# ---- CSV files that cannot be read ------------------------------------------------------------


BAD_CSVS = {  # file contents -> the message that names it (named alone: the error; in a folder: the warning)
    "header_only": (b"size,city,rooms\n", "{path} has a header (size, city, rooms) but no rows"),
    "wrong_columns": (b"x,y\n1,2\n", "{path} has no column size, city, rooms; the model was trained on "
                                     "columns size, city, rooms (header of {path}: x, y)"),
    "not_utf8": (b"size,city,rooms\n50,l\xe9on,2\n", "{path} is not UTF-8 text (invalid continuation byte at "
                                                     "line 2, column 5)"),
    "short_row": (b"size,city,rooms\n50,paris\n", "{path}, line 2: 2 values where the header has 3"),
}


@pytest.mark.parametrize("name", sorted(BAD_CSVS))
def test_a_bad_csv_is_an_error_named_alone_and_skipped_in_a_folder_or_glob(runs, tmp_path, name):
    data, template = BAD_CSVS[name]
    folder = tmp_path / "rows"
    folder.mkdir()
    (folder / "good.csv").write_text("size,city,rooms\n80,paris,3\n40,nice,1\n")
    bad = folder / f"{name}.csv"
    bad.write_bytes(data)
    message = template.format(path=bad)
    with pytest.raises(DataError) as caught:
        dlspec.predict(str(runs["table"]), [str(bad)])
    assert caught.value.message == message
    for word in (str(folder), str(folder / "*.csv")):
        with pytest.warns(SkippedInput) as warned:
            answers = dlspec.predict(str(runs["table"]), [word])
        assert [a["input"] for a in answers] == [f"{folder / 'good.csv'}:2", f"{folder / 'good.csv'}:3"]
        assert skipped(warned) == [f"skipping: {message}"]
    result = CliRunner().invoke(main, ["predict", str(runs["table"]), str(folder)])
    assert result.exit_code == 0 and f"warning: skipping: {message}\n" in result.output


# ---- series -----------------------------------------------------------------------------------


def test_a_series_csv_too_short_names_the_file_and_is_skipped_in_a_folder(runs, tmp_path):
    short = tmp_path / "recent" / "a_short.csv"
    short.parent.mkdir()
    short.write_text("t,v\n0,0.1\n1,0.2\n")
    with pytest.raises(DataError) as caught:
        dlspec.predict(str(runs["series"]), [str(short)])
    assert caught.value.message == f"the series needs at least 10 values to forecast from; {short} has 2 values"
    assert caught.value.hint == "give a CSV with at least 10 rows"
    (short.parent / "b_long.csv").write_text("t,v\n" + "".join(f"{i},{i / 20}\n" for i in range(12)))
    with pytest.warns(SkippedInput) as warned:
        answers = dlspec.predict(str(runs["series"]), [str(short.parent)], steps=2)
    assert [a["input"] for a in answers] == ["t+1", "t+2"]
    assert skipped(warned) == [f"skipping: {short} has 2 values; the series needs at least 10"]


# ---- folders, links and globs -------------------------------------------------------------------


def test_a_linked_folder_is_walked_as_a_glob_match_is_and_a_link_loop_is_named(runs, tmp_path):
    outside = make_images(tmp_path / "outside", per_class=1)
    folder = tmp_path / "photos"
    make_images(folder, per_class=1)
    (folder / "linked").symlink_to(outside)  # a link to a folder inside the walked one
    (folder / "old.png").symlink_to(outside / "dark")  # a folder a `*.png` glob matches
    (folder / "bright" / "up").symlink_to(folder)  # back to an ancestor: a loop
    (folder / "bright" / "self.png").symlink_to(folder / "bright" / "self.png")
    with pytest.warns(SkippedInput) as warned:
        walked = [a["input"] for a in dlspec.predict(str(runs["image"]), [str(folder)])]
    assert walked == [str(folder / "bright" / "0.png"), str(folder / "dark" / "0.png"),
                      str(folder / "linked" / "bright" / "0.png"), str(folder / "old.png" / "0.png")]
    assert skipped(warned) == sorted([
        f"skipping: {folder / 'bright' / 'self.png'} is a link loop (following its links leads back to it)",
        f"skipping: {folder / 'bright' / 'up'} is a link loop (it leads back to {folder})",
        f"skipping: {folder / 'linked' / 'dark'} leads to {folder / 'old.png'}, already read"])  # read once
    globbed = [a["input"] for a in dlspec.predict(str(runs["image"]), [str(folder / "*.png")])]
    assert globbed == [str(folder / "old.png" / "0.png")]  # the matched folder is walked, as a folder is
    with pytest.warns(SkippedInput) as warned:  # Python's own `**` follows the loop until paths are too long
        deep = [a["input"] for a in dlspec.predict(str(runs["image"]), [str(folder / "**" / "*.png")])]
    assert sorted(deep) == sorted(walked)
    assert f"skipping: {folder / 'bright' / 'up'} is a link loop (it leads back to {folder})" in skipped(warned)
    with pytest.raises(DataError) as caught:
        dlspec.predict(str(runs["image"]), [str(folder / "bright" / "self.png")])
    assert caught.value.message == (f"{folder / 'bright' / 'self.png'} is a link loop (following its links "
                                    "leads back to it)")
    (tmp_path / "gone.png").symlink_to(tmp_path / "nowhere.png")
    with pytest.raises(DataError) as caught:
        dlspec.predict(str(runs["image"]), [str(tmp_path / "gone.png")])
    assert caught.value.message == f"{tmp_path / 'gone.png'} is a link to nothing ({tmp_path / 'nowhere.png'})"


# ---- the python export's predict.py ---------------------------------------------------------------


def run_script(script, *words):
    return subprocess.run([sys.executable, str(script), *map(str, words)], capture_output=True, text=True,
                          timeout=120)


def test_exported_predict_py_help_warnings_max_pixels_and_bad_text(runs, tmp_path):
    dlspec.export(str(runs["image"]), "python", str(tmp_path / "image"))
    script = tmp_path / "image" / "predict.py"
    done = run_script(script, "--help")
    assert done.returncode == 0 and done.stdout.startswith("usage: python predict.py ")
    assert "--max-pixels N" in done.stdout and done.stderr == ""

    folder = make_images(tmp_path / "photos", per_class=1)  # 12 x 12 = 144 pixels each
    (folder / "dark" / "broken.png").write_bytes(b"not a png")
    done = run_script(script, folder)
    assert done.returncode == 0, done.stderr
    assert [json.loads(line)["input"] for line in done.stdout.splitlines()] == [
        str(folder / "bright" / "0.png"), str(folder / "dark" / "0.png")]
    assert done.stderr.splitlines() == [f"warning: skipping: cannot read image {folder / 'dark' / 'broken.png'}: "
                                        f"cannot identify image file '{folder / 'dark' / 'broken.png'}'"]

    one = folder / "dark" / "0.png"
    assert run_script(script, "--max-pixels", "144", one).returncode == 0
    done = run_script(script, "--max-pixels=143", one)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith(f"error: {one} declares 12 x 12 = 144 pixels, more than the cap of 143")
    for words, message in ((["--max-pixels", "0", one], "error: --max-pixels must be a positive whole number, "
                                                        "received '0'"),
                           (["--max-pixels"], "error: --max-pixels needs a value"),
                           (["--bogus", one], "error: unknown option --bogus")):
        done = run_script(script, *words)
        assert done.returncode == 1 and done.stderr.splitlines()[0] == message

    dlspec.export(str(runs["text"]), "python", str(tmp_path / "text"))
    (tmp_path / "latin.txt").write_bytes(b"good\nbad \xe9\n")
    done = run_script(tmp_path / "text" / "predict.py", tmp_path / "latin.txt")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.splitlines()[0] == (f"{tmp_path / 'latin.txt'}:2:5: error: {tmp_path / 'latin.txt'} is not "
                                           "UTF-8 text (invalid continuation byte at line 2, column 5)")
    done = run_script(tmp_path / "text" / "predict.py", "--", "--not a flag, a sentence")
    assert done.returncode == 0 and json.loads(done.stdout)["input"] == "--not a flag, a sentence"


# ---- images of another size ----------------------------------------------------------------


def test_an_image_of_another_size_is_resized_and_said_once_per_shape(tmp_path):
    """predict resizes an image the run's steps leave at another size (and averages its channels): it says
    so, once per shape met, not once per file; an image of the model's size is read as it is, silently."""
    from PIL import Image
    from dlspec.runtime.preprocess import Resized
    (tmp_path / "d.dlspec").write_text("model M { input image(1, 8, 8); flatten -> linear(10) }\n"
                                       "data d { source sklearn_digits; split train=0.9 val=0.1; batch 64 }\n"
                                       "train { model M; data d; epochs 1 }\n")
    run = str(tmp_path / "run")
    dlspec.fit(str(tmp_path / "d.dlspec"), out=run, log=lambda *a: None, progress=False)
    folder = tmp_path / "photos"
    folder.mkdir()
    for name, size in (("a.png", (30, 40)), ("b.png", (30, 40)), ("c.png", (8, 8)), ("d.png", (20, 20))):
        Image.new("L", size, 128).save(folder / name)
    with pytest.warns(Resized) as warned:
        answers = dlspec.predict(run, [str(folder)])
    assert len(answers) == 4
    said = sorted({str(w.message) for w in warned if issubclass(w.category, Resized)})
    assert said == ["images of shape [1, 20, 20] (channels, height, width, after the run's transform steps) are "
                    "resized to the model's input [1, 8, 8]",
                    "images of shape [1, 40, 30] (channels, height, width, after the run's transform steps) are "
                    "resized to the model's input [1, 8, 8]"]
    result = CliRunner().invoke(main, ["predict", run, str(folder)])
    assert result.exit_code == 0 and result.output.count("warning: images of shape") == 2
