"""The padding lengths of a token model follow every layer that changes its number of time steps (conv,
pooling, upsample): a sentence gives the same output alone or padded beside others, nothing crashes
when a batch holds a full-length sentence, and a layer that loses the lengths before a step that needs
them is refused at its line."""
import subprocess
import sys

import pytest
import torch

import dlspec
from dlspec.errors import DlspecError
from dlspec.planning.lengths import LENGTH_AWARE, time_rule
from dlspec.planning.nodes import LayerNode, iter_nodes

T = 12
SENTENCE = [5, 6, 7, 8, 9] + [0] * (T - 5)
FULL = list(range(1, T + 1))
SHORT = [3, 3, 3] + [0] * (T - 3)

# every layer that changes the steps of a [T, F] sequence by a rule; True: exact (the output does not
# depend on how many pads follow the sentence), False: approximate (windows that scale with T)
CHANGERS = {
    "conv(6, 3)": True, "conv(6, 3, padding=1)": True, "conv(6, 3, stride=2)": True,
    "conv(6, 2, dilation=2, padding=1)": True, "conv1d(6, 4, stride=3)": True, "conv(6, 3, padding=same)": True,
    "maxpool(2)": True, "maxpool(3, stride=2, padding=1, ceil_mode=true)": True, "avgpool(2)": True,
    "avgpool(3, ceil_mode=true)": False, "adaptive_avgpool(4)": False, "adaptive_maxpool(5)": False,
    "global_avgpool": True, "global_maxpool": True, "upsample(2)": True, "upsample(size=30)": False,
}
# the steps after them that read the lengths
READERS = ["lstm(4) -> last", "gru(3, bidirectional=true) -> mean_time", "attention(2) -> mean_time",
           "max_time", "last", "transformer_encoder(1, 2, ff=8, dropout=0) -> max_time", "lstm_cell(3) -> last"]


def model_for(changer, reader, steps=T):
    return dlspec.loads(f"model M {{\n input tokens({steps}, vocab=30)\n embedding(8, padding_idx=0) -> {changer} -> "
                        f"{reader}\n linear(2)\n}}")


def test_every_channels_first_layer_that_changes_steps_has_a_rule_or_is_refused():
    """The registry's channels-first layers that can change a sequence's steps: each is in CHANGERS (it has a
    rule) or conv_transpose (refused before a reader, below)."""
    from dlspec.layers.registry import LAYERS
    changing = {layer.name for layer in LAYERS.entries() if layer.channels_first and layer.source == "built-in"
                and not layer.name.endswith(("norm", "dropout2d")) and layer.name not in ("conv2d", "conv3d")}
    covered = {c.split("(")[0] for c in CHANGERS} | {"conv_transpose"}
    assert changing <= covered, changing - covered


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize("changer", CHANGERS)
def test_a_sentence_gives_the_same_output_alone_or_padded_in_a_batch(changer, reader):
    torch.manual_seed(0)
    model = model_for(changer, reader).build().eval()
    batches = [[SENTENCE], [SENTENCE, FULL], [FULL, SENTENCE, SHORT]]  # batch sizes 1, 2, 3
    with torch.no_grad():
        outs = [model(torch.tensor(batch)) for batch in batches]
    alone = outs[0][0]
    assert torch.isfinite(torch.cat(outs)).all()
    assert torch.allclose(outs[1][0], alone, atol=1e-5) and torch.allclose(outs[2][1], alone, atol=1e-5)
    with torch.no_grad():  # the full-length sentence alone and beside shorter ones
        assert torch.allclose(model(torch.tensor([FULL]))[0], outs[2][0], atol=1e-5)


