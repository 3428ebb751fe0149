"""attention, transformer_encoder, positional and the activations relu6/hardswish/mish/prelu/softplus,
each compared with a hand-written torch reference of its documented meaning (its own weights read back),
at batch sizes 1, 2, 3 and a batch equal to T; padding never changes a result; errors at the line."""
import math

import pytest
import torch
import torch.nn.functional as F

import dlspec
from dlspec.errors import ArgumentError, DlspecError, ShapeError
from dlspec.runs.export import example_input, export_python, torchscript_file

STEPS, FEATURES = 5, 6  # T differs from F and from the small batch sizes: an axis mix-up cannot hide
BATCHES = (1, 2, 3, STEPS)


def build(body, name="M"):
    spec = dlspec.loads(f"model {name} {{\n{body}\n}}")
    return spec, spec.build(name).eval()


def real_steps(lengths, steps):
    """[B, T] True at the real (unpadded) steps; all True without lengths."""
    if lengths is None:
        return None
    return torch.arange(steps)[None, :] < lengths[:, None]


# ---- references: the documented meaning written out with plain tensor operations ----

def reference_attention(mha, x, lengths=None):
    """Multi-head self-attention: softmax(q k^T / sqrt(d)) v per head, pads never attended, pads out zero."""
    batch, steps, features = x.shape
    heads = mha.num_heads
    per_head = features // heads
    q, k, v = (x @ mha.in_proj_weight.T + mha.in_proj_bias).chunk(3, dim=-1)
    q, k, v = (t.reshape(batch, steps, heads, per_head).transpose(1, 2) for t in (q, k, v))
    scores = q @ k.transpose(-1, -2) / math.sqrt(per_head)
    real = real_steps(lengths, steps)
    if real is not None:
        scores = scores.masked_fill(~real[:, None, None, :], float("-inf"))
    mixed = (scores.softmax(-1) @ v).transpose(1, 2).reshape(batch, steps, features)
    out = mixed @ mha.out_proj.weight.T + mha.out_proj.bias
    return out if real is None else out * real[:, :, None]


def reference_encoder(encoder, x, lengths=None):
    """Post-norm transformer encoder layers: x = norm1(x + attention(x)); x = norm2(x + linear2(relu(linear1(x))))."""
    features = x.shape[-1]
    for layer in encoder.layers:
        attended = reference_attention(layer.self_attn, x, lengths)
        x = F.layer_norm(x + attended, (features,), layer.norm1.weight, layer.norm1.bias, layer.norm1.eps)
        fed = F.relu(x @ layer.linear1.weight.T + layer.linear1.bias) @ layer.linear2.weight.T + layer.linear2.bias
        x = F.layer_norm(x + fed, (features,), layer.norm2.weight, layer.norm2.bias, layer.norm2.eps)
    real = real_steps(lengths, x.shape[1])
    return x if real is None else x * real[:, :, None]


def vaswani_table(max_len, features):
    """PE[p, 2i] = sin(p / 10000^(2i/F)), PE[p, 2i+1] = cos(p / 10000^(2i/F)), written out entry by entry."""
    return torch.tensor([[math.sin(p / 10000 ** (i / features)) if i % 2 == 0
                          else math.cos(p / 10000 ** ((i - 1) / features)) for i in range(features)]
                         for p in range(max_len)])


def reference_positional(module, x):
    table = module.weight if module.kind == "learned" else vaswani_table(x.shape[1], x.shape[-1])
    return x + table[: x.shape[1]]


REFERENCES = {  # spec line -> (what to compare against, given the built module and the input)
    "attention(2)": lambda m, x: reference_attention(m.attention, x),
    "attention(3, dropout=0.2)": lambda m, x: reference_attention(m.attention, x),
    "transformer_encoder(2, 3)": lambda m, x: reference_encoder(m.encoder, x),
    "transformer_encoder(1, 2, ff=7, dropout=0)": lambda m, x: reference_encoder(m.encoder, x),
    "positional(9)": reference_positional,
    f"positional({STEPS}, kind=sinusoidal)": reference_positional,
    "relu6": lambda m, x: x.clamp(0, 6),
    "hardswish": lambda m, x: x * (x + 3).clamp(0, 6) / 6,
    "mish": lambda m, x: x * torch.tanh(torch.log1p(torch.exp(x))),
    "prelu(init=0.1)": lambda m, x: torch.where(x >= 0, x, m.weight * x),
    "softplus(beta=2, threshold=3)": lambda m, x: torch.where(2 * x > 3, x, torch.log1p(torch.exp(2 * x)) / 2),
}


