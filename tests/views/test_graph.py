"""dlspec graph (dlspec/views/graph.py, graph_draw.py): the model as a picture, drawn from the plan.

The DOT text is checked against the plan of every shipped spec (one box per
layer with its output shape, one frame per block or label, a dashed edge per
extra input of a merge); pictures are checked to open and not to be blank.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest
from click.testing import CliRunner

from tests.conftest import SPECS, load_shipped
from dlspec.cli import main
from dlspec.planning.nodes import BodyNode, LayerNode, iter_nodes
from dlspec.train.measure import Measurements
from dlspec.views import graph as G
from dlspec.views.graph_draw import layout

NODE = re.compile(r'^\s*(n\d+) \[label="((?:[^"\\]|\\.)*)"', re.M)
EDGE = re.compile(r"^\s*(n\d+) -> (n\d+)( \[style=dashed)?", re.M)


def merge_inputs(plan):
    """(merges, extra inputs) over the whole plan: what the picture must show as merges and skip edges."""
    merges = extra = 0
    bodies = [plan] + [n for _, n, _ in iter_nodes(plan) if isinstance(n, BodyNode)]
    for body in bodies:
        known = {"input"} | {p.name for p in body.params} | {op.target for op in body.ops}
        for op in body.ops:
            if op.kind not in ("module", "ref"):  # merges, matmul and a VAE's chunk, parts and terms: a box each
                merges += 1
                extra += len([i for i in op.inputs if i in known]) - 1
    return merges, extra


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.name)
def test_dot_has_a_box_per_layer_with_its_shape_and_edges_for_merges(path):
    spec = load_shipped(path)
    measurements = Measurements(spec)  # vector(auto), tokens(T): the facts of the data each model trains on
    for name in spec.model_names:
        plan = measurements.plan(name)
        dot = G.to_dot(G.model_graph(plan))
        nodes = dict(NODE.findall(dot))
        layers = [(q, n) for q, n, _ in iter_nodes(plan) if isinstance(n, LayerNode)]
        tooltips = re.findall(r'fillcolor="#e8f0fb", tooltip="([^"]+)"', dot)
        assert sorted(tooltips) == sorted(q for q, _ in layers)  # one box per layer, named as in state_dict
        for q, layer in layers:
            box = re.search(rf'(n\d+) \[label="([^"]+)", fillcolor="#e8f0fb", tooltip="{re.escape(q)}"', dot)
            assert box.group(2).endswith("\\n" + str(layer.out_shape)), (q, box.group(2))
        merges, extra = merge_inputs(plan)
        edges = EDGE.findall(dot)
        assert sum(1 for _, _, dashed in edges if dashed) == extra
        inputs = len(plan.inputs) or 1  # a box per named input (one unnamed input: one box)
        outputs = len(plan.outputs) if len(plan.outputs) > 1 else 0  # several outputs: an `output NAME` box each
        assert len(nodes) == inputs + outputs + len(layers) + merges + sum(
            len(n.params) for _, n, _ in iter_nodes(plan) if isinstance(n, BodyNode)) + len(plan.params)
        groups = [n for _, n, _ in iter_nodes(plan) if isinstance(n, BodyNode)]
        assert dot.count("subgraph cluster_") == len(groups)
        order = {n: int(n[1:]) for n in nodes}
        assert all(order[a] < order[b] for a, b, _ in edges)  # edges follow execution order
        assert {b for _, b, _ in edges} == set(nodes) - {f"n{i}" for i in range(inputs)}  # all but the inputs have one


def test_resnet18_has_a_skip_edge_into_every_residual_add():
    plan = load_shipped([p for p in SPECS if p.name == "resnet18.dlspec"][0]).plan()
    graph = G.model_graph(plan)
    adds = [b for b in graph.boxes if b.kind == "merge"]
    assert len(adds) == 8 and all(b.title == "add" for b in adds)
    skips = [(a, b) for a, b, skip in graph.edges if skip]
    assert sorted(b for _, b in skips) == sorted(b.id for b in adds)
    labels = [g.label for g in graph.groups]
    assert labels[0] == "basic (Basic) [64, 56, 56]" and labels[2] == "down (Down) [128, 28, 28]"
    places, lanes = layout(graph)
    assert lanes == 2 and len({c for c, _, _ in places.values()}) == 3  # ResNet-18 folds into three columns


def picture_ok(path, min_side=300):
    import matplotlib.image as mpimg
    pixels = mpimg.imread(str(path))
    assert pixels.shape[0] >= min_side and pixels.shape[1] >= min_side, pixels.shape
    assert float(pixels[..., :3].var()) > 1e-3  # not blank
    return pixels


@pytest.mark.parametrize("name", ["resnet18.dlspec", "cifar10.dlspec", "airline_lstm.dlspec"])
def test_matplotlib_picture_opens_and_is_not_blank(name, tmp_path, monkeypatch):
    monkeypatch.setattr(G.shutil, "which", lambda program: None)  # as on a machine without graphviz
    plan = load_shipped([p for p in SPECS if p.name == name][0]).plan()
    picture_ok(G.draw(plan, str(tmp_path / "model.png")))
    svg = G.draw(plan, str(tmp_path / "model.svg"))
    assert ET.parse(svg).getroot().tag.endswith("svg")


def test_graphviz_is_used_when_dot_is_installed(tmp_path, monkeypatch):
    calls = []

    class Done:
        returncode, stderr = 0, ""

    monkeypatch.setattr(G.shutil, "which", lambda program: "/usr/bin/dot" if program == "dot" else None)
    monkeypatch.setattr(G.subprocess, "run", lambda cmd, **kw: calls.append((cmd, kw["input"])) or Done())
    plan = load_shipped(SPECS[0]).plan()
    G.draw(plan, str(tmp_path / "m.png"))
    assert calls[0][0] == ["dot", "-Tpng", "-o", str(tmp_path / "m.png")]
    assert calls[0][1] == G.to_dot(G.model_graph(plan))


def test_cli_graph_writes_and_reports_mistakes(tmp_path):
    resnet = str([p for p in SPECS if p.name == "resnet18.dlspec"][0])
    out = tmp_path / "r.dot"
    result = CliRunner().invoke(main, ["graph", resnet, "-o", str(out)])
    assert result.exit_code == 0 and f"wrote {out}" in result.output
    assert out.read_text().startswith('digraph "ResNet18"')
    result = CliRunner().invoke(main, ["graph", resnet, "-o", str(tmp_path / "r.jpg")])
    assert result.exit_code == 1 and "give -o NAME.svg, .png, .pdf or .dot" in result.output
    result = CliRunner().invoke(main, ["graph", resnet, "--model", "ResNet81"])
    assert result.exit_code == 1 and "Did you mean 'ResNet18'" in result.output
