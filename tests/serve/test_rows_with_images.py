"""A served run whose rows name image files (a csv source with an image input): the images come with the
rows in one multipart request, named by file name, and the answers are `dlspec predict`'s on the same rows
and files; a path that leaves the request (absolute, `..`) is refused, never read from the server's disk,
and no answer or message shows the server's temporary folder."""
import pytest

import dlspec
from tests.helpers.served import make_rows_images_run, post_files, post_json, request, serving

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return make_rows_images_run(tmp_path_factory.mktemp("rows_images"))


def test_rows_and_their_images_in_one_request_answer_as_predict(run, tmp_path):
    rows = "photo,sqm,town\n03.png,50,a\n07.png,90,b\n03.png,70,b\n"
    (tmp_path / "new.csv").write_text(rows)
    for name in ("03.png", "07.png"):
        (tmp_path / name).write_bytes((run / name).read_bytes())
    expected = dlspec.predict(str(run / "run"), [str(tmp_path / "new.csv")])
    with serving(run / "run") as url:
        images = [(name, (run / name).read_bytes()) for name in ("07.png", "03.png")]
        status, body = post_files(f"{url}/predict", images + [("new.csv", rows.encode())])  # rows last
        assert status == 200, body
        assert body["predictions"] == [{**e, "input": e["input"].replace(str(tmp_path) + "/", "")} for e in expected]
        status, body = post_files(f"{url}/predict", [("new.csv", rows.encode()), images[0]])  # 03.png not sent
        assert status == 400 and body["error"] == "new.csv, line 2, column 'photo': image file not found: 03.png"
        status, body = post_files(f"{url}/predict", images)  # images without their rows: how to send both
        assert status == 400 and body["error"] == "07.png: this run was trained on a table; give CSV rows"
        assert "a CSV of rows with the images its rows name" in body["hint"]


def test_a_row_naming_a_server_file_is_refused_unread(run):
    outside = str(run / "03.png")  # a real image on the server's disk
    with serving(run / "run") as url:
        for photo in (outside, "../03.png", "../../../../etc/passwd"):
            status, body = post_json(f"{url}/predict", {"rows": [{"photo": photo, "sqm": 50, "town": "a"}]})
            assert status == 400, body
            assert body["error"] == (f"rows, line 2, column 'photo': the image path '{photo}' leaves the rows' "
                                     "folder; a server reads no file a request names"), body
            assert "send the images with the rows" in body["hint"]
        status, body = request(f"{url}/predict", f"photo,sqm,town\n{outside},50,a\n".encode(), "text/csv")
        assert status == 400 and "leaves the rows' folder" in body["error"] and "dlspec-serve-" not in body["error"]
        status, body = post_files(f"{url}/predict", [("rows.csv", b"photo,sqm,town\n03.png,50,a\n"), ("..", b"x")])
        assert status == 400 and "distinct names not starting with '.'" in body["error"]


def test_metadata_lists_the_columns_rows_name_for_the_page(run):
    """The page builds its form from these: the image column as a file, the number and the category (with its
    levels) as fields; a run of rows by named columns has no 'table' of its own, so they come from its inputs."""
    with serving(run / "run") as url:
        status, meta = request(f"{url}/metadata")
    assert status == 200
    assert [(c["name"], c["kind"], c["levels"]) for c in meta["columns"]] == \
        [("photo", "image", None), ("sqm", "number", None), ("town", "onehot", ["a", "b"])]