@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("line", list(REFERENCES))
def test_layer_equals_its_torch_reference(line, batch):
    spec, model = build(f"input sequence({STEPS}, {FEATURES})\n{line}")
    x = torch.randn(batch, STEPS, FEATURES) * 3  # large enough to reach relu6's cap and softplus's threshold
    with torch.no_grad():
        y = model(x)
        assert tuple(y.shape) == (batch,) + spec.plan().out_shape.dims
        assert torch.allclose(y, REFERENCES[line](model[0], x), atol=1e-5)


def test_the_learned_positional_weight_is_trained_and_the_sinusoidal_table_is_not_saved():
    _, learned = build(f"input sequence({STEPS}, {FEATURES})\npositional(9)")
    _, fixed = build(f"input sequence({STEPS}, {FEATURES})\npositional(9, kind=sinusoidal)")
    assert [(k, tuple(v.shape)) for k, v in learned.named_parameters()] == [("positional.weight", (9, FEATURES))]
    assert list(fixed.state_dict()) == [] and list(fixed.parameters()) == []
    _, huge = build(f"input sequence({STEPS}, {FEATURES})\npositional(1000000000000, kind=sinusoidal)")
    assert tuple(huge[0].table.shape) == (STEPS, FEATURES)  # only the rows this model reads are computed


def test_transformer_encoder_is_torchs_with_ff_four_times_the_features():
    _, model = build("input sequence(7, 8)\ntransformer_encoder(3, 2)")
    ours = model[0].encoder
    torchs = torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(8, 2, dim_feedforward=32, batch_first=True), 3)
    assert [(k, v.shape) for k, v in ours.state_dict().items()] == [(k, v.shape) for k, v in torchs.state_dict().items()]
    torchs.load_state_dict(ours.state_dict())
    x = torch.randn(7, 7, 8)
    with torch.no_grad():
        assert torch.allclose(model(x), torchs.eval()(x), atol=1e-5)


# ---- padding ----

HEADS = ["mean_time", "max_time", "last"]
TOKEN_BODIES = {
    "attention": "embedding(6, padding_idx=0) -> positional(8) -> attention(2)",
    "transformer_encoder": "embedding(6, padding_idx=0) -> positional(8, kind=sinusoidal) "
                           "-> transformer_encoder(2, 3, dropout=0)",
    "both": "embedding(6) -> attention(3) -> relu -> transformer_encoder(1, 2, ff=5) -> attention(1)",
}


@pytest.mark.parametrize("head", HEADS)
@pytest.mark.parametrize("body", list(TOKEN_BODIES))
def test_padding_never_changes_a_prediction(body, head):
    spec, model = build(f"input tokens(8, vocab=30)\n{TOKEN_BODIES[body]} -> {head}\nlinear(2)")
    alone = torch.tensor([[4, 9, 2, 0, 0, 0, 0, 0]])
    batch = torch.tensor([[1, 2, 3, 4, 5, 6, 7, 8], [4, 9, 2, 0, 0, 0, 0, 0], [7, 5, 3, 11, 0, 0, 0, 0]])
    unpadded = dlspec.loads(f"model M {{\ninput tokens(3, vocab=30)\n{TOKEN_BODIES[body]} -> {head}\nlinear(2)\n}}").build()
    unpadded.load_state_dict(model.state_dict())
    with torch.no_grad():
        expected = unpadded.eval()(alone[:, :3])  # the sentence with no pad at all
        assert torch.allclose(model(alone), expected, atol=1e-5)
        assert torch.allclose(model(batch)[1:2], expected, atol=1e-5)