@pytest.mark.parametrize("reader", ["lstm(4) -> last", "attention(2) -> mean_time", "max_time", "gru(3) -> last"])
@pytest.mark.parametrize("changer", [c for c, exact in CHANGERS.items() if exact])
def test_the_pads_after_a_sentence_never_reach_its_output(changer, reader):
    """The same weights on 12 and on 20 steps: a sentence's output does not depend on how many pads follow it
    (the pads are left out of the windows, and the steps past its length after them)."""
    torch.manual_seed(0)
    short, long = model_for(changer, reader).build().eval(), model_for(changer, reader, 20).build().eval()
    long.load_state_dict(short.state_dict())
    with torch.no_grad():
        assert torch.allclose(short(torch.tensor([SENTENCE])), long(torch.tensor([SENTENCE + [0] * 8])), atol=1e-5)


@pytest.mark.parametrize("changer, lengths", [
    ("conv(4, 3)", [3, 10]), ("conv(4, 3, stride=2)", [2, 5]), ("maxpool(2)", [2, 6]),
    ("maxpool(2, ceil_mode=true)", [3, 6]), ("avgpool(5, stride=2, padding=2)", [3, 6]),
    ("adaptive_maxpool(3)", [2, 3]), ("global_avgpool", [1, 1]), ("upsample(2)", [10, 24]),
])
def test_the_lengths_after_a_layer_are_its_own_arithmetic_on_the_real_lengths(changer, lengths):
    model = model_for(changer, "last").build().eval()
    context = model[-2].context  # last's
    with torch.no_grad():
        model(torch.tensor([SENTENCE, FULL]))
    seen = [lens.tolist() for steps, lens in context.by_steps.items() if steps != T]
    assert seen == [lengths]


def test_rules_are_made_for_sequences_only():
    plan = dlspec.loads("model M {\n input image(3, 8, 8)\n conv(4, 3) -> maxpool(2)\n}").plan()
    assert all(time_rule(node) is None for _, node, _ in iter_nodes(plan) if isinstance(node, LayerNode))


# ---- refused at compile ----

@pytest.mark.parametrize("changer, line, what", [
    ("reshape(24, 4, layout=\"TF\")", 3, "reshape changes the time axis (12 steps -> 24 steps)"),
    ("conv_transpose(4, 2, stride=2)", 3, "conv_transpose changes the time axis (12 steps -> 24 steps)"),
    ("permute(2, 1) -> reshape(12, 8, layout=\"TF\")", 3, "permute moves the time axis (12 steps -> 12 steps)"),
    ("flatten -> reshape(12, 8, layout=\"TF\")", 3, "reshape changes the time axis (no time axis -> 12 steps)"),
])
@pytest.mark.parametrize("reader", sorted(LENGTH_AWARE - {"lstm_cell", "gru_cell"}))
def test_a_layer_that_loses_the_lengths_before_a_reader_is_refused_at_its_line(changer, line, what, reader):
    call = {"rnn": "rnn(4)", "lstm": "lstm(4)", "gru": "gru(4)", "attention": "attention(2)",
            "transformer_encoder": "transformer_encoder(1, 2)"}.get(reader, reader)
    text = (f"model M {{\n input tokens({T}, vocab=30)\n embedding(8) -> {changer}\n relu\n {call}\n}}")
    with pytest.raises(DlspecError) as info:
        dlspec.loads(text, "m.dlspec").plan()
    message = info.value.message
    assert what in message and f"so {reader} after it (line 5) cannot leave out the pads" in message
    assert info.value.line == line and "conv, maxpool, avgpool, upsample or global pooling" in info.value.hint


def test_concat_along_time_loses_the_lengths_at_its_line():
    text = (f"model M {{\n input tokens({T}, vocab=30)\n e = input -> embedding(8)\n"
            f" both = concat(e, e, dim=1)\n both -> lstm(4) -> last\n}}")
    with pytest.raises(DlspecError, match=r"concat changes the time axis \(12 steps -> 24 steps\)") as info:
        dlspec.loads(text, "m.dlspec").plan()
    assert info.value.line == 4 and "lstm after it (line 5)" in info.value.message


