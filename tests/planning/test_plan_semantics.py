"""The planner builds what the spec says: label chains, repeat inputs, unreachable steps, limits."""
import time
import warnings

import pytest
import torch

import dlspec
from dlspec.errors import ArgumentError, DlspecError, DlspecWarning
from dlspec.planning.planner import MAX_LAYERS, MAX_NESTING


def loads(text):
    return dlspec.loads(text, "m.dlspec")


def caught(text, model=None):
    """Plan a spec; return (plan, [warning reports])."""
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        node = loads(text).plan(model)
    return node, [w.message for w in seen if issubclass(w.category, DlspecWarning)]


# ---- a label names its whole chain ------------------------------------------------

CHAIN = """
block ConvBlock(ch) { conv(ch, 3, padding=1) -> relu }
model Net {
    input image(3, 8, 8)
    features: ConvBlock(4) -> ConvBlock(8) -> ConvBlock(16)
    global_avgpool -> flatten
    head: linear(10)
}
"""


def test_a_label_before_a_chain_names_every_step_of_it():
    model = loads(CHAIN).build()
    assert isinstance(model.features, torch.nn.Sequential) and len(model.features) == 3
    keys = [k for k in model.state_dict() if k.startswith("features.")]
    assert len(keys) == 6  # three convs, weight and bias each
    assert model.head.out_features == 10


@pytest.mark.slow
def test_freeze_and_lr_for_reach_the_whole_labelled_chain(tmp_path):
    spec = tmp_path / "f.dlspec"
    spec.write_text("""
block ConvBlock(ch) { conv(ch, 3, padding=1) -> relu }
model Net {
    input image(1, 8, 8)
    features: ConvBlock(4) -> ConvBlock(4)
    flatten
    head: linear(10)
}
data d { source sklearn_digits; split train=0.9 val=0.1; batch 256 }
train { model Net; data d; optimizer adam(lr=1e-2, lr_for={head: 0.1}); epochs 1; freeze features; out "run" }
""")
    from dlspec.api import compile_spec
    rows = {r["name"]: r for r in compile_spec(spec, describe=True).summaries[0]["layers"]}
    assert rows["features.convblock.conv"]["frozen"] and rows["features.convblock_1.conv"]["frozen"]
    run = dlspec.fit(spec, out=str(tmp_path / "run"))
    after = run.model.state_dict()
    for key in ("features.convblock_1.conv.weight", "features.convblock.conv.weight"):
        assert torch.equal(after[key].cpu(), _fresh_init(spec, key)), key
    assert not torch.equal(after["head.weight"].cpu(), _fresh_init(spec, "head.weight"))


def _fresh_init(spec, key):
    """The value `key` had before training: fit seeds the build with the train block's seed (0)."""
    from dlspec.train.trainer import _seed_everything
    _seed_everything(0)
    return dlspec.load(spec).build().state_dict()[key]


def test_a_label_mid_chain_names_the_rest_of_it_up_to_the_next_label():
    model = loads("model M { input vector(4); linear(8) -> a: relu -> linear(8) -> b: linear(2) -> relu }").build()
    assert list(model._modules) == ["linear", "a", "b"]
    assert [type(m).__name__ for m in model.a] == ["ReLU", "Linear"]


def test_a_single_labelled_step_stays_that_layer():
    model = loads("model M { input vector(4); head: linear(2) }").build()
    assert isinstance(model.head, torch.nn.Linear)


def test_a_label_over_a_chain_with_a_merge_is_refused_at_the_merge():
    with pytest.raises(DlspecError, match="label 'f' names a chain that merges tensors") as info:
        loads("model M {\n input vector(4)\n y = input -> f: linear(4) -> add(input)\n y\n}").plan()
    assert info.value.line == 3


def test_labelled_chains_in_graph_bodies_are_one_submodule():
    model = loads("model M {\n input vector(4)\n y = input -> f: linear(4) -> relu\n add(y, input)\n}").build()
    assert [type(m).__name__ for m in model.f] == ["Linear", "ReLU"]
    x = torch.randn(2, 4)
    assert torch.equal(model(x), model.f(x) + x)


# ---- inside repeat, `input` is the iteration's input ----------------------------------

