"""Token batches padded to their longest sentence: the same outputs as padding to max_len for every model the
plan lets through (recurrent, bidirectional, the time selectors, attention with its masks), max_len kept
(and said why) for models that need every step, and `bucket N`: every sample once per epoch, seeded, in
batches of similar lengths, with located errors for a bad setting."""
import pytest
import torch

import dlspec
from dlspec.api import compile_spec
from dlspec.data.config import read_data
from dlspec.data.padding import bucketed_batches, token_lengths, trim_tokens
from dlspec.data.pipeline import build_data
from dlspec.errors import DlspecError
from dlspec.planning.lengths import full_steps_needed

MAX_LEN = 20

# bodies after `embedding(8, padding_idx=0)` whose output does not depend on the pads after a batch's longest
# sentence: the plan says so, and so must the outputs
PER_BATCH = {
    "lstm": "lstm(6) -> max_time",
    "lstm_last": "lstm(6) -> last",
    "gru_mean": "gru(5) -> mean_time",
    "bilstm_max": "lstm(6, bidirectional=true) -> max_time",
    "bigru_last": "gru(5, bidirectional=true) -> last",
    "stacked": "lstm(6, layers=2, bidirectional=true) -> dropout(0.3) -> mean_time",
    "rnn_last": "rnn(4) -> last",
    "gru_hidden": "gru(6, layers=2, bidirectional=true) -> hidden",
    "lstm_hidden": "lstm(6) -> hidden",
    "attention": "positional(20) -> attention(2) -> mean_time",
    "encoder": "positional(20, kind=sinusoidal) -> transformer_encoder(1, 2, ff=16, dropout=0) -> max_time",
    "conv_same": "conv(8, 3, padding=1) -> relu -> global_maxpool",
    "layernorm": "linear(8) -> relu -> layernorm -> lstm(4) -> last",
}
# bodies whose results depend on the padded length: (body, the layer named, words of the reason)
FULL_STEPS = {
    "flatten": ("flatten", "flatten", "position of its input"),
    "conv_valid": ("conv1d(8, 3) -> global_maxpool", "conv1d", "at least its window"),
    "adaptive": ("adaptive_avgpool(4) -> flatten", "adaptive_avgpool", "scales its windows"),
    "batchnorm": ("batchnorm -> lstm(4) -> last", "batchnorm", "statistics"),
    "tagger": ("lstm(6)", "the output", "one value per input step"),
    "softmax_time": ("softmax(dim=1) -> max_time", "softmax", "position of its input"),
}


def token_model(body: str, steps: int = MAX_LEN):
    return dlspec.loads(f"model M {{\n input tokens({steps}, vocab=50)\n embedding(8, padding_idx=0)\n {body}\n"
                        " linear(3)\n}\n")


