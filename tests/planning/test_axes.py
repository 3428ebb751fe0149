"""Axis roles: the four cases of issue 22 (layers and merges that took time for channels, or the batch for
time), the roles as --show, --json and hover print them, and the refusals a role mismatch gives at its line."""
import json
import warnings

import pytest
import torch
from click.testing import CliRunner

import dlspec
from dlspec.cli import main
from dlspec.errors import ArgumentError, DlspecWarning, ShapeError


def plan(text, model="M"):
    return dlspec.loads(text).plan(model)


def model_text(*lines):
    return "model M {\n" + "".join(f"    {line}\n" for line in lines) + "}\n"


# ---- case 1: every channels-first layer works along time on a sequence ------------------------------------

def test_conv_transpose_on_a_sequence_upsamples_time_with_the_features_as_channels():
    spec = dlspec.loads(model_text("input sequence(8, 4)", "conv(6, 3, padding=1) -> conv_transpose(5, 2, stride=2)"))
    p = spec.plan("M")
    assert p.out_shape.dims == (16, 5) and p.out_shape.labelled() == "[T=16, F=5]"
    model = spec.build("M")
    conv_t = model.conv_transpose
    assert (conv_t.in_channels, conv_t.out_channels) == (6, 5)  # not the 8 time steps
    x = torch.randn(3, 8, 4)
    want = conv_t.forward(model.conv(x).transpose(1, 2)).transpose(1, 2)  # forward(): without the hooks
    assert torch.allclose(model(x), want, atol=1e-6)


@pytest.mark.parametrize("pool, reduce", [("global_avgpool", torch.mean), ("global_maxpool", torch.amax)])
def test_global_pools_on_a_sequence_pool_over_time(pool, reduce):
    spec = dlspec.loads(model_text("input sequence(8, 4)", f"conv(6, 3, padding=1) -> {pool}"))
    assert spec.plan("M").out_shape.labelled() == "[T=1, F=6]"
    model = spec.build("M")
    x = torch.randn(8, 8, 4)  # a batch as large as T: batch and time cannot be swapped unseen
    conv_out = model.conv(x)
    assert torch.allclose(model(x), reduce(conv_out, dim=1, keepdim=True))


# ---- case 2: concat joins along the channel (feature) axis --------------------------------------------

def test_concat_of_two_recurrent_branches_joins_features_and_both_get_gradients():
    spec = dlspec.loads(model_text("input sequence(10, 3)", "a = input -> gru(8)", "b = input -> lstm(8)",
                                   "concat(a, b) -> last"))
    p = spec.plan("M")
    assert p.shapes[p.ops[-2].target].labelled() == "[T=10, F=16]" and p.out_shape.labelled() == "[F=16]"
    model = spec.build("M")
    model(torch.randn(4, 10, 3)).sum().backward()
    for name in ("gru", "lstm"):
        grads = [q.grad for q in getattr(model, name).parameters()]
        assert all(g is not None and g.abs().sum() > 0 for g in grads), f"{name} gets no gradient"


def test_concat_dim_stays_counted_with_the_batch_dim():
    p = plan(model_text("input sequence(10, 3)", "a = input -> gru(8)", "b = input -> lstm(8)", "concat(a, b, dim=1)"))
    assert p.out_shape.labelled() == "[T=20, F=8]"


def test_concat_of_token_ids_needs_a_dim():
    text = model_text("input tokens(6, vocab=10)", "a = input -> identity", "concat(a, input)")
    with pytest.raises(ShapeError, match=r"concat joins along the channel \(feature\) axis, and \[T=6\] has none") as info:
        plan(text)
    assert info.value.loc.line == 4 and "dim=1" in info.value.hint


# ---- case 3: add/mul broadcast one sample against one sample, never against the batch -------------------

@pytest.mark.parametrize("batch", [1, 2, 3, 10])
def test_a_pooled_vector_is_added_to_every_time_step_of_its_own_sample(batch):
    spec = dlspec.loads(model_text("input sequence(10, 3)", "y = max_time()", "add(y, input)"))
    assert spec.plan("M").out_shape.labelled() == "[T=10, F=3]"
    x = torch.randn(batch, 10, 3)
    got = spec.build("M")(x)
    assert torch.equal(got, x.amax(1, keepdim=True) + x)


