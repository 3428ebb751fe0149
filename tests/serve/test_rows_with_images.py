"""A served run whose rows name image files (a csv source with an image input): the images come with the
rows in one multipart request, named by file name, and the answers are `dlspec predict`'s on the same rows
and files; a path that leaves the request (absolute, `..`) is refused, never read from the server's disk,
and no answer or message shows the server's temporary folder."""
import random

import pytest
from PIL import Image

import dlspec
from tests.helpers.served import post_files, post_json, request, serving

pytestmark = pytest.mark.slow

SPEC = """
model M {
    input photo: image(3, 8, 8)
    input facts: vector(auto)
    h = concat(photo -> flatten, facts -> linear(4)) -> linear(8) -> relu
    output price = h -> linear(1)
}
data d { source csv("rows.csv", inputs={photo: "photo", facts: ["sqm"]}, target="price")
         split train=0.5 val=0.25 test=0.25 }
train { model M; data d; loss mse; epochs 1 }
"""


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    base = tmp_path_factory.mktemp("rows_images")
    rng = random.Random(5)
    lines = ["photo,sqm,price"]
    for i in range(24):
        shade = rng.randint(0, 255)
        Image.new("RGB", (8, 8), (shade, 255 - shade, 80)).save(base / f"{i:02d}.png")
        lines.append(f"{i:02d}.png,{rng.randint(20, 120)},{100 + shade}.0")
    (base / "rows.csv").write_text("\n".join(lines) + "\n")
    (base / "m.dlspec").write_text(SPEC)
    dlspec.fit(str(base / "m.dlspec"), out=str(base / "run"), progress=False, log=lambda *a: None)
    return base


def test_rows_and_their_images_in_one_request_answer_as_predict(run, tmp_path):
    rows = "photo,sqm\n03.png,50\n07.png,90\n03.png,70\n"
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


def test_a_row_naming_a_server_file_is_refused_unread(run):
    outside = str(run / "03.png")  # a real image on the server's disk
    with serving(run / "run") as url:
        for photo in (outside, "../03.png", "../../../../etc/passwd"):
            status, body = post_json(f"{url}/predict", {"rows": [{"photo": photo, "sqm": 50}]})
            assert status == 400, body
            assert body["error"] == (f"rows, line 2, column 'photo': the image path '{photo}' leaves the rows' "
                                     "folder; a server reads no file a request names"), body
            assert "send the images with the rows" in body["hint"]
        status, body = request(f"{url}/predict", f"photo,sqm\n{outside},50\n".encode(), "text/csv")
        assert status == 400 and "leaves the rows' folder" in body["error"] and "dlspec-serve-" not in body["error"]
        status, body = post_files(f"{url}/predict", [("rows.csv", b"photo,sqm\n03.png,50\n"), ("..", b"x")])
        assert status == 400 and "distinct names not starting with '.'" in body["error"]
