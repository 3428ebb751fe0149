"""Learnt embeddings for many-level table categories: runtime/categories.py, layers/categories.py and
the planner putting the layer first in a `vector(auto)` model."""
import random

import pytest
import torch

import dlspec
from dlspec.errors import DlspecWarning
from dlspec.planning.facts import DataFacts
from dlspec.runtime.categories import CategoryEmbedding

COLUMNS = ((1, 5, 3, "city"), (3, 9, 2, "shop"))  # (position, levels, dim, name)


def test_category_embedding_equals_its_torch_lookups():
    torch.manual_seed(0)
    module = CategoryEmbedding(5, [c[:3] for c in COLUMNS])
    x = torch.tensor([[0.5, 2.0, -1.0, 9.0, 7.0], [1.5, 0.0, 3.0, 1.0, -2.0]])
    city, shop = module.tables
    want = torch.cat([x[:, [0, 2, 4]], city(torch.tensor([2, 0])), shop(torch.tensor([9, 1]))], 1)
    assert torch.equal(module(x), want)
    assert torch.equal(module(x)[1, 3:6], torch.zeros(3))  # index 0: a level training never had
    module(x).sum().backward()
    assert torch.equal(city.weight.grad[0], torch.zeros(3)) and city.weight.grad[2].abs().sum() > 0
    assert list(module.state_dict()) == ["tables.0.weight", "tables.1.weight"]  # positions are not weights
    assert torch.equal(torch.jit.script(module)(x), module(x))


def spec_with(model_body: str, columns=COLUMNS, width=5):
    """The spec of one model M and the facts of a table of `width` encoded features embedding `columns`."""
    return dlspec.loads(f"model M {{ {model_body} }}"), DataFacts(sample_shape=(width,), categories=columns)


def test_vector_auto_puts_the_embedding_first_and_plans_the_rest_on_its_output():
    spec, facts = spec_with("input vector(auto)\n linear(4)")
    plan = spec.plan("M", facts)
    first, linear = plan.children
    assert (first.name, first.layer.name, first.loc.line) == ("category_embedding", "category_embedding", 1)
    assert plan.in_shape.dims == (5,) and first.out_shape.dims == (5 - 2 + 3 + 2,) == linear.in_shape.dims
    model = spec.build("M", facts)
    assert model(torch.zeros(2, 5)).shape == (2, 4) and model.linear.in_features == 8
    # no category column, or a written width: the model is planned as written
    assert [c.name for c in spec_with("input vector(auto)\n linear(4)", ())[0].plan(
        "M", DataFacts(sample_shape=(5,))).children] == ["linear"]
    assert [c.name for c in spec_with("input vector(5)\n linear(4)")[0].plan("M", DataFacts(
        sample_shape=(5,), categories=COLUMNS)).children] == ["linear"]


def test_a_graph_body_is_wrapped_and_a_label_keeps_its_name():
    spec, facts = spec_with("input vector(auto)\n a = input -> linear(8)\n b = a -> linear(8)\n add(a, b)")
    plan = spec.plan("M", facts)
    assert [c.name for c in plan.children] == ["category_embedding", "body"] and plan.children[1].graph
    assert spec.build("M", facts)(torch.ones(3, 5)).shape == (3, 8)
    labelled = spec_with("input vector(auto)\n category_embedding: linear(4)")
    labelled = labelled[0].plan("M", labelled[1])
    assert [c.name for c in labelled.children] == ["category_embedding_", "category_embedding"]


def test_show_lists_the_embedding_at_the_input_line(tmp_path):
    write_table(tmp_path / "t.csv", levels=30)
    (tmp_path / "m.dlspec").write_text('model M {\n    input vector(auto)\n    linear(1)\n}\n'
                                       'data d { source csv("t.csv", target="y", embedding_dim=4) }\n'
                                       'train { model M; data d; loss mse }\n')
    from dlspec.api import compile_spec
    summary = compile_spec(tmp_path / "m.dlspec", describe=True).summaries[0]
    first = summary["layers"][0]
    assert (first["name"], first["type"], first["output_shape"], first["params"], first["line"]) == (
        "category_embedding", "CategoryEmbedding", [1 + 4], 31 * 4, 2)


def write_table(path, levels, rows_per_level=8, seed=0):
    """y depends on the category alone, by an effect per level in no order the level names have."""
    rng = random.Random(seed)
    effect = {f"L{i}": rng.uniform(-5, 5) for i in range(levels)}
    lines = ["x,cat,y"] + [f"{rng.uniform(0, 1):.3f},L{i % levels},{effect[f'L{i % levels}']:.3f}"
                           for i in range(levels * rows_per_level)]
    path.write_text("\n".join(lines) + "\n")


def test_an_embedding_learns_what_an_ordinal_index_cannot(tmp_path):
    write_table(tmp_path / "t.csv", levels=24)
    body = ('model M {{ input vector({width}); linear(16) -> relu -> linear(1) }}\n'
            'data d {{ source csv("t.csv", target="y"); split train=1.0 val=0 test=0; batch 32 }}\n'
            'train {{ loss mse; optimizer adam(lr=0.02); epochs 40; metrics mae; seed 0 }}\n')
    (tmp_path / "embedded.dlspec").write_text(body.format(width="auto"))
    (tmp_path / "ordinal.dlspec").write_text(body.format(width=2))
    quiet = dict(log=lambda *a: None, progress=False)
    embedded = dlspec.fit(tmp_path / "embedded.dlspec", out=str(tmp_path / "e"), **quiet)
    with pytest.warns(DlspecWarning, match="model M takes column\\(s\\) 'cat' of data d as one feature holding the "
                                           "level's index \\(an ordinal\\), not a learnt embedding") as caught:
        ordinal = dlspec.fit(tmp_path / "ordinal.dlspec", out=str(tmp_path / "o"), **quiet)
    assert "input vector(auto)" in str(caught[0].message.hint) and "onehot_max" in str(caught[0].message.hint)
    e, o = embedded.history[-1]["mae"], ordinal.history[-1]["mae"]
    assert e < 0.3 < 1.0 < o, (e, o)  # effects spread over [-5, 5]


def test_show_measures_the_table_as_fit_does(tmp_path):
    """The task (hence a stratified or a random split, hence the levels in training rows) follows the
    loss at compile as at fit, and --train picks whose data a vector(auto) model is measured on."""
    rng = random.Random(3)
    (tmp_path / "t.csv").write_text("a,city,y\n" + "".join(
        f"{rng.random():.3f},c{rng.randrange(60)},{rng.randrange(3)}\n" for _ in range(240)))
    (tmp_path / "few.csv").write_text("a,b,y\n" + "".join(f"{i},{i % 4},{i}.5\n" for i in range(40)))
    (tmp_path / "m.dlspec").write_text(
        'model M { input vector(auto); linear(1) }\n'
        'data d { source csv("t.csv", target="y"); split train=0.5 val=0.25 test=0.25 }\n'
        'data few { source csv("few.csv", target="y") }\n'
        'train t1 { model M; data d; loss mse; epochs 1 }\ntrain t2 { model M; data few; loss mse; epochs 1 }\n')
    from dlspec.api import compile_spec
    shown = compile_spec(tmp_path / "m.dlspec", describe=True).summaries[0]["params"]
    run = dlspec.fit(tmp_path / "m.dlspec", train="t1", out=str(tmp_path / "run"), log=lambda *a: None,
                     progress=False)
    assert shown == sum(p.numel() for p in run.model.parameters())
    two = compile_spec(tmp_path / "m.dlspec", train="t2", describe=True).summaries[0]
    assert two["input_shape"] == [2] and two["params"] == 3