def test_a_squeeze_and_excitation_gate_scales_channels_without_a_warning():
    text = model_text("input image(8, 4, 4)", "g = input -> global_avgpool -> flatten -> linear(8) -> sigmoid",
                      "mul(input, g)")
    spec = dlspec.loads(text)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        p = spec.plan("M")
    assert p.out_shape.labelled() == "[C=8, H=4, W=4]"
    model = spec.build("M")
    x = torch.randn(3, 8, 4, 4)
    gate = torch.sigmoid(model.linear(x.mean((2, 3))))
    assert torch.allclose(model(x), x * gate[:, :, None, None])


def test_operands_whose_roles_do_not_line_up_are_refused_at_the_merge():
    text = model_text("input image(4, 5, 7)", 'a = input -> reshape(-1, 4, layout="TF")', "b = input -> global_avgpool",
                      "add(a, b)")
    with pytest.raises(ShapeError, match=r"add of \[C=4, H=1, W=1\] and \[T=35, F=4\]: their axes have different roles") as info:
        plan(text)
    assert info.value.loc.line == 5


# ---- case 4: a shortcut that forgot its stride warns ---------------------------------------------------

def test_an_add_spreading_a_computed_branch_over_space_warns_at_its_line():
    text = model_text("input image(512, 2, 2)", "shortcut = input -> maxpool(2)", "add(shortcut, input)")
    with pytest.warns(DlspecWarning, match=r"add broadcasts shortcut \[C=512, H=1, W=1\] over H=2, W=2 of the "
                                           r"result \[C=512, H=2, W=2\]") as record:
        plan(text)
    assert ":4:" in str(record[0].message)


@pytest.mark.parametrize("body", [
    ["param bias(512, 1, 1) = zeros", "add(input, bias)"],                    # a param
    ["add(input, 1.5)"],                                                    # a constant
    ["g = input -> global_avgpool -> sigmoid", "mul(input, g)"],            # a gate
    ["g = input -> global_avgpool -> flatten", "add(input, g)"],           # a pooled vector, on purpose
])
def test_params_constants_gates_and_vectors_broadcast_silently(body):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plan(model_text("input image(512, 2, 2)", *body))


# ---- roles: inputs, reshape, permute, layouts --------------------------------------------------------

@pytest.mark.parametrize("decl, shown", [
    ("image(3, 8, 9)", "[C=3, H=8, W=9]"), ("sequence(10, 6)", "[T=10, F=6]"), ("vector(5)", "[F=5]"),
    ("tokens(7, vocab=20)", "[T=7]"), ("tensor(3, 20)", "[C=3, L=20]"), ("tensor(2, 3, 4, 5)", "[C=2, D=3, H=4, W=5]"),
    ('tensor(3, 20, layout="TF")', "[T=3, F=20]"), ('tensor(5, 6, 3, layout="HWC")', "[H=5, W=6, C=3]"),
])
def test_every_input_kind_knows_its_roles(decl, shown):
    assert plan(model_text(f"input {decl}", "identity")).in_shape.labelled() == shown


@pytest.mark.parametrize("layout, words", [("CX", "unknown axis role 'X'"), ("CC", "names an axis role twice"),
                                           ("CFL", "names 3 axes, but the shape has 2"),
                                           ("CF", "more than one channel axis")])
def test_a_wrong_layout_is_refused_at_its_argument(layout, words):
    with pytest.raises(ArgumentError, match=words) as info:
        plan(model_text(f'input tensor(3, 20, layout="{layout}")', "identity"))
    assert info.value.loc.line == 2 and info.value.loc.column > 20