@pytest.mark.parametrize("line, reference", [
    ("attention(2)", lambda m, x, lengths: reference_attention(m.attention, x, lengths)),
    ("transformer_encoder(2, 3, dropout=0)", lambda m, x, lengths: reference_encoder(m.encoder, x, lengths)),
])
def test_masked_layers_equal_their_reference_with_the_lengths_of_the_tokens(line, reference):
    _, model = build(f"input tokens(7, vocab=20)\nembedding({FEATURES}) -> {line}")
    tokens = torch.tensor([[3, 5, 0, 0, 0, 0, 0], [3, 5, 9, 9, 9, 9, 1], [2, 0, 0, 0, 0, 0, 0]])
    with torch.no_grad():
        assert torch.allclose(model(tokens), reference(model[1], model[0](tokens), torch.tensor([2, 7, 1])), atol=1e-5)


def test_padded_steps_come_out_zero_and_real_steps_see_no_pad():
    _, model = build("input tokens(6, vocab=20)\nembedding(4) -> transformer_encoder(1, 2, dropout=0)")
    tokens = torch.tensor([[3, 5, 0, 0, 0, 0], [3, 5, 9, 9, 9, 0]])
    with torch.no_grad():
        out = model(tokens)
        model[1].context.by_steps = {}  # the two real steps alone, through the layer itself: nothing to mask
        alone = model[1](model[0](tokens[:1, :2]))
    assert torch.equal(out[0, 2:], torch.zeros(4, 4)) and torch.equal(out[1, 5:], torch.zeros(1, 4))
    assert torch.allclose(out[0, :2], alone[0], atol=1e-5)


def export_torchscript(model, plan, example, out):
    """model.pt, made and checked in memory by the export (which writes it with the run's other files)."""
    path, data = torchscript_file(model, example, out)
    with open(path, "wb") as f:
        f.write(data)
    return path


@pytest.mark.parametrize("export", [export_python, export_torchscript])
def test_exports_rebuild_attention_models(export, tmp_path):
    spec, model = build("input tokens(8, vocab=30)\nembedding(6) -> positional(8) -> attention(2)\n"
                        "positional(8, kind=sinusoidal) -> transformer_encoder(2, 3) -> max_time\nlinear(2)")
    path = export(model, spec.plan(), example_input(spec.plan()), str(tmp_path))  # checks equal outputs itself
    if export is export_python:
        source = open(path).read()
        assert "import dlspec" not in source and "from dlspec" not in source
        assert "class TransformerEncoder(nn.Module)" in source


# ---- errors, at the line ----

@pytest.mark.parametrize("body, error, message", [
    ("input sequence(5, 6)\nattention(4)", ShapeError,
     r"heads=4 does not divide the feature size 6 .*heads that do: 1, 2, 3, 6"),
    ("input sequence(5, 10)\ntransformer_encoder(2, 3)", ShapeError, r"heads=3 does not divide the feature size 10"),
    ("input image(3, 8, 8)\nattention(1)", ShapeError, r"attention needs a sequence \[T, F\]"),
    ("input vector(8)\ntransformer_encoder(1, 2)", ShapeError, r"transformer_encoder needs a sequence \[T, F\]"),
    ("input tokens(5, vocab=9)\nattention(1)", ShapeError, r"attention needs float features.*put an embedding first"),
    ("input sequence(12, 4)\npositional(10)", ShapeError, r"the sequence has 12 steps, more than max_len=10"),
    ("input sequence(5, 4)\npositional(10, kind=cosine)", ArgumentError,
     r"argument 'kind' must be one of learned, sinusoidal; received the name 'cosine'"),
    ("input sequence(5, 4)\nattention(0)", ArgumentError, r"argument 'heads' must be positive; received 0"),
    ("input sequence(5, 4)\ntransformer_encoder(1000000000, 2)", ArgumentError,
     r"argument 'layers' must be at most 10,000 \(a model's limit of layers\); received 1000000000"),
    ("input sequence(5, 4)\nsoftplus(beta=0)", ArgumentError, r"argument 'beta' must be positive; received 0"),
])
def test_bad_input_is_refused_at_its_line(body, error, message):
    with pytest.raises(error, match=message) as caught:
        dlspec.loads(f"model M {{\n{body}\n}}").plan()
    assert caught.value.loc.line == 3 and isinstance(caught.value, DlspecError)