def test_repeat_input_is_the_input_of_each_iteration():
    text = "model M {\n input image(2, 4, 4)\n repeat 3 { y = conv(2, 3, padding=1) -> relu; add(y, input) }\n}"
    model = loads(text).build()
    x = torch.randn(1, 2, 4, 4)
    expected = x
    for i, name in enumerate(["repeat", "repeat_1", "repeat_2"]):
        block = getattr(model, name)
        expected = torch.relu(block.conv(expected)) + expected
    assert torch.allclose(model(x), expected)
    assert sum(p.numel() for p in model.parameters()) == 3 * (2 * 2 * 9 + 2)


def test_sequential_repeats_keep_their_flat_names():
    model = loads("model M { input vector(4); repeat 2 { linear(4) -> relu } }").build()
    assert list(model._modules) == ["linear", "relu", "linear_1", "relu_1"]


def test_a_graph_repeat_inside_a_graph_body_continues_from_the_previous_result():
    text = """model M {
        input vector(4)
        s = input -> linear(4)
        repeat 2 { add(input, 1) }
    }"""
    node, warned = caught(text)
    assert warned == []
    model = loads(text).build()
    x = torch.randn(2, 4)
    assert torch.allclose(model(x), model.linear(x) + 2)
    _, warned = caught(text.replace("repeat 2 { add(input, 1) }", "repeat 2 { add(input, 1) }\n add(s, 1)"))
    assert "repeat, repeat_1 do not reach the output of model M" in warned[0].message


# ---- every layer and binding must reach the output -------------------------------------

def test_layers_that_do_not_reach_the_output_are_warned_at_their_line():
    text = "model Net {\n input vector(4)\n linear(32) -> relu -> linear(10)\n mul(input, 2)\n}"
    _, warned = caught(text)
    assert len(warned) == 1
    w = warned[0]
    assert w.loc.line == 3 and "linear, relu, linear_1 do not reach the output of model Net" in w.message


def test_an_unused_binding_and_param_are_warned():
    text = ("model Net {\n input vector(4)\n a = input -> linear(8)\n param p(4) = ones\n"
            " input -> linear(4)\n}")
    _, warned = caught(text)
    messages = sorted((w.loc.line, w.message) for w in warned)
    assert messages[0][0] == 3 and "'a' is bound but never used" in messages[0][1]
    assert messages[1][0] == 4 and "param 'p' is never used in model Net" in messages[1][1]


def test_an_unused_merge_is_warned_and_used_specs_are_quiet():
    text = "model Net {\n input vector(4)\n y = input -> linear(4)\n add(y, input)\n input -> linear(2)\n}"
    _, warned = caught(text)
    assert [(w.loc.line, w.message.split(" do")[0]) for w in warned] == [(4, "add")]
    for shipped in ("resnet18", "digits", "cifar10"):
        _, warned = caught(open(f"specs/{shipped}.dlspec").read())
        assert warned == []


def test_unreachable_warnings_reach_the_cli(write_spec):
    from click.testing import CliRunner
    from dlspec.cli import main
    path = write_spec("model Net {\n input vector(4)\n linear(32) -> relu\n mul(input, 2)\n}")
    result = CliRunner().invoke(main, ["compile", str(path)])
    assert result.exit_code == 0
    assert f"{path}:3:2: warning: linear, relu do not reach the output of model Net" in result.output
    assert "    ^" in result.output


# ---- limits: no hang, no recursion error ---------------------------------------------

@pytest.mark.parametrize("count", [100_000, 10**12])
def test_a_huge_repeat_is_refused_at_its_count_quickly(count):
    start = time.perf_counter()
    with pytest.raises(ArgumentError, match=f"repeat {count:,} expands to about") as info:
        loads(f"model M {{\n input vector(4)\n repeat {count} {{ relu }}\n}}").plan()
    assert info.value.line == 3 and f"at most {MAX_LAYERS:,} layers" in info.value.message
    assert time.perf_counter() - start < 1


def test_repeat_at_the_cap_still_plans_in_linear_time():
    start = time.perf_counter()
    node = loads(f"model M {{ input vector(4); repeat {MAX_LAYERS} {{ relu }} }}").plan()
    assert len(node.children) == MAX_LAYERS
    assert time.perf_counter() - start < 3  # 0.2 s here; naming the layers was quadratic once (19 s)
    assert [c.name for c in node.children[:3]] == ["relu", "relu_1", "relu_2"]


