"""A run's data, checked again by evaluate and --resume (data/fingerprint.py): the run's own table
encoding and vocabulary are used, a changed file is a warning, changed classes an error."""
import pytest

import dlspec
from dlspec.data.fingerprint import fingerprint
from dlspec.errors import DataError, DlspecWarning

SPEC = '''model M { input vector(auto); linear(8) -> relu -> linear(OUT) }
data d { source csv("t.csv", target="y", onehot_max=2); split train=0.6 val=0.2 test=0.2 }
train { loss LOSS; optimizer adam(lr=0.01); epochs 2 }
'''


def write_table(path, rows=60, colour=lambda i: ["red", "green", "blue", "pink"][i % 4], label=lambda i: i % 3):
    path.write_text("a,colour,y\n" + "".join(f"{i / 10},{colour(i)},{label(i)}\n" for i in range(rows)))


def fit(tmp_path, loss="mse", out_width=1, epochs=None):
    (tmp_path / "s.dlspec").write_text(SPEC.replace("LOSS", loss).replace("OUT", str(out_width)))
    return dlspec.fit(tmp_path / "s.dlspec", out=str(tmp_path / "run"), log=lambda *a: None, progress=False,
                      **({"epochs": epochs} if epochs else {}))


def test_evaluate_reads_changed_rows_with_the_runs_encoding_and_says_the_data_changed(tmp_path):
    write_table(tmp_path / "t.csv")
    run = fit(tmp_path)
    assert dlspec.evaluate(str(tmp_path / "run"))["loss"] == pytest.approx(run.results["test"]["loss"], rel=1e-5)
    # a new colour (it would add an embedding row) and more rows: same model width, and a warning
    write_table(tmp_path / "t.csv", rows=80, colour=lambda i: "purple" if i < 30 else ["red", "green"][i % 2])
    with pytest.warns(DlspecWarning, match="t.csv changed since this run trained; evaluate uses the run's category "
                                           "levels and vocabulary") as caught:
        metrics = dlspec.evaluate(str(tmp_path / "run"))
    assert caught[0].message.loc.line == 2 and "loss" in metrics


def test_resume_keeps_the_encoding_and_refuses_changed_classes(tmp_path):
    write_table(tmp_path / "t.csv")
    fit(tmp_path, loss="cross_entropy", out_width=3)
    write_table(tmp_path / "t.csv", colour=lambda i: ["red", "green", "blue", "pink", "teal"][i % 5])
    with pytest.warns(DlspecWarning, match="changed since this run trained; --resume uses"):
        dlspec.fit(None, resume=str(tmp_path / "run"), epochs=3, log=lambda *a: None, progress=False)
    with pytest.warns(DlspecWarning, match="changed since this run trained; evaluate uses"):
        dlspec.evaluate(str(tmp_path / "run"))  # the run first trained on other data: still said
    write_table(tmp_path / "t.csv", label=lambda i: ["a", "b", "c"][i % 3])
    with pytest.raises(DataError, match="its classes differ from those the run trained on \\(new: a, b, c\\) "
                                        "\\(gone: 0, 1, 2\\)") as info:
        dlspec.fit(None, resume=str(tmp_path / "run"), epochs=4, log=lambda *a: None, progress=False)
    assert info.value.line == 2


def test_a_fingerprint_follows_file_contents_and_folder_listings(tmp_path):
    write_table(tmp_path / "t.csv")
    spec = dlspec.loads('data d { source csv("t.csv", target="y") }\n'
                        'data f { source image_folder("imgs") }', str(tmp_path / "s.dlspec"))
    from dlspec.data.config import read_data
    table, folder = (read_data(spec.program.data[n], spec.program.global_env()) for n in ("d", "f"))
    before = fingerprint(table)
    assert list(before) == [str(tmp_path / "t.csv")] and fingerprint(table) == before
    write_table(tmp_path / "t.csv", rows=61)
    assert fingerprint(table) != before
    (tmp_path / "imgs" / "cat").mkdir(parents=True)
    (tmp_path / "imgs" / "cat" / "1.png").write_bytes(b"x" * 10)
    listed = fingerprint(folder)
    (tmp_path / "imgs" / "cat" / "2.png").write_bytes(b"y" * 10)
    assert fingerprint(folder) != listed
