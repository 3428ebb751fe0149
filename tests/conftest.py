import os
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
SPECS = sorted((ROOT / "specs").glob("*.dlspec"))
SHARED_DATA = pathlib.Path(os.environ.get("DLSPEC_SHARED_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture
def write_spec(tmp_path):
    """Write a spec file into a temporary folder and return its path."""
    def write(text, name="spec.dlspec"):
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path
    return write