def padded_batch(lengths, steps=MAX_LEN, seed=0):
    """Token ids [B, steps] with the given real lengths (ids 1..49), pads 0 on the right."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.zeros(len(lengths), steps, dtype=torch.long)
    for row, n in enumerate(lengths):
        x[row, :n] = torch.randint(1, 50, (n,), generator=gen)
    return x


@pytest.mark.parametrize("body", PER_BATCH.values(), ids=PER_BATCH.keys())
def test_padding_per_batch_gives_the_outputs_of_padding_to_max_len(body):
    spec = token_model(body)
    assert full_steps_needed(spec.plan("M")) is None
    torch.manual_seed(0)
    model = spec.build("M").eval()
    for lengths in ([3, 7, 5], [1, 2], [4], [12, 12, 9, 1]):
        x = padded_batch(lengths)
        cut = trim_tokens(x)
        assert cut.shape[1] == max(lengths)
        with torch.no_grad():
            assert torch.allclose(model(cut), model(x), atol=1e-6, rtol=0), lengths


@pytest.mark.parametrize("body", ["lstm(6, bidirectional=true) -> max_time", "gru(5) -> last"])
def test_training_gradients_are_those_of_padding_to_max_len(body):
    torch.manual_seed(0)
    model = token_model(body).build("M").train()
    x, y = padded_batch([2, 9, 6]), torch.tensor([0, 2, 1])
    grads = []
    for batch in (x, trim_tokens(x)):
        model.zero_grad()
        torch.nn.functional.cross_entropy(model(batch), y).backward()
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters()]))
    assert torch.allclose(grads[0], grads[1], atol=1e-6, rtol=0)


@pytest.mark.parametrize("case", FULL_STEPS.values(), ids=FULL_STEPS.keys())
def test_a_model_that_needs_every_step_keeps_max_len_and_says_why(case):
    body, layer, words = case
    blocker = full_steps_needed(token_model(body).plan("M"))
    assert blocker is not None and blocker.name == layer and words in blocker.describe()
    if layer != "the output":
        assert f"{layer} at line 4" in blocker.describe()


def test_trimming_keeps_every_real_id_and_leaves_other_batches_alone():
    x = padded_batch([5, 3])
    x[1, 1] = 0  # a pad-id inside a sentence: the cut keeps everything up to the last real id
    cut = trim_tokens(x)
    assert torch.equal(cut, x[:, :5]) and token_lengths(x).tolist() == [5, 3]
    assert trim_tokens(torch.zeros(2, 6, dtype=torch.long)).shape == (2, 1)  # never an empty batch
    images = torch.rand(4, 6)
    assert trim_tokens(images) is images


def test_bucketing_gives_every_sample_once_per_epoch_in_batches_of_similar_lengths():
    lengths = torch.randint(1, 40, (203,), generator=torch.Generator().manual_seed(3))
    order = torch.randperm(203, generator=torch.Generator().manual_seed(4))
    batches = bucketed_batches(order, lengths, 16, 4, torch.Generator().manual_seed(5))
    flat = torch.cat(batches)
    assert sorted(flat.tolist()) == list(range(203))
    assert [len(b) for b in batches[:-1]] == [16] * 12 and len(batches[-1]) == 203 - 12 * 16
    spread = sum(int(lengths[b].max() - lengths[b].min()) for b in batches) / len(batches)
    unbucketed = sum(int(lengths[b].max() - lengths[b].min()) for b in order.split(16)) / len(batches)
    assert spread < unbucketed / 2, (spread, unbucketed)
    again = bucketed_batches(order, lengths, 16, 4, torch.Generator().manual_seed(5))
    assert all(torch.equal(a, b) for a, b in zip(batches, again))
    other = bucketed_batches(order, lengths, 16, 4, torch.Generator().manual_seed(6))
    assert any(not torch.equal(a, b) for a, b in zip(batches, other))


def sentences(tmp_path, count=90):
    words = ["good", "bad", "fine", "movie", "plot", "actor", "long", "dull", "great"]
    gen = torch.Generator().manual_seed(0)
    lines = []
    for i in range(count):
        n = int(torch.randint(1, 15, (1,), generator=gen))
        lines.append(" ".join(words[(i + k) % len(words)] for k in range(n)) + f"\t{i % 2}")
    path = tmp_path / "s.tsv"
    path.write_text("\n".join(lines) + "\n")
    return path


def data_block(tmp_path, settings: str):
    text = f'data d {{\n source text("{sentences(tmp_path)}", max_len=16)\n split train=0.8 test=0.2 seed=1\n' \
           f' {settings}\n}}\n'
    spec = dlspec.loads(text, str(tmp_path / "s.dlspec"))
    return read_data(spec.program.data["d"], spec.program.global_env())


@pytest.mark.parametrize("cache", ["auto", "none"])
def test_the_bucket_setting_orders_each_epoch_seeded_on_both_routes(tmp_path, cache):
    loader = build_data(data_block(tmp_path, f"batch 8\n bucket 3\n cache {cache}")).loaders["train"]
    loader.pad_per_batch = True
    epochs = []
    for epoch in (0, 1, 0):
        loader.set_epoch(epoch)
        epochs.append([(x.clone(), y.clone()) for x, y in loader])
    rows = torch.cat([x[:, :1] for x, _ in epochs[0]])
    assert len(rows) == 72 and len(epochs[0]) == len(loader) == 9
    assert all(x.shape[1] == int(token_lengths(x).max()) for x, _ in epochs[0])  # each cut to its longest
    assert all(torch.equal(a[0], b[0]) for a, b in zip(epochs[0], epochs[2]))  # (seed, epoch) decide
    assert any(a[0].shape != b[0].shape or not torch.equal(a[0], b[0]) for a, b in zip(epochs[0], epochs[1]))
    every = sorted(tuple(r.tolist()) for x, _ in epochs[1] for r in torch.nn.functional.pad(x, (0, 16 - x.shape[1])))
    loader.bucket = None
    plain = sorted(tuple(r.tolist()) for x, _ in loader for r in torch.nn.functional.pad(x, (0, 16 - x.shape[1])))
    assert every == plain  # the same samples, each once


@pytest.mark.parametrize("setting, words", [
    ("bucket 0", "must be positive; received 0"), ("bucket -2", "must be positive"), ("bucket 2.5", "int"), ("bucket 2 3", "takes one value"),
])
def test_bad_bucket_settings_are_located(tmp_path, setting, words):
    with pytest.raises(DlspecError) as err:
        data_block(tmp_path, setting)
    assert words in str(err.value) and err.value.loc.line == 4 and setting in str(err.value), str(err.value)


def test_bucket_on_data_without_sentences_is_refused_at_its_line():
    spec = dlspec.loads("data d {\n source sklearn_digits\n bucket 4\n}\n")
    with pytest.raises(DlspecError) as err:
        read_data(spec.program.data["d"], spec.program.global_env())
    assert err.value.loc.line == 3 and "grayscale image samples, not token ids" in str(err.value)
    assert "labelled_sentences" in err.value.hint and "text" in err.value.hint


def test_bucket_none_is_no_bucketing(tmp_path):
    assert data_block(tmp_path, "bucket none").bucket is None


def test_show_and_the_fit_header_say_what_token_batches_are_padded_to(tmp_path):
    path = sentences(tmp_path)
    for body, words in (("lstm(6) -> last", "padded to their longest sentence, grouped by length (2 batches"),
                        ("flatten", "padded to max_len 16, grouped by length (2 batches to a pool) (flatten at line 4")):
        text = (f"model M {{\n input tokens(16)\n embedding(8, padding_idx=0)\n {body}\n linear(2)\n}}\n"
                f'data d {{\n source text("{path}", max_len=16)\n batch 8\n bucket 2\n}}\n'
                "train {\n model M\n data d\n epochs 1\n}\n")
        (tmp_path / "m.dlspec").write_text(text)
        shown = compile_spec(str(tmp_path / "m.dlspec"), describe=True).data_paths["d"]
        assert words in shown, shown
        lines = []
        dlspec.fit(str(tmp_path / "m.dlspec"), out=str(tmp_path / body.split("(")[0]), log=lines.append,
                   progress=False)
        assert any(words in line for line in lines), lines


def test_the_per_sample_dataloader_cuts_its_batches_too():
    from dlspec.data.loaders import EpochDataLoader
    ids = padded_batch([3, 5, 2, 4])
    samples = [(ids[i], i % 2) for i in range(4)]
    loader = EpochDataLoader(samples, batch_size=2, shuffle=False, seed=0)
    assert [x.shape[1] for x, _ in loader] == [MAX_LEN, MAX_LEN]
    loader.pad_per_batch = True
    batches = list(loader)
    assert [x.shape[1] for x, _ in batches] == [5, 4] and torch.equal(batches[0][0], ids[:2, :5])


@pytest.mark.parametrize("body, blocked", [("flatten -> linear(2)", "flatten at line 3"),
                                           ("lstm(4) -> last -> linear(2)", None)])
def test_a_named_token_input_is_followed_like_the_unnamed_one(body, blocked):
    spec = dlspec.loads(f"model M {{\n input words: tokens(20, vocab=50)\n"
                        f" output h = words -> embedding(8, padding_idx=0) -> {body}\n}}\n")
    blocker = full_steps_needed(spec.plan("M"))
    assert (blocker is None) if blocked is None else blocked in blocker.describe()
