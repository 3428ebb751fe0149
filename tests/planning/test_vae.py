"""A VAE's graph steps (chunk into named parts, sample_normal, kl_normal, add_loss): the course's VAE written
by hand in PyTorch against the same model as a spec (equal parameters and outputs with the same weights
and the same noise), shapes at compile, located errors, and the exported model.py / TorchScript."""
import io

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import dlspec
from dlspec.errors import ArgumentError, DlspecError, ShapeError
from dlspec.runs.export_check import build_from_source
from dlspec.runs.python_source import PythonWriter
from tests.conftest import ROOT

PIXELS, HIDDEN, LATENT = 64, 400, 20  # the course's 784 pixels made the bundled digits' 64


class CourseVAE(nn.Module):
    """The course's VAE (the PyTorch examples' vae/main.py), with 64 pixels instead of 784."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(PIXELS, HIDDEN)
        self.fc21 = nn.Linear(HIDDEN, LATENT)
        self.fc22 = nn.Linear(HIDDEN, LATENT)
        self.fc3 = nn.Linear(LATENT, HIDDEN)
        self.fc4 = nn.Linear(HIDDEN, PIXELS)

    def encode(self, x):
        h1 = F.relu(self.fc1(x))
        return self.fc21(h1), self.fc22(h1)

    def reparameterize(self, mu, logvar):
        std = torch.exp(0.5 * logvar)
        eps = torch.randn_like(std)
        return mu + eps * std

    def decode(self, z):
        h3 = F.relu(self.fc3(z))
        return torch.sigmoid(self.fc4(h3))

    def forward(self, x):
        mu, logvar = self.encode(x.view(-1, PIXELS))
        z = self.reparameterize(mu, logvar)
        return self.decode(z), mu, logvar


def course_kld(mu, logvar):
    """The course's loss_function's KL part (summed over the batch)."""
    return -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())


COURSE_SPEC = f"""
model VAE {{
    input vector({PIXELS})
    h1 = input -> fc1: linear({HIDDEN})
    h = h1 -> relu
    mu = h -> fc21: linear({LATENT})
    logvar = h -> fc22: linear({LATENT})
    add_loss(kl_normal(mu, logvar))
    z = sample_normal(mu, logvar)
    h3 = z -> fc3: linear({HIDDEN})
    h3 -> relu
    fc4: linear({PIXELS})
    sigmoid
}}
"""


def loads(text):
    return dlspec.loads(text, "m.dlspec")


def with_course_weights(model, course):
    """The spec's model holding the course module's weights (the spec's parameters by the course's names)."""
    model.load_state_dict(course.state_dict())
    return model


@pytest.mark.parametrize("batch", [1, 2, 3])
def test_the_course_vae_as_a_spec_has_its_parameters_and_outputs(batch):
    torch.manual_seed(0)
    course = CourseVAE()
    model = with_course_weights(loads(COURSE_SPEC).build(), course)
    assert [(n, p.shape) for n, p in model.named_parameters()] == [(n, p.shape) for n, p in course.named_parameters()]
    x = torch.rand(batch, PIXELS)
    torch.manual_seed(1)
    want, mu, logvar = course(x)
    torch.manual_seed(1)  # the same noise: sample_normal draws randn_like(mu) as the course draws randn_like(std)
    got = model(x)
    assert torch.equal(got, want)
    assert torch.allclose(model.added_losses["kl"], course_kld(mu, logvar) / batch)


def test_in_evaluation_sample_normal_is_the_mean():
    torch.manual_seed(0)
    course = CourseVAE().eval()
    model = with_course_weights(loads(COURSE_SPEC).build(), course).eval()
    x = torch.rand(3, PIXELS)
    mu, _ = course.encode(x)
    assert torch.equal(model(x), course.decode(mu))
    assert torch.equal(model(x), model(x))  # no noise in evaluation


def test_the_shipped_vae_is_the_course_vae_with_mu_and_logvar_from_one_chunked_linear():
    """specs/vae_digits.dlspec writes fc21 and fc22 as one linear(2 * latent) cut by chunk(2): its weights are
    the two stacked; its decoder gives logits (bce_with_logits applies the sigmoid)."""
    torch.manual_seed(0)
    course = CourseVAE()
    model = dlspec.load(ROOT / "specs" / "vae_digits.dlspec").build()
    state = course.state_dict()
    model.load_state_dict({
        "linear.weight": state["fc1.weight"], "linear.bias": state["fc1.bias"],
        "linear_1.weight": torch.cat([state["fc21.weight"], state["fc22.weight"]]),
        "linear_1.bias": torch.cat([state["fc21.bias"], state["fc22.bias"]]),
        "decoder.linear.weight": state["fc3.weight"], "decoder.linear.bias": state["fc3.bias"],
        "decoder.linear_1.weight": state["fc4.weight"], "decoder.linear_1.bias": state["fc4.bias"]})
    x = torch.rand(2, 1, 8, 8)
    torch.manual_seed(3)
    want, mu, logvar = course(x)
    torch.manual_seed(3)
    got = torch.sigmoid(model(x)).reshape(2, PIXELS)
    assert torch.allclose(got, want, atol=1e-6)
    assert torch.allclose(model.added_losses["kl"], course_kld(mu, logvar) / 2 / PIXELS, atol=1e-6)


# ---- shapes at compile ----------------------------------------------------------------


VAE_LINES = """
model M {{
    input vector(8)
    {lines}
}}
"""


def plan_of(lines: str):
    return loads(VAE_LINES.format(lines=lines)).plan()


def error_of(lines: str, kind=DlspecError):
    with pytest.raises(kind) as caught:
        plan_of(lines)
    return caught.value


def test_chunk_parts_sample_and_kl_have_their_shapes():
    plan = plan_of("mu, logvar = input -> linear(6) -> chunk(2)\n    add_loss(kl_normal(mu, logvar), name=kl)\n"
                   "    sample_normal(mu, logvar) -> linear(8)")
    assert plan.shapes["mu"].dims == (3,) and plan.shapes["logvar"].dims == (3,)
    kinds = [op.kind for op in plan.ops]
    assert kinds.count("part") == 2 and "chunk" in kinds and "add_loss" in kinds
    assert plan.out_shape.dims == (8,)  # the add_loss line is not the output


def test_chunk_along_another_axis_and_into_three():
    text = """
