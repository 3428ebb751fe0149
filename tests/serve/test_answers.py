"""dlspec serve answers what dlspec predict answers: a real server on a loopback port, a real HTTP client,
every data kind (images, texts, table rows as JSON and as a CSV body, a series), compared with the Python
API's predict on the same inputs; and /health, /metadata, the OpenAPI schema and the page."""
import csv

import pytest

import dlspec
from tests.helpers.predict_runs import make_run
from tests.helpers.served import post_files, post_json, request, serving

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("serve")
    return base, {kind: make_run(base, kind) for kind in ("image", "text", "categories", "series")}


def same(served, predicted, names=None):
    """Answers equal to predict's: labels, names and keys exact, numbers to float precision (a served
    batch may hold other requests' samples); `names` replaces predict's input names (file paths)."""
    assert len(served) == len(predicted)
    for i, (s, p) in enumerate(zip(served, predicted)):
        close(s, {**p, "input": names[i]} if names else p)


def close(a, b):
    if isinstance(b, dict):
        assert isinstance(a, dict) and set(a) == set(b), (a, b)
        for key in b:
            close(a[key], b[key])
    elif isinstance(b, list):
        assert isinstance(a, list) and len(a) == len(b), (a, b)
        for x, y in zip(a, b):
            close(x, y)
    elif isinstance(b, float):
        assert a == pytest.approx(b, rel=1e-5, abs=1e-6)
    else:
        assert a == b


def test_images_answer_as_predict(runs):
    base, made = runs
    files = sorted((base / "images").rglob("*.png"))[::3]
    with serving(made["image"]) as url:
        status, body = post_files(f"{url}/predict?top=2", [(f.name, f.read_bytes()) for f in files])
        assert status == 200, body
        same(body["predictions"], dlspec.predict(str(made["image"]), [str(f) for f in files], top=2),
             [f.name for f in files])
        status, one = request(f"{url}/predict", files[0].read_bytes(), "image/png")  # a raw image body
        assert status == 200 and one["predictions"][0]["label"] == body["predictions"][0]["label"]


def test_texts_answer_as_predict(runs):
    _, made = runs
    texts = ["good film", "awful plot not very good", "a word the vocabulary never had"]
    with serving(made["text"]) as url:
        status, body = post_json(f"{url}/predict?top=2", {"texts": texts})
        assert status == 200, body
        same(body["predictions"], dlspec.predict(str(made["text"]), texts, top=2))
        status, one = post_json(f"{url}/predict", {"text": texts[0]})
        same(one["predictions"], dlspec.predict(str(made["text"]), texts[:1]))


def test_table_rows_as_json_and_as_csv_answer_as_predict(runs, tmp_path):
    base, made = runs
    rows = list(csv.DictReader(open(base / "houses.csv")))[:12]
    for row in rows:
        del row["price"]
    rows[3]["city"] = "lille"  # a level training never saw: predict's warning comes back as a note
    path = tmp_path / "rows.csv"
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    with pytest.warns(UserWarning, match="lille"):
        expected = dlspec.predict(str(made["categories"]), [str(path)])
    with serving(made["categories"]) as url:
        status, body = post_json(f"{url}/predict", {"rows": rows})
        assert status == 200, body
        same(body["predictions"], expected, [f"row {i + 1}" for i in range(len(rows))])
        assert "lille" in body["notes"][0]
        status, body = request(f"{url}/predict", path.read_bytes(), "text/csv")
        assert status == 200, body
        same(body["predictions"], expected, [f"body.csv:{i + 2}" for i in range(len(rows))])
        numbers = {k: (float(v) if k != "city" and v else v) for k, v in rows[0].items()}  # JSON numbers
        status, body = post_json(f"{url}/predict", {"row": numbers})
        same(body["predictions"], expected[:1], ["row 1"])