def test_nested_repeats_and_blocks_cannot_blow_up():
    with pytest.raises(DlspecError, match="more than 10,000 layers"):
        loads("block B { repeat 100 { relu } }\nmodel M { input vector(4); repeat 200 { B } }").plan()
    with pytest.raises(ArgumentError, match="expands to about"):
        loads("model M { input vector(4); repeat 1000 { repeat 1000 { relu } } }").plan()


def test_deeply_nested_blocks_are_a_located_error():
    blocks = "\n".join(f"block B{i} {{ B{i + 1} }}" for i in range(1000)) + "\nblock B1000 { relu }"
    with pytest.raises(DlspecError, match=f"nested more than {MAX_NESTING} levels deep") as info:
        loads(blocks + "\nmodel M {\n input vector(4)\n B0\n}").plan()
    assert info.value.line is not None


@pytest.mark.parametrize("label", ["cuda", "training", "_modules", "forward", "state_dict", "_ops"])
def test_labels_named_like_module_attributes_are_refused(label):
    with pytest.raises(DlspecError, match=f"label '{label}' cannot be used: it is the name of an attribute") as info:
        loads(f"model M {{\n input vector(4)\n {label}: linear(2)\n}}").plan()
    assert info.value.line == 3


def test_reserved_names_cover_every_public_module_attribute():
    from dlspec.planning.nodes import RESERVED_NAMES
    public = {n for n in dir(torch.nn.Module()) if not n.startswith("_")}
    assert public <= RESERVED_NAMES


def test_a_param_named_like_a_module_attribute_is_refused():
    with pytest.raises(DlspecError, match="param 'cuda' cannot be used"):
        loads("model M {\n input vector(4)\n param cuda(4) = ones\n mul(input, cuda)\n}").plan()


def test_user_bindings_never_collide_with_graph_temporaries():
    text = "model M {\n input vector(4)\n _t1 = input -> linear(4)\n y = input -> linear(4)\n add(_t1, y)\n}"
    model = loads(text).build()
    x = torch.randn(2, 4)
    assert torch.allclose(model(x), model.linear(x) + model.linear_1(x))


def test_uniform_init_needs_a_below_b():
    with pytest.raises(ArgumentError, match=r"uniform\(a, b\) needs a < b, received a=5, b=1") as info:
        loads("model M {\n input vector(4)\n param s(4) = uniform(5, 1)\n mul(input, s)\n}").plan()
    assert info.value.line == 3


def test_softmax_over_the_batch_dimension_is_refused():
    from dlspec.errors import ShapeError
    with pytest.raises(ShapeError, match="softmax: dim=0 is the batch dimension") as info:
        loads("model M {\n input vector(4)\n linear(3) -> softmax(0)\n}").plan()
    assert info.value.line == 3


def test_a_labelled_chain_exports_to_python(tmp_path):
    from dlspec.runs.export import example_input, export_python
    spec = loads(CHAIN)
    path = export_python(spec.build().eval(), spec.plan(), example_input(spec.plan()), str(tmp_path))
    assert "('features', nn.Sequential(OrderedDict([" in open(path).read()


@pytest.mark.parametrize("text, words", [  # the fuzz test's finds, each once a crash or a hang
    ("model M {\n input vector(4)\n repeat 9223372036854775807 { relu }\n}", "expands to about"),
    ("model M {\n input image(1, 8, 8)\n adaptive_maxpool([1, 2, 3, 4])\n}", "expected 2 values"),
    ("model M {\n input image(1, 8, 8)\n upsample(1e308)\n}", "too large for the float32"),
])
def test_fuzz_finds_are_located_errors(text, words):
    start = time.perf_counter()
    with pytest.raises(DlspecError, match=words) as info:
        loads(text).plan()
    assert info.value.line == 3 and time.perf_counter() - start < 2


def test_reshape_takes_one_size_by_keyword():
    assert loads("model M {\n input vector(4)\n reshape(shape=4)\n}").build()(torch.ones(2, 4)).shape == (2, 4)


def test_an_error_quotes_its_own_spec_when_two_share_a_name():
    first = dlspec.loads("model M {\n input vector(4)\n conv(4, 3)\n}")  # both are "<string>"
    dlspec.loads("model N {\n input vector(4)\n linear(3) -> relu\n}").plan()
    with pytest.raises(DlspecError) as info:
        first.plan()
    assert "\n     conv(4, 3)\n" in info.value.report()
