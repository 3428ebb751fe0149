"""`dlspec serve --workers 2` as a user starts it (a subprocess): each worker process loads the run from
the options its parent passed, and answers what `dlspec predict` answers; Ctrl-C (SIGINT) stops them all."""
import os
import signal
import subprocess
import sys
import time

import pytest

import dlspec
from tests.conftest import ROOT
from tests.helpers.predict_runs import make_run
from tests.helpers.served import free_port, post_json, request

pytestmark = pytest.mark.slow


def test_two_worker_processes_answer_as_predict(tmp_path):
    run = make_run(tmp_path, "text")
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "dlspec", "serve", str(run), "--port", str(port),
                                "--workers", "2"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=tmp_path)
    try:
        url, deadline = f"http://127.0.0.1:{port}", time.monotonic() + 120
        while True:
            assert process.poll() is None, process.stdout.read().decode()
            try:
                if request(f"{url}/health")[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the workers did not start"
            time.sleep(0.5)
        texts = ["good film", "awful plot"]
        status, body = post_json(f"{url}/predict?top=2", {"texts": texts})
        assert status == 200
        expected = dlspec.predict(str(run), texts, top=2)
        assert [a["label"] for a in body["predictions"]] == [a["label"] for a in expected]
        assert [a["probability"] for a in body["predictions"]] == pytest.approx([a["probability"] for a in expected],
                                                                               rel=1e-5)
    finally:
        process.send_signal(signal.SIGINT)
        output = process.communicate(timeout=60)[0].decode()
    assert f"serving {run} on {url}/" in output and "Traceback" not in output
