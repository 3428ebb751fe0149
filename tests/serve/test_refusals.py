"""What a server refuses, and how: malformed bodies, wrong columns, a decompression-bomb image, an
oversized request, bad query values: each a 4xx with the one-line message the CLI gives (never a 500
or a traceback); a crafted run directory is refused without trust, and the CLI says so before a port
is bound; a missing `serve` extra is one line naming it."""
import json
import shutil
import struct
import zlib

import pytest
import torch
from click.testing import CliRunner

import dlspec
from dlspec.cli import main
from dlspec.errors import DataError
from dlspec.train.checkpoint import load_checkpoint
from dlspec.train.trust import UntrustedRunError
from tests.helpers.predict_runs import make_run
from tests.helpers.served import post_files, post_json, request, serving, serving_app

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("refusals")
    return base, {kind: make_run(base, kind) for kind in ("image", "table", "text", "series")}


def refused(answer, status, *words):
    code, body = answer
    assert code == status, body
    assert set(body) == {"error", "hint"} and "Traceback" not in body["error"] and "\n" not in body["error"]
    for word in words:
        assert word in body["error"] + body["hint"], body
    return body


def bomb_png(width=30_000, height=30_000) -> bytes:
    """A PNG whose header declares width x height grey pixels, in a few hundred bytes (its data is a
    compressed run of zeros cut short: nothing past the header is ever decoded)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 10_000)) + \
        chunk(b"IEND", b"")


def test_wrong_table_columns_and_cells_say_what_predict_says(runs, tmp_path):
    base, made = runs
    path = tmp_path / "rows.csv"
    path.write_text("size,city\n80,paris\n")
    with pytest.raises(DataError) as cli:
        dlspec.predict(str(made["table"]), [str(path)])
    with serving(made["table"]) as url:
        body = refused(request(f"{url}/predict", path.read_bytes(), "text/csv"), 400, "no column rooms")
        assert body["error"] == cli.value.message.replace(str(path), "body.csv") and body["hint"] == cli.value.hint
        refused(post_json(f"{url}/predict", {"rows": [{"size": 80, "town": "paris"}]}), 400,
                "rows has no column", "city", "rooms")
        refused(post_json(f"{url}/predict", {"rows": [{"size": "big", "city": "paris", "rooms": 3}]}), 400,
                "column 'size'", "'big' is not a number")
        refused(post_json(f"{url}/predict", {"rows": [{"size": [1], "city": "paris", "rooms": 3}]}), 400,
                "column 'size'", "received list")
        refused(post_json(f"{url}/predict", {"rows": ["not an object"]}), 400, "JSON objects by column name")
        refused(post_json(f"{url}/predict", {"colums": []}), 400, "none of the keys", "colums")
        refused(post_json(f"{url}/predict", []), 400, "holds no input")
        refused(request(f"{url}/predict", b"{\"rows\": [", "application/json"), 400, "not valid JSON")
        refused(request(f"{url}/predict", b"\xff\xfe\x00garbage", "text/csv"), 400, "UTF-8")
        refused(request(f"{url}/predict", b"size", "application/x-thing"), 400, "cannot read a body of type",
                "application/x-thing")
        refused(post_json(f"{url}/predict?top=lots", {"rows": []}), 400, "top must be a whole number")
        refused(post_json(f"{url}/predict?top=0", {"rows": []}), 400, "top must be between 1 and")


def test_malformed_images_and_uploads(runs):
    base, made = runs
    with serving(made["image"]) as url:
        refused(post_files(f"{url}/predict", [("photo.png", b"not an image at all")]), 400,
                "cannot read image photo.png")
        refused(request(f"{url}/predict", b"--nope\r\nbroken", "multipart/form-data; boundary=nope"), 400)
        refused(request(f"{url}/predict", b"--b--\r\n", "multipart/form-data; boundary=b"), 400, "at least one file")
        refused(post_json(f"{url}/predict", {"text": "an image run"}), 400, "reads image inputs, not texts",
                "multipart/form-data")
        files = [(f"{i}.png", b"x") for i in range(80)]
        refused(post_files(f"{url}/predict", files), 400, "multipart body cannot be read")


def test_a_decompression_bomb_is_refused_unread(runs, tmp_path):
    _, made = runs
    bomb = bomb_png()
    assert len(bomb) < 1000
    path = tmp_path / "bomb.png"
    path.write_bytes(bomb)
    with pytest.raises(DataError, match="900,000,000 pixels, more than the cap of 50,000,000"):
        dlspec.predict(str(made["image"]), [str(path)])
    with serving(made["image"]) as url:
        refused(post_files(f"{url}/predict", [("bomb.png", bomb)]), 413,
                "bomb.png declares 30,000 x 30,000 = 900,000,000 pixels, more than the cap of 50,000,000")
    with serving(made["image"], max_pixels=100) as url:  # --max-pixels lowers the cap
        refused(post_files(f"{url}/predict", [("b.png", bomb_png(11, 10))]), 413, "110 pixels", "cap of 100")


def test_an_oversized_request_is_refused(runs):
    _, made = runs
    with serving(made["text"], max_body=1000) as url:
        refused(post_json(f"{url}/predict", {"text": "good film " * 200}), 413, "larger than the cap of 1,000 bytes",
                "--max-body")
        # a chunked body (no Content-Length) is counted as it arrives
        chunks = iter([b'{"text": "' + b"good " * 300, b'"}'])
        import http.client
        host, port = url.split("//")[1].split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
        connection.request("POST", "/predict", body=chunks, headers={"Content-Type": "application/json"},
                           encode_chunked=True)
        response = connection.getresponse()
        assert response.status == 413 and "larger than the cap" in json.loads(response.read())["error"]
        assert post_json(f"{url}/predict", {"text": "good film"})[0] == 200  # the server is still up


def test_wrong_kinds_and_series_values(runs):
    _, made = runs
    with serving(made["text"]) as url:
        refused(post_json(f"{url}/predict", {"texts": ["fine", 3]}), 400, "a text or a list of texts")
        refused(post_json(f"{url}/predict", {"rows": [{"a": 1}]}), 400, "reads texts, not table rows")
    with serving(made["series"]) as url:
        status, body = post_json(f"{url}/predict", {"values": [1.0, 2.0]})
        refused((status, body), 400, "at least 10 values to forecast from; got 2")
        refused(post_json(f"{url}/predict", {"values": [1.0, "two"] + [0.0] * 10}), 400, "values[1]", "not a number")
        refused(post_json(f"{url}/predict", {"values": [1.0, True] + [0.0] * 10}), 400, "values[1]")
        refused(post_json(f"{url}/predict?steps=100000", {}), 400, "steps must be between 1 and 1000")
        refused(request(f"{url}/predict", b"value\n1\nx\n", "text/csv"), 400, "body.csv, line 3", "'x' is not a number")


def crafted(run_dir, tmp_path):
    copy = tmp_path / "crafted"
    shutil.copytree(run_dir, copy)
    for name in ("best.ckpt", "last.ckpt"):
        state = load_checkpoint(str(copy / name))
        state["spec_text"] = 'use "evil.py"\n' + state["spec_text"]
        torch.save(state, copy / name)
    return copy


def test_a_crafted_run_is_refused_without_trust(runs, tmp_path):
    _, made = runs
    copy = crafted(made["table"], tmp_path)
    with pytest.raises(UntrustedRunError, match='use "evil.py"'):
        dlspec.api.serve_app(str(copy))
    result = CliRunner().invoke(main, ["serve", str(copy), "--port", "0"])
    assert result.exit_code == 1 and "would run Python code" in result.output and "--trust" in result.output
    assert "serving" not in result.output and "Traceback" not in result.output


def test_serve_options_and_a_missing_extra(runs, monkeypatch):
    _, made = runs
    with pytest.raises(dlspec.errors.DlspecError, match="max_batch must be a positive whole number, received 0"):
        dlspec.api.serve_app(str(made["text"]), max_batch=0)
    with pytest.raises(dlspec.errors.DlspecError, match="serve has no option batch_size"):
        dlspec.api.serve_app(str(made["text"]), batch_size=4)
    import sys
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # as if the extra were not installed
    result = CliRunner().invoke(main, ["serve", str(made["text"])])
    assert result.exit_code == 1 and result.output.strip().endswith("pip install 'dlspec[serve]'")
    assert len(result.output.strip().splitlines()) == 1


ODD_BODIES = [b"null", b"3", b"\"text\"", b"[[1, 2]]", b"[null]", b"{\"text\": null}", b"{\"texts\": []}",
              b"{\"texts\": \"one\"}", b"{\"rows\": [{}]}", b"{\"rows\": {}}", b"{\"row\": []}", b"{\"row\": {}}",
              b"{\"values\": \"abc\"}", b"{\"values\": [1e999]}", b"{\"values\": [" + b"9" * 400 + b"]}",
              b"{\"values\": []}", b"[" * 100_000, b"{\"rows\": [{\"size\": 1e999, \"city\": 1, \"rooms\": 2}]}",
              b"{\"rows\": [{\"size\": {\"a\": 1}}]}", b"\xff\xfe"]


def test_no_json_body_is_answered_with_a_500(runs):
    """Odd JSON bodies (and CSV bodies of the same bytes) to every kind of run: a 200 or a 4xx with a
    message, never a server error."""
    _, made = runs
    for kind, run in made.items():
        with serving(run) as url:
            for body in ODD_BODIES:
                for content_type in ("application/json", "text/csv"):
                    status, answer = request(f"{url}/predict", body, content_type)
                    assert status < 500, (kind, body[:60], content_type, answer)
                    if status != 200:
                        assert answer["error"] and "\n" not in answer["error"], (kind, body[:60], answer)


def test_the_cli_verb_passes_its_options_to_the_server(runs, monkeypatch):
    """`dlspec serve` holds no logic: its flags reach the app uvicorn is given."""
    import uvicorn
    _, made = runs
    started = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: started.update(app=app, **kw))
    result = CliRunner().invoke(main, ["serve", str(made["text"]), "--port", "8123", "--host", "127.0.0.2",
                                       "--max-batch", "4", "--wait-ms", "2.5", "--max-body", "5000",
                                       "--checkpoint", "last"])
    assert result.exit_code == 0, result.output
    assert f"serving {made['text']} on http://127.0.0.2:8123/" in result.output
    assert started["port"] == 8123 and started["host"] == "127.0.0.2"
    options = started["app"].state.options
    assert (options.max_batch, options.wait_ms, options.max_body) == (4, 2.5, 5000)
    assert started["app"].state.served.run.checkpoint == "last"
    result = CliRunner().invoke(main, ["serve", str(made["text"]), "--max-batch", "0"])
    assert result.exit_code == 2 and "--max-batch" in result.output


def test_a_bug_is_a_500_that_names_it_without_a_traceback(runs):
    _, made = runs
    app = dlspec.api.serve_app(str(made["text"]))

    def broken(names, samples, top):
        raise RuntimeError("a bug in the model call")
    app.state.batcher.answer = broken
    with serving_app(app) as url:
        status, body = post_json(f"{url}/predict", {"text": "good"})
    assert status == 500 and body["error"] == "internal error: RuntimeError: a bug in the model call"
    assert "Traceback" not in json.dumps(body)


def test_json_keys_predict_does_not_read_are_refused_not_ignored(runs):
    """A misspelt or extra key, or two inputs at once, would otherwise be dropped silently and the answer
    would be for other inputs than the client meant; a series' steps may be given in the body."""
    _, made = runs
    with serving(made["text"]) as url:
        refused(post_json(f"{url}/predict", {"txt": "good"}), 400, "(received: txt)", "Did you mean 'text'")
        refused(post_json(f"{url}/predict", {"text": "good", "lang": "en"}), 400, "key 'lang'", "text, texts, rows, row")
        refused(post_json(f"{url}/predict", {"text": "good", "texts": ["bad"]}), 400, "both keys text and texts")
        refused(post_json(f"{url}/predict", {"text": "good", "top": 2}), 400, "key 'top'", "?top=K")
    with serving(made["table"]) as url:
        refused(post_json(f"{url}/predict", {"rows": [{"size": 1}], "row": {"size": 2}}), 400, "both keys rows and row")
    with serving(made["series"]) as url:
        refused(post_json(f"{url}/predict", {"vales": [1.0] * 12}), 400, "key 'vales'", "Did you mean 'values'?")
        refused(post_json(f"{url}/predict", {"text": "x"}), 400, "key 'text'", "values, steps")
        status, three = post_json(f"{url}/predict", {"steps": 3})
        assert status == 200 and [a["input"] for a in three["predictions"]] == ["t+1", "t+2", "t+3"]
        assert post_json(f"{url}/predict?steps=3", {"steps": 3}) == (status, three)
        refused(post_json(f"{url}/predict?steps=4", {"steps": 3}), 400, "3 in the body but 4 in the query")
        refused(post_json(f"{url}/predict", {"steps": 2.5}), 400, "steps must be a whole number", "2.5")


