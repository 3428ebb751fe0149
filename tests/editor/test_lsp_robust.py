"""The language server under hostile input (dlspec/editor/framing.py, documents.py): a real `python -m dlspec
lsp` subprocess driven over raw stdio, every wait bounded, so a hang fails the test instead of blocking it.

After each input that once silenced it for good (a hover on an unopened /dev/zero, `Content-Length: abc`, a
length shorter than its body, a header without the length, random bytes) it must still answer a hover; and
it must answer within a second while a 5 MB document is being analysed."""
import json
import os
import queue
import random
import subprocess
import sys
import threading
import time

import pytest

pytest.importorskip("pygls")

from dlspec.editor.documents import MAX_UNOPENED_BYTES, NotReadable, read_unopened  # noqa: E402
from dlspec.editor.framing import Framer  # noqa: E402

FIRST_ANSWER_S = 90  # the first check imports torch on a busy machine
ANSWER_S = 20
SMALL = "let width = 16\nmodel M {\n    input vector(4)\n    linear(width) -> relu\n}\n"


def frame(payload: dict) -> bytes:
    body = json.dumps(payload).encode("utf-8")
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


class RawServer:
    """`python -m dlspec lsp` with bytes written as given and every message it sends collected."""

    def __init__(self, cwd):
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
        self.process = subprocess.Popen([sys.executable, "-m", "dlspec", "lsp"], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd, env=env)
        self.messages: queue.Queue = queue.Queue()
        self.stderr = []
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=lambda: self.stderr.extend(self.process.stderr), daemon=True).start()
        self.next_id = 0
        self.logs = []
        self.request("initialize", {"processId": None, "rootUri": None, "capabilities": {}}, FIRST_ANSWER_S)
        self.notify("initialized", {})

    def _read(self):
        out = self.process.stdout
        while True:
            length = None
            for line in iter(out.readline, b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
                elif line == b"\r\n":
                    break
            else:
                return
            self.messages.put(json.loads(out.read(length)))

    def send(self, data: bytes) -> None:
        self.process.stdin.write(data)
        self.process.stdin.flush()

    def notify(self, method: str, params: dict) -> None:
        self.send(frame({"jsonrpc": "2.0", "method": method, "params": params}))

    def request(self, method: str, params: dict, timeout: float = ANSWER_S, payload: bytes = b""):
        """Send `payload` (raw bytes) and then the request; its answer, failing after `timeout` seconds."""
        self.next_id += 1
        self.send(payload + frame({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            try:
                message = self.messages.get(timeout=max(left, 0.001))
            except queue.Empty:
                raise AssertionError(f"no answer to {method} within {timeout} s; stderr: "
                                     f"{b''.join(self.stderr)[-2000:]!r}") from None
            if message.get("method") == "window/logMessage":
                self.logs.append(message["params"]["message"])
            if message.get("id") == self.next_id and "method" not in message:
                assert "error" not in message, message
                return message["result"]

    def open(self, uri: str, text: str) -> None:
        self.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "dlspec", "version": 1,
                                                              "text": text}})

    def hover(self, uri: str, line: int, character: int, timeout: float = ANSWER_S, payload: bytes = b""):
        return self.request("textDocument/hover", {"textDocument": {"uri": uri},
                                                   "position": {"line": line, "character": character}},
                            timeout, payload)

    def close(self):
        try:
            self.request("shutdown", None, ANSWER_S)
            self.notify("exit", None)
            assert self.process.wait(timeout=ANSWER_S) == 0, b"".join(self.stderr)[-2000:]  # no abort at exit
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lsp")
    (folder / "small.dlspec").write_text(SMALL, encoding="utf-8")
    raw = RawServer(folder)
    raw.uri = (folder / "small.dlspec").as_uri()
    raw.open(raw.uri, SMALL)
    assert "linear" in raw.hover(raw.uri, 3, 6, FIRST_ANSWER_S)["contents"]["value"]
    yield raw
    raw.close()


def _answers_a_hover(server, payload: bytes = b"") -> None:
    shown = server.hover(server.uri, 3, 6, payload=payload)
    assert "**[F=16]**" in shown["contents"]["value"]  # the full analysis: linear(width) makes 16 features


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
@pytest.mark.parametrize("method", ["textDocument/hover", "textDocument/completion", "textDocument/definition"])
def test_a_request_on_an_unopened_device_is_refused_and_the_server_goes_on(server, method):
    result = server.request(method, {"textDocument": {"uri": "file:///dev/zero"},
                                     "position": {"line": 0, "character": 0}})
    assert result in (None, [])
    assert any("/dev/zero is not a regular file" in log for log in server.logs), server.logs
    _answers_a_hover(server)


MALFORMED = {
    "content_length_abc": b'Content-Length: abc\r\n\r\n{"jsonrpc": "2.0", "method": "x"}',
    "short_length": b"Content-Length: 10\r\n\r\n" + json.dumps({"jsonrpc": "2.0", "id": 999, "method": "x"}).encode(),
    "header_without_length": b"Content-Type: application/vscode-jsonrpc\r\n\r\n{\"jsonrpc\": \"2.0\"}",
    "random_bytes": random.Random(21).randbytes(5000),
    "length_past_the_body": b"Content-Length: 400\r\n\r\n{\"jsonrpc\": \"2.0\"}",
    "json_that_is_no_message": frame([1, 2, 3]) + frame({"jsonrpc": "2.0", "id": "x"}),
}


@pytest.mark.parametrize("name", MALFORMED)
def test_malformed_framing_is_skipped_and_the_next_hover_answered(server, name):
    before = len(server.logs)
    _answers_a_hover(server, payload=MALFORMED[name])
    _answers_a_hover(server)  # and it stays in step
    assert len(server.logs) > before and all(log.startswith("dlspec: ") for log in server.logs[before:])


BIG = {"5mb": ("    linear(8) -> relu  # " + "x" * 60 + "\n", 5_000_000 // 86), "10000_layers": ("    linear(8)\n", 10_000)}


@pytest.mark.parametrize("name", BIG)
def test_hover_and_completion_are_answered_within_a_second_while_a_large_document_is_analysed(server, tmp_path, name):
    line, count = BIG[name]
    big = "let width = 8\nmodel Big {\n    input vector(8)\n" + line * count + "}\n"
    uri = (tmp_path / "big.dlspec").as_uri()
    server.open(uri, big)
    time.sleep(0.5)  # the analysis has begun
    for ask in (lambda: server.hover(uri, 3, 6, ANSWER_S),
                lambda: server.request("textDocument/completion", {"textDocument": {"uri": uri},
                                                                   "position": {"line": 3, "character": 4}}),
                lambda: server.hover(server.uri, 3, 6)):
        start = time.monotonic()
        answer = ask()
        assert time.monotonic() - start < 1.0
        assert answer
    assert "Fully connected" in server.hover(uri, 3, 6)["contents"]["value"]  # what linear is, before the check ends
    completions = server.request("textDocument/completion", {"textDocument": {"uri": uri},
                                                             "position": {"line": 3, "character": 4}})
    labels = {item["label"] for item in (completions["items"] if isinstance(completions, dict) else completions)}
    assert {"linear", "conv", "repeat"} <= labels
    server.notify("textDocument/didClose", {"textDocument": {"uri": uri}})


@pytest.mark.parametrize("params", [{"textDocument": {"uri": 5}, "position": {"line": "a", "character": 0}},
                                    {"position": None}, "text", None])
def test_a_request_whose_params_cannot_be_read_gets_an_error_answer(server, params):
    server.next_id += 1
    server.send(frame({"jsonrpc": "2.0", "id": server.next_id, "method": "textDocument/hover", "params": params}))
    deadline = time.monotonic() + ANSWER_S
    while True:
        message = server.messages.get(timeout=max(deadline - time.monotonic(), 0.001))
        if message.get("id") == server.next_id:
            break
    assert message["error"]["code"] in (-32602, -32603), message
    _answers_a_hover(server)


def _hostile(rng: random.Random, uri: str) -> bytes:
    """One hostile input: random bytes, a cut message, a wrong or huge length, JSON that is no message, deep
    nesting, a misspelt header, or a well-framed request with nonsense parameters."""
    params = rng.choice([None, {}, [], 5, "x", {"textDocument": {"uri": rng.choice([uri, "file:///dev/zero", "untitled:1",
                                                                                    "file:///no/such.dlspec", 5])},
                                                "position": {"line": rng.choice([0, -1, 10 ** 12, "a"]),
                                                             "character": rng.choice([0, -5, 10 ** 9])}}])
    request = frame({"jsonrpc": "2.0", "id": f"h{rng.randrange(10 ** 6)}", "params": params,
                     "method": rng.choice(["textDocument/hover", "textDocument/completion", "textDocument/definition",
                                           "textDocument/didChange", "$/cancelRequest", "no/such/method"])})
    nested = b"[" * 50_000 + b"]" * 50_000
    return rng.choice([
        rng.randbytes(rng.randrange(1, 3000)),
        request[:rng.randrange(len(request))],
        b"Content-Length: %d\r\n\r\n" % rng.randrange(100) + rng.randbytes(rng.randrange(100)),
        frame(rng.choice([[], 1, "s", None, {"jsonrpc": "1.0"}, {"jsonrpc": "2.0", "id": None, "method": "x"}])),
        b"Content-Length: 99999999999\r\n\r\n{}",
        b"Content-Length: %d\r\n\r\n" % len(nested) + nested,
        request,
        request.replace(b"Content-Length", b"Content-Lenght"),
        b"\r\n" * rng.randrange(5) + b"Content-Length: 7\r\nNo header line\r\n\r\n{\"a\":1}",
    ])


def test_a_hover_is_answered_after_each_of_many_hostile_inputs(server):
    rng = random.Random(161)
    for _ in range(161):
        _answers_a_hover(server, payload=_hostile(rng, server.uri))


def test_the_end_of_the_input_ends_the_server(tmp_path):
    raw = RawServer(tmp_path)
    raw.send(b"Content-Length: 5\r\n\r\n{\"a\"")  # cut short, then closed
    raw.process.stdin.close()
    assert raw.process.wait(timeout=ANSWER_S + 10) == 0


# ---- in process: the framer and the reading of unopened files ----


def _framed(data: bytes, chunk: int) -> tuple:
    problems = []
    framer = Framer(problems.append)
    messages = []
    for i in range(0, len(data), chunk):
        messages += framer.feed(data[i:i + chunk])
    return messages, problems, framer


@pytest.mark.parametrize("chunk", [1, 7, 4096])
@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_the_framer_finds_the_message_after_each_malformed_input_in_any_chunking(name, chunk):
    good = {"jsonrpc": "2.0", "id": 1, "method": "textDocument/hover", "params": {"ü": "→"}}
    messages, problems, framer = _framed(frame(good) + MALFORMED[name] + frame(good) + frame(good), chunk)
    if name == "length_past_the_body":  # its length swallows the next messages until it is given up
        assert framer.waiting and messages == [good]
        messages += framer.give_up()
        assert any("stopped arriving" in p for p in problems)
    expected = [good] * 3
    if name == "json_that_is_no_message":
        expected = [good, [1, 2, 3], {"jsonrpc": "2.0", "id": "x"}, good, good]  # JSON: the server drops them
    assert messages == expected
    assert not framer.waiting
    if name != "json_that_is_no_message":
        assert len(problems) >= 1


def test_the_framer_recovers_every_good_message_around_random_framing_debris():
    good = {"jsonrpc": "2.0", "id": 1, "method": "m", "params": {"text": "Content-Length: 3\r\n\r\n"}}
    tokens = [b"Content-Length:", b"content-length: 7", b" 12", b"\r\n", b"\r\n\r\n", b"abc", b"{", b"}", b'"',
              frame(good)[:30], b"\xff\xfe"]
    for seed in range(40):
        rng = random.Random(seed)
        debris = b"".join(rng.choice(tokens + [rng.randbytes(rng.randrange(1, 40))]) for _ in range(rng.randrange(1, 30)))
        data = frame(good) + debris + frame(good) + frame(good)
        problems = []
        framer = Framer(problems.append)
        messages, at = [], 0
        while at < len(data):
            step = rng.randrange(1, 200)
            messages += framer.feed(data[at:at + step])
            at += step
        if framer.waiting:  # a length in the debris reached past the end: given up after STALL_S
            messages += framer.give_up()
        assert messages[0] == good and messages[-2:] == [good, good] and messages.count(good) == 3, (seed, debris)


def test_the_framer_reports_each_problem_once_and_says_what_it_was():
    problems = []
    framer = Framer(problems.append)
    assert framer.feed(b"Content-Length: abc\r\n\r\n{}" + frame({"a": 1})) == [{"a": 1}]
    assert problems == ["malformed header b'Content-Length: abc' (expected 'Content-Length: <bytes>' and "
                        "'Name: value' lines); skipped to the next message"]
    assert framer.feed(b"Content-Length: 3\r\n\r\n{\"a" + frame({"b": 2})) == [{"b": 2}]
    assert problems[1].startswith("a message of 3 bytes is not JSON (")
    assert framer.feed(b"Content-Type: text/plain\r\n" + frame({"c": 3})) == [{"c": 3}]  # other headers are fine
    assert len(problems) == 2


def test_unopened_documents_are_read_only_when_regular_and_under_the_cap(tmp_path):
    spec = tmp_path / "a.dlspec"
    spec.write_text(SMALL, encoding="utf-8")
    assert read_unopened(str(spec)) == SMALL
    big = tmp_path / "big.dlspec"
    big.write_bytes(b"#" * (MAX_UNOPENED_BYTES + 1))
    with pytest.raises(NotReadable, match=f"over the {MAX_UNOPENED_BYTES:,} bytes read for a document"):
        read_unopened(str(big))
    with pytest.raises(NotReadable, match="is not a regular file"):
        read_unopened(str(tmp_path))
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "pipe")  # opening a FIFO for reading would wait for a writer for ever
        with pytest.raises(NotReadable, match="pipe is not a regular file"):
            read_unopened(str(tmp_path / "pipe"))
    with pytest.raises(NotReadable, match="cannot read .*missing"):
        read_unopened(str(tmp_path / "missing.dlspec"))


# ---- in process: the analysis worker (documents.py), with a stand-in analysis that waits when told ----


class _Checks:
    """Documents whose analyses are recorded, and held while `hold` is clear for texts starting with 'hold'."""

    def __init__(self):
        from dlspec.diagnostics import Diagnosis
        from dlspec.editor.analysis import Analysis
        from dlspec.editor.documents import Documents
        self.analysed, self.published = [], []
        self.hold = threading.Event()

        def analyse(path, text):
            self.analysed.append(text)
            if text.startswith("hold"):
                assert self.hold.wait(ANSWER_S)
            if text == "broken":
                raise RuntimeError("a bug in a check")
            return Analysis(path, text, diagnosis=Diagnosis(path, text))
        self.documents = Documents(analyse, lambda uri, version, analysis, failure:
                                   self.published.append((uri, version, analysis.text, repr(failure))))

    def until(self, condition) -> None:
        deadline = time.monotonic() + ANSWER_S
        while not condition():
            assert time.monotonic() < deadline, (self.analysed, self.published)
            time.sleep(0.01)


def test_versions_superseded_before_or_during_their_analysis_are_dropped():
    checks = _Checks()
    checks.documents.update("u", "a.dlspec", "hold 1", 1)
    checks.until(lambda: checks.analysed == ["hold 1"])
    checks.documents.update("u", "a.dlspec", "hold 2", 2)  # never analysed: superseded before it started
    checks.documents.update("u", "a.dlspec", "three", 3)
    checks.hold.set()
    assert checks.documents.analysis("u").text == "three"  # a quick document: the request waits for its check
    checks.until(lambda: checks.published)
    assert checks.analysed == ["hold 1", "three"]
    assert checks.published == [("u", 3, "three", "None")]  # the result for 'hold 1' was thrown away


def test_while_a_large_document_is_analysed_requests_are_answered_at_once_and_small_ones_go_first():
    from dlspec.editor.documents import QUICK_BYTES
    checks = _Checks()
    large = "hold" + "#" * QUICK_BYTES
    checks.documents.update("large", "l.dlspec", large, 1)
    checks.until(lambda: checks.analysed == [large])
    checks.documents.update("larger", "l2.dlspec", "#" * (2 * QUICK_BYTES), 1)
    checks.documents.update("small", "s.dlspec", "small", 1)
    for uri, text in (("large", large), ("small", "small")):
        start = time.monotonic()
        provisional = checks.documents.analysis(uri)
        assert time.monotonic() - start < 0.5 and provisional.text == text and provisional.diagnosis.plans == {}
    checks.hold.set()
    checks.until(lambda: len(checks.published) == 3)
    assert [text[:5] for text in checks.analysed] == ["hold#", "small", "#####"]  # the smallest first


def test_an_analysis_that_fails_is_reported_and_the_worker_goes_on():
    checks = _Checks()
    checks.documents.update("u", "a.dlspec", "broken", 1)
    checks.until(lambda: checks.published)
    assert checks.published == [("u", 1, "broken", "RuntimeError('a bug in a check')")]
    checks.documents.update("u", "a.dlspec", "fine", 2)
    checks.until(lambda: len(checks.published) == 2)
    assert checks.published[1] == ("u", 2, "fine", "None")
    checks.documents.forget("u")
    assert checks.documents.analysis("u") is None


def test_a_save_during_the_analysis_of_the_same_text_is_checked_again():
    checks = _Checks()
    checks.documents.update("u", "a.dlspec", "hold", 1)
    checks.until(lambda: checks.analysed == ["hold"])
    checks.documents.recheck("u")  # saved: an included file may have changed after the check read it
    checks.hold.set()
    checks.until(lambda: len(checks.published) == 1)
    assert checks.analysed == ["hold", "hold"]