def test_a_series_forecast_answers_as_predict(runs, tmp_path):
    _, made = runs
    with serving(made["series"]) as url:
        status, body = post_json(f"{url}/predict?steps=4", {})
        assert status == 200, body
        same(body["predictions"], dlspec.predict(str(made["series"]), [], steps=4))
        values = [0.1 * i for i in range(14)]
        path = tmp_path / "recent.csv"
        path.write_text("value\n" + "".join(f"{v}\n" for v in values))
        expected = dlspec.predict(str(made["series"]), [str(path)], steps=3)
        status, body = post_json(f"{url}/predict?steps=3", {"values": values})
        same(body["predictions"], expected)
        status, body = request(f"{url}/predict?steps=3", path.read_bytes(), "text/csv")
        same(body["predictions"], expected)


def test_health_metadata_schema_and_page(runs):
    _, made = runs
    with serving(made["categories"]) as url:
        status, health = request(f"{url}/health")
        assert status == 200 and health["status"] == "ok" and health["kind"] == "table"
        status, meta = request(f"{url}/metadata")
        assert meta["kind"] == "table" and meta["task"] == "regression"
        assert [c["name"] for c in meta["columns"]] == ["size", "city", "rooms"]
        city = next(c for c in meta["columns"] if c["name"] == "city")
        assert set(city["levels"]) == {"paris", "lyon", "nice"}
        assert "model Net" in meta["spec"] and "Layer" in meta["summary"]
        assert isinstance(meta["results"]["test"]["loss"], float) and meta["curves"] is True
        status, png = request(f"{url}/curves.png")
        assert status == 200 and png.startswith(b"\x89PNG")
        status, schema = request(f"{url}/openapi.json")
        assert {"/predict", "/metadata", "/health"} <= set(schema["paths"])
        assert "multipart/form-data" in schema["paths"]["/predict"]["post"]["requestBody"]["content"]
        status, page = request(f"{url}/")
        assert status == 200 and b"<script src=\"/page.js\"" in page and b"http" not in page.replace(b"http-equiv", b"")
        status, script = request(f"{url}/page.js")
        assert status == 200 and b"/predict" in script


def test_concurrent_requests_share_batches_and_each_gets_its_own_answers(runs):
    import concurrent.futures
    _, made = runs
    texts = [f"good film {'very ' * i}plot" for i in range(24)]
    expected = dlspec.predict(str(made["text"]), texts)
    with serving(made["text"], wait_ms=50, max_batch=16) as url:
        with concurrent.futures.ThreadPoolExecutor(12) as pool:
            answers = list(pool.map(lambda t: post_json(f"{url}/predict", {"text": t}), texts))
    assert all(status == 200 for status, _ in answers)
    same([body["predictions"][0] for _, body in answers], expected)


def test_an_image_of_another_size_is_answered_with_a_note_saying_it_was_resized(tmp_path):
    """predict warns when it resizes an image to the model's input; serve returns that warning as a note,
    once per size, beside the same answers."""
    import io
    from PIL import Image
    from dlspec.runtime.preprocess import Resized
    (tmp_path / "d.dlspec").write_text("model M { input image(1, 8, 8); flatten -> linear(10) }\n"
                                       "data d { source sklearn_digits; split train=0.9 val=0.1; batch 64 }\n"
                                       "train { model M; data d; epochs 1 }\n")
    run = str(tmp_path / "run")
    dlspec.fit(str(tmp_path / "d.dlspec"), out=run, log=lambda *a: None, progress=False)
    files = []
    for name, size in (("a.png", (30, 40)), ("b.png", (30, 40)), ("c.png", (8, 8))):
        Image.new("L", size, 90).save(tmp_path / name)
        files.append((name, (tmp_path / name).read_bytes()))
    with pytest.warns(Resized):
        expected = dlspec.predict(run, [str(tmp_path / n) for n, _ in files])
    with serving(run) as url:
        status, body = post_files(f"{url}/predict", files)
        assert status == 200, body
        same(body["predictions"], expected, [n for n, _ in files])
        assert body["notes"] == ["images of shape [1, 40, 30] (channels, height, width, after the run's transform "
                                 "steps) are resized to the model's input [1, 8, 8]"]
        status, body = post_files(f"{url}/predict", files[2:])
        assert status == 200 and "notes" not in body
