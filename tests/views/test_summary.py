"""compile --show rows: merges with their inputs, an output row, MACs that are right or n/a."""
import pytest
import torch

import dlspec
from dlspec.views.summary import format_table, model_summary


def summary(text, name=None):
    spec = dlspec.loads(text, "m.dlspec")
    return model_summary(spec, name or spec.model_names[0])


def test_merges_get_rows_with_their_inputs_and_the_table_ends_with_the_output():
    s = summary("model M {\n input vector(4)\n y = input -> linear(4)\n param scale(4) = ones\n"
                " z = mul(y, scale)\n concat(z, input, dim=1) -> linear(2)\n}")
    rows = [(r["name"], r["type"], r["output_shape"], r["line"]) for r in s["layers"]]
    assert rows == [("scale", "param", [4], 4), ("linear", "Linear", [4], 3), ("mul", "mul(y, scale)", [4], 5),
                    ("concat", "concat(z, input)", [8], 6), ("linear_1", "Linear", [2], 6),
                    ("output", "output", [2], 1)]


def test_repeat_bodies_show_their_adds():
    s = summary("model M {\n input image(2, 4, 4)\n repeat 2 { y = conv(2, 3, padding=1); add(y, input) }\n}")
    assert [r["name"] for r in s["layers"]] == ["repeat", "repeat.conv", "repeat.add", "repeat_1",
                                                "repeat_1.conv", "repeat_1.add", "output"]
    assert s["layers"][2]["type"] == "add(y, input)"


@pytest.mark.parametrize("text, expected", [
    # d=16, T=10, feed-forward 32: q/k/v 10*16*48, scores and weighted sum 2*10*10*16, out 10*16*16,
    # feed-forward 2*10*16*32; then linear 16*2
    ("model T {\n input sequence(10, 16)\n torch.nn.TransformerEncoderLayer(16, 2, dim_feedforward=32, "
     "batch_first=true) -> mean_time -> linear(2)\n}", 7680 + 3200 + 2560 + 10240 + 32),
    # 10 steps * 4 gates * 16 * (4 + 16), then linear 16
    ("model L {\n input sequence(10, 4)\n torch.nn.LSTM(4, 16, batch_first=true) -> last -> linear(1)\n}",
     12800 + 16),
    ("model C {\n input image(3, 16, 16)\n conv(8, 3) -> relu -> torch.nn.Conv2d(8, 4, 3) -> flatten -> linear(5)\n}",
     14 * 14 * 8 * 27 + 12 * 12 * 4 * 72 + 576 * 5),
])
def test_macs_count_torch_nn_layers(text, expected):
    assert summary(text)["macs"] == expected


def test_recurrent_and_embedding_layers_are_counted():
    s = summary("model E {\n input tokens(10, vocab=100)\n embedding(8) -> lstm(6) -> last -> linear(2)\n}")
    lstm = next(r for r in s["layers"] if r["name"] == "lstm")
    assert lstm["macs"] == 10 * 4 * 6 * (8 + 6)
    assert next(r for r in s["layers"] if r["name"] == "embedding")["macs"] == 0
    assert s["macs"] == lstm["macs"] + 6 * 2


def test_work_that_cannot_be_counted_is_na_not_a_number():
    from dlspec.layers.registry import LayerDef, register_layer

    class Opaque(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.ones(4))

        def forward(self, x):
            return x * self.w  # elementwise: invisible to the FLOP counter

    register_layer(LayerDef("opaque_macs_test", (), lambda s, a: s, lambda s, a: Opaque(), "", source="plugin x"),
                   override=True)
    s = summary("model O {\n input vector(4)\n linear(4) -> opaque_macs_test\n}")
    assert s["macs"] is None and s["macs_not_counted"] == ["opaque_macs_test (line 3)"]
    assert "Estimated MACs:    n/a (not counted: opaque_macs_test (line 3))" in format_table(s)
