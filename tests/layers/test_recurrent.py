"""Recurrent layers and time selectors, compared with torch's own modules."""
import pytest
import torch

import dlspec
from dlspec.errors import ShapeError


def build(body, name="M"):
    spec = dlspec.loads(f"model {name} {{\n{body}\n}}")
    return spec, spec.build(name).eval()


@pytest.mark.parametrize("kind, cls", [("lstm", torch.nn.LSTM), ("gru", torch.nn.GRU)])
def test_unrolled_cells_match_torch_recurrent_layers(kind, cls):
    spec, model = build(f"input sequence(7, 4)\n{kind}_cell(6)")
    ref = cls(4, 6, batch_first=True)
    cell = model[0].cell
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(ref, f"{name}_l0").copy_(getattr(cell, name))
    x = torch.randn(3, 7, 4)
    with torch.no_grad():
        assert torch.allclose(model(x), ref(x)[0], atol=1e-6)


@pytest.mark.parametrize("layer, cls, kwargs", [
    ("lstm(16, layers=2, bidirectional=true)", torch.nn.LSTM, dict(num_layers=2, bidirectional=True)),
    ("gru(8)", torch.nn.GRU, {}), ("rnn(5, layers=3)", torch.nn.RNN, dict(num_layers=3)),
])
def test_parameter_counts_equal_torch(layer, cls, kwargs):
    spec, model = build(f"input sequence(9, 3)\n{layer}")
    hidden = int(layer.split("(")[1].split(",")[0].rstrip(")"))
    ref = cls(3, hidden, batch_first=True, **kwargs)
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in ref.parameters())
    assert tuple(model(torch.randn(2, 9, 3)).shape[1:]) == spec.plan().out_shape.dims


def test_hidden_concatenates_both_directions():
    spec, model = build("input sequence(5, 3)\nlstm(4, bidirectional=true) -> hidden")
    assert spec.plan().out_shape.dims == (8,)
    x = torch.randn(2, 5, 3)
    rnn = model[0].rnn
    _, (h, _) = rnn(x)
    assert torch.allclose(model(x), torch.cat([h[-2], h[-1]], 1))


@pytest.mark.parametrize("head", ["lstm(6) -> last", "gru(6, bidirectional=true) -> hidden", "lstm_cell(6) -> last",
                                  "rnn(6) -> mean_time", "gru_cell(6) -> max_time", "lstm(6) -> hidden"])
def test_padding_never_changes_a_prediction(head):
    spec, model = build(f"input tokens(8, vocab=30)\nembedding(5) -> {head}\nlinear(2)")
    alone = torch.tensor([[4, 9, 2, 0, 0, 0, 0, 0]])
    batch = torch.tensor([[4, 9, 2, 0, 0, 0, 0, 0], [1, 2, 3, 4, 5, 6, 7, 8], [7, 0, 0, 0, 0, 0, 0, 0]])
    with torch.no_grad():
        assert torch.allclose(model(alone), model(batch)[:1], atol=1e-6)
        shorter = dlspec.loads(f"model M {{\ninput tokens(3, vocab=30)\nembedding(5) -> {head}\nlinear(2)\n}}").build()
        shorter.load_state_dict(model.state_dict())
        assert torch.allclose(shorter.eval()(alone[:, :3]), model(alone), atol=1e-6)


def test_conv1d_over_sequences_convolves_time():
    spec, model = build("input sequence(20, 4)\nconv1d(6, 3, padding=1) -> maxpool(2) -> lstm(5) -> last")
    plan = spec.plan()
    assert [c.out_shape.dims for c in plan.children[:2]] == [(20, 6), (10, 6)]
    conv = model[0]
    x = torch.randn(2, 20, 4)
    expected = torch.nn.functional.conv1d(x.transpose(1, 2), conv.weight, conv.bias, padding=1).transpose(1, 2)
    assert torch.allclose(conv(x), expected, atol=1e-6)


def test_hidden_must_follow_a_recurrent_layer_and_embedding_needs_a_vocabulary():
    with pytest.raises(ShapeError, match="hidden takes the final hidden state"):
        build("input sequence(5, 3)\nlinear(4) -> hidden")[0].plan()
    with pytest.raises(ShapeError, match="needs the vocabulary size"):
        dlspec.loads("model M {\ninput tokens(5)\nembedding(4)\n}").plan()
    with pytest.raises(ShapeError, match="needs a sequence"):
        dlspec.loads("model M {\ninput vector(5)\nlstm(4)\n}").plan()


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("layers, bidirectional", [(1, False), (1, True), (3, False), (2, True)])
def test_the_export_path_gives_what_packing_gives(kind, layers, bidirectional, monkeypatch):
    """While exporting, recurrent layers run without packing (no data-dependent branch): same outputs
    (zero past each sequence's end) and the same final hidden state, padded batch or not."""
    from dlspec.runtime import recurrent
    context = recurrent.SequenceContext()
    with recurrent.building_with(context):
        layer = recurrent.Recurrent(kind, 5, 4, layers, bidirectional, 0.3).eval()
    x = torch.randn(5, 7, 5)
    for lengths in (torch.tensor([7, 3, 1, 5, 2]), torch.full((5,), 7)):
        context.by_steps = {7: lengths}  # the lengths of a 7-step batch
        with torch.no_grad():
            packed, packed_hidden = layer(x), context.hidden
            monkeypatch.setattr(recurrent, "_exporting", lambda: True)
            exported, exported_hidden = layer(x), context.hidden
            monkeypatch.undo()
        assert torch.allclose(exported, packed, atol=1e-6) and torch.allclose(exported_hidden, packed_hidden, atol=1e-6)
        assert not exported[lengths < 7].abs().sum(-1)[:, -1].any()  # past the end: zeros, as pad_packed_sequence