@pytest.mark.parametrize("text", [
    "embedding(8) -> reshape(24, 4, layout=\"TF\") -> flatten -> linear(2)",  # nothing reads the lengths
    "embedding(8) -> lstm(4) -> reshape(24, 2, layout=\"TF\") -> flatten",  # read before the change
    "embedding(8) -> conv_transpose(4, 1)\n lstm(4) -> last",  # the steps stay 12: nothing lost
])
def test_a_change_without_a_reader_after_it_is_accepted(text):
    dlspec.loads(f"model M {{\n input tokens({T}, vocab=30)\n {text}\n}}").build()


def test_sequence_models_without_tokens_are_not_checked():
    dlspec.loads("model M {\n input sequence(12, 4)\n reshape(24, 2, layout=\"TF\") -> lstm(3) -> last\n}").build()


# ---- exports and training ----

def test_the_python_export_carries_the_lengths(tmp_path):
    from dlspec.runs.export import example_input, export_python
    spec = model_for("maxpool(2) -> conv(6, 3, padding=1)", "lstm(4) -> last")
    plan, model = spec.plan(), spec.build().eval()
    path = export_python(model, plan, example_input(plan), str(tmp_path))  # checks equal outputs on pads too
    assert "ChannelsFirst(1, ('window', 2, 2, 0, 1, False, True), context)" in open(path).read()
    sys.path.insert(0, str(tmp_path))
    try:
        import importlib
        exported = importlib.import_module("model").build(str(tmp_path / "weights.pt")).eval()
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("model", None)
    batch = torch.tensor([SENTENCE, FULL, SHORT])
    with torch.no_grad():
        assert torch.allclose(exported(batch), model(batch), atol=1e-6)
        assert torch.allclose(exported(batch[:1]), model(batch)[:1], atol=1e-6)


@pytest.mark.slow
def test_onnx_export_carries_the_lengths(tmp_path):
    pytest.importorskip("onnxruntime")
    import onnxruntime
    from dlspec.runs.export import example_input
    from dlspec.runs.export_onnx import onnx_files
    spec = model_for("conv(6, 3, stride=2) -> maxpool(2, ceil_mode=true)", "attention(2) -> mean_time")
    plan, model = spec.plan(), spec.build().eval()
    path, files = onnx_files(model, example_input(plan), str(tmp_path))
    for name, data in files.items():
        with open(name, "wb") as f:
            f.write(data)
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    batch = torch.tensor([SENTENCE, FULL, SHORT])
    with torch.no_grad():
        expected = model(batch)
    for rows in (batch, batch[:1], batch[2:]):
        got = torch.from_numpy(session.run(None, {"input": rows.numpy()})[0])
        assert torch.allclose(got, model(rows), atol=1e-5)
    assert torch.allclose(torch.from_numpy(session.run(None, {"input": batch[:1].numpy()})[0]), expected[:1], atol=1e-5)


def test_fit_of_a_conv_before_an_lstm_on_text_runs(tmp_path):
    words = ["good", "bad", "film", "the", "a", "great", "awful", "dull", "fine", "sad"]
    lines = []
    for i in range(40):
        length = 8 if i % 5 == 0 else 2 + i % 6  # some sentences fill all 8 steps
        lines.append(" ".join(words[(i * 7 + j * 3) % len(words)] for j in range(length)) + f"\t{i % 2}")
    (tmp_path / "sent.tsv").write_text("\n".join(lines) + "\n")
    (tmp_path / "txtconv.dlspec").write_text(
        "model C {\n    input tokens(8)\n    embedding(8, padding_idx=0) -> conv(8, 3) -> lstm(8) -> last\n"
        "    linear(2)\n}\n"
        'data d { source text("sent.tsv", max_len=8); split train=0.7 val=0.15 test=0.15; batch 8 }\n'
        "train { model C; data d; epochs 1; device cpu }\n")
    done = subprocess.run([sys.executable, "-m", "dlspec", "fit", "txtconv.dlspec"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Traceback" not in done.stderr and "exceeds dimension size" not in done.stderr