def test_a_channels_last_image_convolves_over_its_spatial_axes():
    spec = dlspec.loads(model_text('input tensor(6, 7, 3, layout="HWC")', "conv(5, 3)"))
    assert spec.plan("M").out_shape.labelled() == "[H=4, W=5, C=5]"
    model = spec.build("M")
    x = torch.randn(2, 6, 7, 3)
    conv = torch.nn.Conv2d(3, 5, 3)
    conv.load_state_dict(model.conv.state_dict())
    assert torch.allclose(model(x), conv(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1), atol=1e-6)


def test_permute_carries_roles_and_reshape_names_them():
    p = plan(model_text("input sequence(10, 6)", "permute(2, 1) -> conv(4, 3)"))
    assert [c.out_shape.labelled() for c in p.children] == ["[F=6, T=10]", "[F=4, T=8]"]
    p = plan(model_text("input vector(48)", "reshape(3, 4, 4) -> identity", 'reshape(12, 4, layout="TF") -> flatten'))
    assert [c.out_shape.labelled() for c in p.children] == ["[C=3, H=4, W=4]", "[C=3, H=4, W=4]", "[T=12, F=4]",
                                                            "[F=48]"]


def test_a_layer_after_unknown_roles_says_so_at_its_line():
    text = model_text("input image(8, 4, 4)", "torch.nn.Unflatten(1, [2, 4])", "conv(4, 3)")
    with pytest.raises(ShapeError, match=r"conv works along the channel and spatial axes, but the axes of this input "
                                         r"have no known roles") as info:
        plan(text)
    assert info.value.loc.line == 4 and 'layout="CL"' in info.value.message
    # named again, the same layer is fine
    assert plan(text.replace("    conv", '    reshape(8, 4, 4, layout="CHW") -> conv')).out_shape.dims == (4, 2, 2)
    # a torch module keeping the number of axes of a channels-first input keeps their roles (torch's convention)
    kept = plan(model_text("input image(8, 4, 4)", "torch.nn.PixelShuffle(2)", "torch.nn.Conv2d(2, 3, 3)"))
    assert [c.out_shape.labelled() for c in kept.children] == ["[C=2, H=8, W=8]", "[C=3, H=6, W=6]"]


def test_a_recurrent_layer_refuses_a_channels_first_tensor():
    with pytest.raises(ShapeError, match=r"lstm needs a sequence \[T, F\] \(time first, features last\): .* \(its "
                                         r"input has shape \[C=30, L=1\]\)") as info:
        plan(model_text("input tensor(30, 1)", "lstm(4)"))
    assert info.value.loc.line == 3


def test_a_layer_without_meaning_for_a_kind_is_refused_at_its_line():
    with pytest.raises(ShapeError, match=r"groupnorm needs float features, but its input holds integer token ids") as info:
        plan(model_text("input tokens(6, vocab=9)", "groupnorm(2)"))
    assert info.value.loc.line == 3


# ---- plugins declare roles -----------------------------------------------------------------------------

def test_a_plugin_that_accepts_some_kinds_refuses_others_at_its_line():
    import dlspec_example_plugin  # noqa: F401 - registers scaled_linear, which accepts vectors and sequences
    assert plan(model_text("input sequence(5, 3)", "scaled_linear(2)")).out_shape.labelled() == "[T=5, F=2]"
    with pytest.raises(ShapeError, match=r"scaled_linear takes a vector \[F\] or a sequence \[T, F\] \(its input has "
                                         r"shape \[C=3, H=4, W=4\]\)") as info:
        plan(model_text("input image(3, 4, 4)", "scaled_linear(2)"))
    assert info.value.loc.line == 3


def test_a_channels_first_plugin_sees_a_sequence_as_features_by_time():
    from torch import nn
    from dlspec.plugins.decorators import plugin_layer
    from dlspec.layers.registry import LAYERS

    class TestSmooth(nn.Module):
        def __init__(self, in_channels: int):
            super().__init__()
            self.conv = nn.Conv1d(in_channels, in_channels, 3, padding=1)

        def forward(self, x):
            return self.conv(x)

    LAYERS.register(plugin_layer("test_smooth", TestSmooth, channels_first=True), True)
    spec = dlspec.loads(model_text("input sequence(9, 4)", "test_smooth"))
    assert spec.plan("M").out_shape.labelled() == "[T=9, F=4]"
    model = spec.build("M")
    x = torch.randn(9, 9, 4)
    conv = list(model.children())[0].conv
    assert torch.allclose(model(x), conv(x.transpose(1, 2)).transpose(1, 2), atol=1e-6)
    with pytest.raises(ValueError, match="unknown axis role 'Q'"):
        plugin_layer("test_bad", TestSmooth, accepts=("Q",))


