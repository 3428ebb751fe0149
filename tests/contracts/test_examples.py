"""The examples/ run as written."""
import runpy
import sys

from tests.conftest import ROOT


def test_quickstart_runs(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["quickstart.py", "--epochs", "2"])
    runpy.run_path(str(ROOT / "examples" / "quickstart.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "models: ['DigitsCNN']" in out and "predict:" in out and "exported:" in out and "model.py" in out