model M {
    input image(6, 4, 4)
    a, b, c = input -> chunk(3)
    p, q = input -> chunk(2, dim=2)
    add(a, b, c, p -> conv(2, 1) -> upsample(size=[4, 4]), q -> conv(2, 1) -> upsample(size=[4, 4]))
}
"""
    plan = loads(text).plan()
    assert plan.shapes["a"].dims == (2, 4, 4) and plan.shapes["p"].dims == (6, 2, 4)


def test_show_lists_each_part_by_name():
    from click.testing import CliRunner
    from dlspec.cli import main
    shown = CliRunner().invoke(main, ["compile", str(ROOT / "specs" / "vae_digits.dlspec"), "--show"]).output
    assert "mu             part 0 of chunk            [F=20]" in shown
    assert "kl_normal      kl_normal(mu, logvar)      [F=1]" in shown


def test_an_unused_part_is_warned_about_by_its_name():
    with pytest.warns(UserWarning, match="'b' is bound but never used"):
        plan_of("a, b = input -> chunk(2)\n    a")


def test_a_chunk_that_does_not_divide_says_the_axis_and_size():
    e = error_of("a, b = input -> linear(5) -> chunk(2)\n    add(a, b)", ShapeError)
    assert "chunk(2) of [F=5]: axis F of size 5 does not divide into 2 equal parts" in str(e)
    assert e.loc.line == 4 and e.loc.column == 34


def test_chunk_parts_need_as_many_names():
    e = error_of("a, b, c = input -> linear(4) -> chunk(2)\n    add(a, b)")
    assert "chunk(2) gives 2 parts and 3 names take them (a, b, c)" in str(e)
    e = error_of("a = input -> linear(4) -> chunk(2)\n    a")
    assert "chunk(2) gives 2 parts, which only a binding of 2 names can take" in str(e)
    e = error_of("a, b = input -> linear(4)\n    add(a, b)")
    assert "a, b = ... binds 2 names, and this chain gives one tensor" in str(e)
    assert "end the chain with chunk(2)" in e.hint


def test_a_chunk_must_end_its_chain():
    e = error_of("a, b = input -> linear(4) -> chunk(2) -> relu\n    add(a, b)")
    assert "only a binding of 2 names can take" in str(e)


def test_chunk_needs_an_integer_count_of_at_least_two():
    assert "must be an integer of at least 2, received 1" in str(error_of("a, b = input -> chunk(1)\n    a", ArgumentError))
    assert "chunk: dim=3 is out of range" in str(error_of("a, b = input -> chunk(2, dim=3)\n    a", ShapeError))
    assert "chunk has no argument 'axis'" in str(error_of("a, b = input -> chunk(2, axis=1)\n    a", ArgumentError))


def test_sample_normal_of_different_shapes_names_both():
    e = error_of("mu = input -> linear(4)\n    logvar = input -> linear(3)\n    sample_normal(mu, logvar)", ShapeError)
    assert "sample_normal of mu [F=4] and logvar [F=3]: the mean and the log-variance must have the same shape" \
        in str(e)
    assert e.loc.line == 6


def test_sample_normal_takes_two_tensors():
    e = error_of("mu = input -> linear(4)\n    sample_normal(mu)", ArgumentError)
    assert "sample_normal takes two tensors, the mean and the log-variance, received 1" in str(e)
    e = error_of("mu = input -> linear(4)\n    sample_normal(mu, 1.0)", ArgumentError)
    assert "sample_normal takes two tensors, the mean and the log-variance, not numbers" in str(e)


def test_add_loss_stands_alone_on_its_line():
    kl = "mu, lv = input -> chunk(2)\n"
    for line in ("x = add_loss(kl_normal(mu, lv))", "add_loss(kl_normal(mu, lv)) -> relu"):
        e = error_of(kl + f"    {line}\n    mu")
        assert "add_loss adds a term to the loss and gives no tensor: write it on a line of its own" in str(e)
        assert e.loc.line == 5


def test_parts_of_token_ids_stay_token_ids():
    text = "model M {\n    input tokens(8, vocab=20)\n    a, b = input -> chunk(2, dim=1)\n    sample_normal(a, b)\n}\n"
    with pytest.raises(ShapeError, match="sample_normal of token ids"):
        loads(text).plan()


def test_add_loss_of_a_tensor_of_several_values_is_refused():
    e = error_of("h = input -> linear(4)\n    add_loss(h)\n    h", ShapeError)
    assert "add_loss of h [F=4]: a loss term is one value per sample, and this has 4" in str(e)


def test_add_loss_names_must_be_new_columns():
    kl = "mu, lv = input -> chunk(2)\n    add_loss(kl_normal(mu, lv))\n"
    e = error_of(kl + "    add_loss(kl_normal(lv, mu))\n    mu", ArgumentError)
    assert "a term named 'kl' is already added (line 5)" in str(e)
    e = error_of("mu, lv = input -> chunk(2)\n    add_loss(kl_normal(mu, lv), name=loss)\n    mu", ArgumentError)
    assert "'loss' is already a metrics.csv column" in str(e)
    e = error_of("mu, lv = input -> chunk(2)\n    add_loss(kl_normal(mu, lv), weight=-1)\n    mu", ArgumentError)
    assert "weight must be a number of at least 0, received -1" in str(e)


def test_a_bound_term_is_named_by_its_binding():
    plan = plan_of("mu, lv = input -> chunk(2)\n    div = kl_normal(mu, lv)\n    add_loss(div, weight=0.5)\n    mu")
    added = next(op for op in plan.ops if op.kind == "add_loss")
    assert added.module == "div" and added.expand == (0.5,)


def test_the_cli_shows_a_located_error_with_a_caret(tmp_path):
    from click.testing import CliRunner
    from dlspec.cli import main
    path = tmp_path / "m.dlspec"
    path.write_text(VAE_LINES.format(lines="a, b = input -> linear(5) -> chunk(2)\n    add(a, b)"))
    result = CliRunner().invoke(main, ["compile", str(path)])
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert f"{path}:4:34" in result.output and "^" in result.output


# ---- export -------------------------------------------------------------------------------


def test_the_exported_vae_samples_in_training_and_leaves_add_loss_out():
    torch.manual_seed(0)
    spec = dlspec.load(ROOT / "specs" / "vae_digits.dlspec")
    plan, model = spec.plan(), spec.build().eval()
    source = PythonWriter(plan, model).source()
    assert "torch.chunk(" in source and "if self.training else mu" in source
    assert "# add_loss kl (weight 0.015625) trains the model; not computed here" in source
    assert "kl_normal" not in source and ".exp()" not in source  # the term's only reader is left out, so is it
    weights = io.BytesIO()
    torch.save(model.state_dict(), weights)
    copy = build_from_source(source, weights.getvalue(), "model.py").eval()
    x = torch.rand(3, 1, 8, 8)
    assert torch.equal(copy(x), model(x))
    model.train(), copy.train()
    torch.manual_seed(5)
    want = model(x)
    torch.manual_seed(5)
    assert torch.allclose(copy(x), want, atol=1e-6)


def test_the_vae_traces_to_torchscript_in_evaluation():
    model = dlspec.load(ROOT / "specs" / "vae_digits.dlspec").build().eval()
    x = torch.rand(2, 1, 8, 8)
    traced = torch.jit.trace(model, x)
    assert torch.equal(traced(x), model(x))