# ---- printing roles ------------------------------------------------------------------------------------

SPEC = model_text("input sequence(10, 3)", "conv(6, 3, padding=1) -> global_avgpool -> flatten", "linear(2)")


def test_show_and_json_print_the_roles(tmp_path):
    path = tmp_path / "m.dlspec"
    path.write_text(SPEC)
    shown = CliRunner().invoke(main, ["compile", str(path), "--show"])
    assert shown.exit_code == 0, shown.output
    assert "input [T=10, F=3]" in shown.output and "[T=10, F=6]" in shown.output and "[T=1, F=6]" in shown.output
    data = json.loads(CliRunner().invoke(main, ["compile", str(path), "--json"]).output)["models"][0]
    assert data["input_roles"] == ["T", "F"] and data["output_roles"] == ["F"]
    assert [(r["output_shape"], r["output_roles"]) for r in data["layers"]][:2] == [([10, 6], ["T", "F"]),
                                                                                    ([1, 6], ["T", "F"])]


def test_hover_prints_the_roles(tmp_path):
    from dlspec.editor.analysis import Analysis
    from dlspec.editor.hover import hover
    line = 3  # conv(...) on the third line, 1-based
    answer = hover(Analysis(str(tmp_path / "m.dlspec"), SPEC), line, SPEC.splitlines()[line - 1].index("conv") + 2)
    assert "[T=10, F=3] → **[T=10, F=6]**" in answer


def test_python_export_moves_channels_and_lines_samples_up_as_dlspec_does():
    from dlspec.runs.python_source import PythonWriter
    spec = dlspec.loads(model_text("input sequence(6, 3)", "y = input -> conv(4, 3, padding=1) -> max_time",
                                   "z = input -> linear(4)", "add(z, y) -> global_avgpool"))
    model = spec.build("M").eval()
    source = PythonWriter(spec.plan("M"), model).source()
    assert "ChannelsFirst(1).attach(" in source and ".unsqueeze(1)" in source
    namespace = {}
    exec(compile(source, "model.py", "exec"), namespace)  # the exported file: plain torch
    exported = namespace["build"]().eval()
    exported.load_state_dict(model.state_dict())
    x = torch.randn(6, 6, 3)  # batch = T
    with torch.no_grad():
        assert torch.equal(exported(x), model(x))


def test_a_channel_layer_on_an_axis_without_channels_is_refused_at_its_line():
    text = model_text("input image(3, 8, 8)", "permute(2, 3, 1) -> flatten", 'reshape(8, 24, layout="HW") -> conv(4, 3)')
    with pytest.raises(ShapeError, match=r"conv needs an input with a channel axis, and this one has none \(its input "
                                         r"has shape \[H=8, W=24\]\)") as info:
        plan(text)
    assert info.value.loc.line == 4


@pytest.mark.parametrize("merge", ["add", "mul"])
def test_adding_token_ids_is_refused_and_concat_of_ids_needs_its_dim(merge):
    with pytest.raises(ShapeError, match=f"{merge} of token ids") as info:
        plan(model_text("input tokens(6, vocab=9)", "a = input -> identity", f"{merge}(a, input)"))
    assert info.value.loc.line == 4
    joined = plan(model_text("input tokens(6, vocab=9)", "a = input -> identity", "concat(a, input, dim=1)",
                             "embedding(4)"))
    assert joined.out_shape.labelled() == "[T=12, F=4]"


def test_a_shape_made_the_old_way_is_still_a_sequence():
    from dlspec.shapes import Shape
    old = Shape((10, 6), sequence=True)
    assert old.sequence and old.labelled() == "[T=10, F=6]" and old == Shape((10, 6), roles=("T", "F"))
