"""compile --show / --json and dlspec graph show each named input and output with its shape."""
import json

from click.testing import CliRunner

import dlspec
from dlspec.cli import main
from dlspec.views import graph as G

SPEC = """model M {
    input photo: image(3, 8, 8)
    input facts: vector(5)
    p = photo -> conv(4, 3) -> global_avgpool -> flatten
    h = concat(p, facts) -> linear(16)
    output price = h -> linear(1)
    output kind = h -> linear(3)
}
"""


def run(tmp_path, *args):
    path = tmp_path / "m.dlspec"
    path.write_text(SPEC)
    return CliRunner().invoke(main, [args[0], str(path), *args[1:]])


def test_show_names_each_input_and_output_with_its_shape(tmp_path):
    result = run(tmp_path, "compile", "--show")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "Model M: inputs photo [C=3, H=8, W=8], facts [F=5]"
    rows = {line.split()[0]: line.split()[1:] for line in lines if line.split()[:1] in (["price"], ["kind"])}
    assert rows["price"][:2] == ["output", "[F=1]"] and rows["kind"][:2] == ["output", "[F=3]"]


def test_json_lists_inputs_and_outputs_in_declaration_order(tmp_path):
    result = run(tmp_path, "compile", "--json")
    model = json.loads(result.output)["models"][0]
    assert [(i["name"], i["shape"], i["roles"]) for i in model["inputs"]] == \
        [("photo", [3, 8, 8], ["C", "H", "W"]), ("facts", [5], ["F"])]
    assert [(o["name"], o["shape"]) for o in model["outputs"]] == [("price", [1]), ("kind", [3])]


def test_a_single_unnamed_input_model_has_no_inputs_key(tmp_path):
    path = tmp_path / "one.dlspec"
    path.write_text("model M {\n input vector(4)\n linear(2)\n}\n")
    model = json.loads(CliRunner().invoke(main, ["compile", str(path), "--json"]).output)["models"][0]
    assert "inputs" not in model and model["input_shape"] == [4]


def test_the_graph_has_a_box_per_input_and_per_output():
    graph = G.model_graph(dlspec.loads(SPEC, "m.dlspec").plan())
    ends = [(b.kind, b.title, b.shape) for b in graph.boxes if b.kind in ("input", "output")]
    assert [(kind, title) for kind, title, _ in ends] == [
        ("input", "input photo"), ("input", "input facts"), ("output", "output price"), ("output", "output kind")]
    inputs = {b.id for b in graph.boxes if b.kind == "input"}
    assert inputs <= {a for a, _, _ in graph.edges}  # each input feeds a step


def test_matmul_rows_count_their_multiply_accumulates_and_outputs_their_line():
    from dlspec.views.summary import model_summary
    from tests.conftest import ROOT
    spec = dlspec.load(ROOT / "examples" / "gcn" / "gcn.dlspec")
    summary = model_summary(spec, "GCN")
    nodes, feats, hidden, classes = 34, 16, 16, 4
    want = nodes * hidden * feats + nodes * hidden * nodes + nodes * classes * hidden + nodes * classes * nodes
    assert sum(r["macs"] for r in summary["layers"] if r["type"].startswith("matmul(")) == want
    assert summary["macs"] == want  # relu, dropout and log_softmax count none
    assert [r["line"] for r in summary["layers"] if r["type"] == "output"] == [23]


def test_a_preview_of_several_named_inputs_says_so_instead_of_naming_one(tmp_path):
    """The listing spec feeds photo, words and facts; the preview used to say 'this source gives token ids'."""
    from tests.conftest import ROOT
    result = CliRunner().invoke(main, ["data", str(ROOT / "specs" / "listing.dlspec"), "--preview",
                                       "-o", str(tmp_path / "p.png")])
    assert result.exit_code != 0 and "Traceback" not in result.output
    first = result.output.splitlines()[0]
    assert first.endswith(":19:12: data error: data listings: a preview shows one image or series per sample; "
                          "this source feeds 3 named inputs of model Listing (photo, words, facts)"), first
    assert "describes each input" in result.output and not (tmp_path / "p.png").exists()