def test_a_lone_surrogate_and_unknown_routes_are_refused_in_the_same_shape(runs):
    """JSON can escape half a UTF-16 pair, which no answer or CSV can hold: a 400, not a 500 while the
    answer is written; a wrong route or method is {"error", "hint"} naming the routes, as every refusal is."""
    _, made = runs
    with serving(made["text"]) as url:
        refused(request(f"{url}/predict", b'{"text": "a \\ud800 b"}', "application/json"), 400, "lone surrogate")
        refused(request(f"{url}/nope"), 404, "GET /nope: Not Found", "POST /predict")
        refused(request(f"{url}/predict"), 405, "GET /predict: Method Not Allowed", "GET /metadata")
    with serving(made["table"]) as url:
        refused(request(f"{url}/predict", b'{"rows": [{"size": 1, "city": "\\udc00", "rooms": 2}]}',
                        "application/json"), 400, "lone surrogate")


def test_a_port_in_use_is_one_line_before_anything_is_served(runs, monkeypatch):
    """Said before "serving ... on" is printed, as the usual error and exit status 1, not uvicorn's log line
    after a promise to serve."""
    import socket
    import uvicorn
    _, made = runs
    started = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: started.append(kw))
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        result = CliRunner().invoke(main, ["serve", str(made["text"]), "--port", str(port)])
    assert result.exit_code == 1 and not started, result.output
    assert f"cannot listen on 127.0.0.1:{port}" in result.output and "--port N" in result.output
    assert "serving" not in result.output and "Traceback" not in result.output
    result = CliRunner().invoke(main, ["serve", str(made["text"]), "--port", str(port)])  # free again
    assert result.exit_code == 0 and started[0]["port"] == port, result.output


def test_files_sent_to_a_text_run_are_refused_with_its_own_usage(runs):
    """A CSV body or an uploaded file for a text run: the advice is the text run's (JSON sentences), not an
    image or table run's ("give image files", "give CSV rows")."""
    _, made = runs
    with serving(made["text"]) as url:
        body = refused(request(f"{url}/predict", b"text\ngood film\n", "text/csv"), 400,
                       "body.csv: this run reads texts, not CSV rows", '{"text": "a sentence"}')
        assert "image" not in body["error"]
        refused(post_files(f"{url}/predict", [("rows.csv", b"text\ngood\n")]), 400, "rows.csv: this run reads texts")
        body = refused(post_files(f"{url}/predict", [("a.png", bomb_png(4, 4))]), 400,
                       "a.png: this run reads text inputs, not image files", '{"text": "a sentence"}')
        assert "table" not in body["error"]


def test_a_row_with_no_columns_says_so(runs):
    _, made = runs
    with serving(made["table"]) as url:
        for payload in ({"row": {}}, {"rows": [{}, {}]}):
            refused(post_json(f"{url}/predict", payload), 400, "the rows name no columns", '{"rows": [{column')
