"""What every test may use: the repository's paths (ROOT, SPECS, SHARED_DATA and the `needs_shared` mark
for tests on the real data sets beside a checkout), specs with known mistakes for the several-errors tests,
the `write_spec` fixture and `load_shipped`. It also makes the example plugin package
(examples/custom_layer_plugin) importable and imports it, so registry-derived tests meet a real plugin
layer beside the built-ins. Test modules import the constants as `from tests.conftest import ROOT`."""
import os
import sys
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
SPECS = sorted((ROOT / "specs").glob("*.dlspec"))

# Three unrelated mistakes in three models (a syntax error, a misspelt layer, a conv on a vector), for the
# tests that want every error of a spec at once (test_multi_errors, test_lsp).
THREE_MISTAKES = """\
model A {
    input image(3, 8, 8)
    conv(8, 3 -> relu
    flatten -> linear(10)
}
model B {
    input image(1, 8, 8)
    conv(4, 3) -> relu -> lienar(3)
}
model C {
    input vector(10)
    conv(4, 3)
}
"""
# A data block with an error and a train block with a misspelt metric: both must be reported (test_multi_errors,
# test_lsp).
DATA_AND_METRIC = """\
model M {
    input image(1, 8, 8)
    flatten -> linear(10)
}
data d {
    source sklearn_digit
    batch 32
}
train {
    model M
    data d
    metrics accuracy, acuracy
    epochs 1
}
"""
EXAMPLE_PLUGIN = ROOT / "examples" / "custom_layer_plugin"
# The example plugin package is importable as if installed, so the registry
# tests below exercise a real plugin layer alongside the built-ins.
sys.path.insert(0, str(EXAMPLE_PLUGIN))
import dlspec_example_plugin  # noqa: E402,F401
SHARED_DATA = pathlib.Path(os.environ.get("DLSPEC_SHARED_DATA", ROOT.parent / "shared" / "data"))
# Tests on the real data sets in ../shared/data (beside a checkout in this workplace, absent from a plain
# clone) add coverage; without them they skip and say why.
needs_shared = pytest.mark.skipif(not SHARED_DATA.exists(),
                                  reason=f"needs the real data sets in {SHARED_DATA}, not beside this clone")


@pytest.fixture
def write_spec(tmp_path):
    """Write a spec file into a temporary folder and return its path."""
    def write(text, name="spec.dlspec"):
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path
    return write


def load_shipped(path):
    """Load a shipped spec; pretrained weights (downloads) are swapped for none in generic tests."""
    import dlspec
    spec = dlspec.load(path)
    if "weights" in spec.program.lets:
        spec = dlspec.load(path, {"weights": "none"})
    return spec
