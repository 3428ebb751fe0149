"""Initialisers: init= and bias_init= on layers, the train block's layer_init rule, vectors() from a file.

Each initialiser of the registry is compared with torch.nn.init called by hand on the same seed (bit for
bit), and its statistics checked on a large layer; every refusal is checked by its message and caret.
"""
import math
import pathlib

import pytest
import torch

from dlspec.compiler import build_model
from dlspec.errors import DlspecError
from dlspec.layers.init import INITIALISERS
from dlspec.planning.layer_init import with_layer_init
from dlspec.runs.python_source import PythonWriter
from dlspec.spec import loads
from dlspec.train.config import read_train
from dlspec.train.vectors import load_vectors

init = torch.nn.init

# written arguments for initialisers with required ones; a new initialiser needs a line here
WRITTEN = {"constant": "constant(0.25)"}
# the same start drawn by hand with torch.nn.init (what the spec's defaults mean, written out)
REFERENCE = {
    "kaiming_normal": lambda t: init.kaiming_normal_(t, a=0, mode="fan_in", nonlinearity="relu"),
    "kaiming_uniform": lambda t: init.kaiming_uniform_(t, a=0, mode="fan_in", nonlinearity="relu"),
    "xavier_normal": lambda t: init.xavier_normal_(t, gain=1.0),
    "xavier_uniform": lambda t: init.xavier_uniform_(t, gain=1.0),
    "orthogonal": lambda t: init.orthogonal_(t, gain=1.0),
    "normal": lambda t: init.normal_(t, 0.0, 1.0),
    "uniform": lambda t: init.uniform_(t, 0.0, 1.0),
    "zeros": init.zeros_,
    "ones": init.ones_,
    "constant": lambda t: init.constant_(t, 0.25),
}
# (expected mean, expected std) of a [fan_out, fan_in] = [400, 300] weight under each default
FAN_IN = 300
STATS = {
    "kaiming_normal": (0.0, math.sqrt(2 / FAN_IN)),
    "kaiming_uniform": (0.0, math.sqrt(2 / FAN_IN)),
    "xavier_normal": (0.0, math.sqrt(2 / (FAN_IN + 400))),
    "xavier_uniform": (0.0, math.sqrt(2 / (FAN_IN + 400))),
    "orthogonal": (0.0, math.sqrt(1 / 400)),  # 300 orthonormal columns of 400 values each
    "normal": (0.0, 1.0),
    "uniform": (0.5, math.sqrt(1 / 12)),
    "zeros": (0.0, 0.0),
    "ones": (1.0, 0.0),
    "constant": (0.25, 0.0),
}
NAMES = [e.name for e in INITIALISERS.entries() if not e.embedding_only]


def spec_text(body: str, extra: str = "") -> str:
    return f"model M {{\n    input image(1, 8, 8)\n    {body}\n}}\n{extra}"


def written(name: str) -> str:
    return WRITTEN.get(name, name)


def test_every_initialiser_has_a_reference_and_expected_statistics():
    assert set(NAMES) == set(REFERENCE) == set(STATS)


@pytest.mark.parametrize("name", NAMES)
def test_init_gives_torch_nn_init_weights_on_the_same_seed(name):
    spec = loads(spec_text(f"conv(4, 3, init={written(name)}) -> flatten -> linear(10, init={written(name)})"))
    torch.manual_seed(7)
    model = spec.build()
    torch.manual_seed(7)
    conv, linear = torch.nn.Conv2d(1, 4, 3), None
    REFERENCE[name](conv.weight)
    linear = torch.nn.Linear(144, 10)
    REFERENCE[name](linear.weight)
    assert torch.equal(model.conv.weight, conv.weight) and torch.equal(model.linear.weight, linear.weight)
    assert torch.equal(model.conv.bias, conv.bias)  # biases keep torch's start without bias_init=


@pytest.mark.parametrize("name", NAMES)
def test_init_statistics_match_the_initialiser(name):
    torch.manual_seed(0)
    weight = loads(f"model M {{ input vector({FAN_IN}); linear(400, init={written(name)}) }}").build()[0].weight
    mean, std = STATS[name]
    assert abs(weight.mean().item() - mean) < 0.01
    assert abs(weight.std().item() - std) < 0.05 * max(std, 0.01)


@pytest.mark.parametrize("name", [n for n in NAMES if not INITIALISERS[n].fan])
def test_bias_init_gives_torch_nn_init_biases(name):
    torch.manual_seed(3)
    model = loads(spec_text(f"flatten -> linear(5, bias_init={written(name)})")).build()
    torch.manual_seed(3)
    linear = torch.nn.Linear(64, 5)
    REFERENCE[name](linear.bias)
    assert torch.equal(model.linear.bias, linear.bias) and torch.equal(model.linear.weight, linear.weight)


def test_without_init_the_weights_are_torchs_as_before():
    torch.manual_seed(11)
    model = loads(spec_text("conv(4, 3) -> flatten -> linear(10)")).build()
    torch.manual_seed(11)
    conv, linear = torch.nn.Conv2d(1, 4, 3), torch.nn.Linear(144, 10)
    assert torch.equal(model.conv.weight, conv.weight) and torch.equal(model.linear.weight, linear.weight)


def test_rnn_init_sets_every_weight_matrix_and_bias_init_every_bias():
    model = loads("model M { input sequence(5, 3); lstm(4, layers=2, bidirectional=true, init=constant(0.5), "
                  "bias_init=constant(-1)) -> last }").build()
    params = dict(model.named_parameters())
    weights = [n for n in params if "weight" in n]
    biases = [n for n in params if "bias" in n]
    assert len(weights) == 8 and len(biases) == 8  # ih and hh, 2 layers, 2 directions
    assert all((params[n] == 0.5).all() for n in weights) and all((params[n] == -1).all() for n in biases)


def test_transformer_init_keeps_its_layer_norms_scales():
    model = loads("model M { input sequence(5, 8); transformer_encoder(1, 2, init=zeros) }").build()
    for name, p in model.named_parameters():
        if "weight" in name:
            expected = 1.0 if "norm" in name else 0.0
            assert (p == expected).all(), name


def test_a_norm_init_sets_its_scale_and_an_embedding_keeps_its_padding_row():
    model = loads(spec_text("batchnorm(init=constant(2), bias_init=constant(0.5))")).build()
    assert (model.batchnorm.weight == 2).all() and (model.batchnorm.bias == 0.5).all()
    emb = loads("model M { input tokens(6, vocab=9); embedding(4, padding_idx=0, init=ones) }").build()[0]
    assert (emb.weight[0] == 0).all() and (emb.weight[1:] == 1).all()


RULE_SPEC = """
model M {
    input image(1, 8, 8)
    conv(4, 3) -> conv2d(4, 3, init=zeros) -> flatten
    linear(10) -> relu -> linear(3)
}
data d { source sklearn_digits }
train t { layer_init conv=ones, linear=constant(0.5) }
"""


def test_layer_init_rule_covers_every_layer_of_a_kind_and_a_layers_own_init_wins():
    spec = loads(RULE_SPEC)
    cfg = read_train(spec, "t")
    model = build_model(with_layer_init(spec.plan("M"), cfg.layer_init))
    assert (model.conv.weight == 1).all()
    assert (model.conv2d.weight == 0).all()  # its own init=, not the rule's
    assert (model.linear.weight == 0.5).all() and (model.linear_1.weight == 0.5).all()
    assert not (spec.build("M").conv.weight == 1).all()  # the spec's own plan is left as the model says


def test_model_py_starts_from_the_same_weights():
    spec = loads(RULE_SPEC.replace("linear(10)", "linear(10, init=kaiming_uniform, bias_init=normal(0, 0.1))"))
    plan = with_layer_init(spec.plan("M"), read_train(spec, "t").layer_init)
    torch.manual_seed(5)
    model = build_model(plan)
    namespace: dict = {}
    exec(compile(PythonWriter(plan, model).source(), "model.py", "exec"), namespace)  # the text dlspec wrote
    torch.manual_seed(5)
    exported = namespace["build"]()
    assert "initialised(" in PythonWriter(plan, model).source()
    for (name, a), (_, b) in zip(model.state_dict().items(), exported.state_dict().items()):
        assert torch.equal(a, b), name


def test_vectors_are_aligned_to_the_vocabulary(tmp_path):
    (tmp_path / "vec.txt").write_text("film 1 2 3\nzebra 9 9 9\ngood 0.5 0.25 0.125\n")
    spec = loads(f'model M {{ input tokens(6, vocab=6); embedding(3, padding_idx=0, '
                 f'init=vectors("vec.txt")) }}', filename=str(tmp_path / "m.dlspec"))
    plan = spec.plan()
    model = build_model(plan)
    vocab = ["<pad>", "<unk>", "good", "bad", "film"]
    torch.manual_seed(0)
    lines = load_vectors(model, plan, vocab)
    weight = model.embedding.weight
    assert lines == ["vec.txt: 2 of 3 words found; 1 start from normal(0, 0.1)"]
    assert weight[2].tolist() == [0.5, 0.25, 0.125] and weight[4].tolist() == [1, 2, 3]
    assert (weight[0] == 0).all()
    missing = torch.cat([weight[1], weight[3], weight[5]])
    assert 0 < missing.abs().max() < 0.5  # normal(0, 0.1), not the embedding's N(0, 1)


def vectors_of(tmp_path, data: bytes, vocab: list, width: int = 3):
    """The embedding rows load_vectors gives `vocab` from a vectors file holding `data`, and its log line."""
    (tmp_path / "vec.txt").write_bytes(data)
    spec = loads(f'model M {{ input tokens(6, vocab={len(vocab)}); embedding({width}, padding_idx=0, '
                 f'init=vectors("vec.txt")) }}', filename=str(tmp_path / "m.dlspec"))
    plan = spec.plan()
    model = build_model(plan)
    lines = load_vectors(model, plan, vocab)
    return model.embedding.weight, lines


def test_vectors_read_a_byte_order_mark_tabs_crlf_and_a_word_holding_spaces(tmp_path):
    """Files saved on Windows (a BOM, CRLF), tab-separated and fastText's trailing space, and GloVe 840B's
    words of several tokens (`. . .`) all give their vectors; a word given twice keeps its first."""
    data = ("\ufeffgood 1 2 3\r\n\r\nbad\t4\t5\t6\r\nfilm 7 8 9 \r\n. . . 0.5 0.25 0.125\r\n"
            "good 9 9 9\r\n").encode("utf-8")
    weight, lines = vectors_of(tmp_path, data, ["<pad>", "<unk>", "good", "bad", "film", ". . ."])
    assert lines == ["vec.txt: 4 of 4 words found; 0 start from normal(0, 0.1)"]
    assert weight[2:].tolist() == [[1, 2, 3], [4, 5, 6], [7, 8, 9], [0.5, 0.25, 0.125]]


def test_a_vector_longer_than_the_width_is_still_an_error_naming_the_word(tmp_path):
    with pytest.raises(DlspecError, match=r"vec.txt:2: the word 'bad' has 4 numbers, but the embedding's width is 3"):
        vectors_of(tmp_path, b"good 1 2 3\nbad 1 2 3 4\n", ["<pad>", "<unk>", "good", "bad"])


def test_fit_reads_vectors_for_the_text_sources_vocabulary_and_logs_the_count(tmp_path):
    import dlspec
    from tests.helpers.predict_runs import make_sentences
    make_sentences(tmp_path / "sentences.tsv")
    words = {w for line in (tmp_path / "sentences.tsv").read_text().splitlines() for w in line.split("\t")[0].split()}
    (tmp_path / "vec.txt").write_text("good 1 1 1 1\nbad 2 2 2 2\nnotaword 3 3 3 3\n")
    (tmp_path / "s.dlspec").write_text(
        'model Net { input tokens(10); embedding(4, init=vectors("vec.txt")) -> lstm(3) -> hidden; linear(2) }\n'
        'data d { source text("sentences.tsv", max_len=10) }\ntrain { epochs 1 }\n')
    logged = []
    dlspec.fit(tmp_path / "s.dlspec", out=str(tmp_path / "run"), log=logged.append, progress=False)
    assert f"vec.txt: 2 of {len(words)} words found; {len(words) - 2} start from normal(0, 0.1)" in logged


# (layer text, message, the text under the caret)
LAYER_ERRORS = [
    ("conv(4, 3, init=kaiming_normel)", "unknown initialiser 'kaiming_normel'. Did you mean 'kaiming_normal'", "init"),
    ("conv(4, 3, init=normal(0, -1))", "normal: argument 'std' must be positive; received -1", "-1"),
    ("conv(4, 3, init=uniform(1, 0))", "uniform needs a < b, received a=1, b=0", "uniform"),
    ("conv(4, 3, init=constant)", "constant needs argument 'value'", "init"),
    ("conv(4, 3, init=kaiming_normal(mode=fan_x))", "argument 'mode' must be one of fan_in, fan_out", "mode=fan_x"),
    ("conv(4, 3, init=3)", "conv: argument 'init' expects an initialiser", "init"),
    ("conv(4, 3, bias=false, bias_init=zeros)", "conv has no bias to initialise with bias=false", "bias_init"),
    ("conv(4, 3, bias_init=xavier_uniform)", "xavier_uniform reads the fan in and out of a weight of at least 2 "
                                             "dimensions; a bias has 1", "bias_init"),
    ("batchnorm(init=orthogonal)", "orthogonal reads the fan in and out", "init"),
    ("batchnorm(affine=false, init=ones)", "batchnorm has no weights to initialise with affine=false", "init"),
    ('conv(4, 3, init=vectors("g.txt"))', "vectors() gives an embedding's rows", "vectors"),
]


@pytest.mark.parametrize("body, message, at", LAYER_ERRORS, ids=[c[0] for c in LAYER_ERRORS])
def test_layer_init_mistakes_are_located(body, message, at):
    with pytest.raises(DlspecError) as caught:
        loads(spec_text(body)).plan()
    text = str(caught.value)
    assert message in text
    line, caret = text.splitlines()[1], text.splitlines()[2]
    assert text.startswith("<string>:3:") and line.strip() == body
    assert line[caret.index("^"):].startswith(at), text


RULE_ERRORS = [
    ("layer_init conf=ones", "layer_init: unknown layer 'conf'. Did you mean 'conv'", "conf"),
    ("layer_init relu=ones", "layer_init: relu has no weights to initialise", "relu"),
    ("layer_init conv=kaiming_nrmal", "unknown initialiser 'kaiming_nrmal'", "kaiming_nrmal"),
    ('layer_init embedding=vectors("g.txt")', "write it on the embedding itself", "vectors"),
    ("layer_init batchnorm=xavier_normal", "batchnorm's weight is a 1-d scale", "xavier_normal"),
    ("layer_init conv=ones, conv=zeros", "layer_init: conv is given twice", "conv=zeros"),
    ("layer_init ones", "'layer_init' takes layer kinds and initialisers", "layer_init"),
]


@pytest.mark.parametrize("setting, message, at", RULE_ERRORS, ids=[c[0] for c in RULE_ERRORS])
def test_layer_init_rule_mistakes_are_located(setting, message, at):
    text = RULE_SPEC.replace("layer_init conv=ones, linear=constant(0.5)", setting)
    with pytest.raises(DlspecError) as caught:
        read_train(loads(text), "t")
    shown = str(caught.value)
    assert message in shown
    line, caret = shown.splitlines()[1], shown.splitlines()[2]
    assert line[caret.index("^"):].startswith(at), shown


def _vector_error(tmp_path, content):
    if content is not None:
        (tmp_path / "vec.txt").write_text(content)
    spec = loads('model M { input tokens(6, vocab=6); embedding(3, init=vectors("vec.txt")) }',
                 filename=str(tmp_path / "m.dlspec"))
    with pytest.raises(DlspecError) as caught:
        load_vectors(build_model(spec.plan()), spec.plan(), ["<pad>", "<unk>", "good"])
    return str(caught.value)


def test_vectors_of_another_width_are_an_error_at_the_call(tmp_path):
    text = _vector_error(tmp_path, "good 1 2 3\nbad 1 2 3 4 5\n")
    assert "vec.txt:2: the word 'bad' has 5 numbers, but the embedding's width is 3" in text
    assert text.startswith(f"{tmp_path / 'm.dlspec'}:1:") and "^" in text


def test_a_missing_vectors_file_and_a_bad_number_are_errors(tmp_path):
    assert f"word vectors file {tmp_path / 'vec.txt'} not found" in _vector_error(tmp_path, None)
    assert "vec.txt:1: 'x' is not a number" in _vector_error(tmp_path, "good 1 x 3\n")


def test_vectors_need_a_vocabulary(tmp_path):
    (tmp_path / "vec.txt").write_text("good 1 2 3\n")
    spec = loads('model M { input tokens(6, vocab=6); embedding(3, init=vectors("vec.txt")) }',
                 filename=str(tmp_path / "m.dlspec"))
    with pytest.raises(DlspecError, match="has no vocabulary"):
        load_vectors(build_model(spec.plan()), spec.plan(), None)


def test_the_documented_example_compiles():
    from tests.conftest import ROOT
    doc = (ROOT / "docs" / "language.md").read_text()
    example = doc[doc.index("model Generator {"):]
    example = example[:example.index("```")]
    spec = loads(example)
    for name in spec.model_names:
        spec.build(name)


def test_compile_refuses_vectors_of_another_width_when_the_file_is_there(tmp_path):
    (tmp_path / "vec.txt").write_text("3 5\ngood 1 2 3 4 5\n")  # a word2vec header, then 5 numbers a word
    written = 'model M { input tokens(6, vocab=6); embedding(3, init=vectors("vec.txt")) }'
    with pytest.raises(DlspecError) as caught:
        loads(written, filename=str(tmp_path / "m.dlspec")).plan()
    text = str(caught.value)
    assert "vec.txt:2: the word 'good' has 5 numbers, but the embedding's width is 3" in text
    line, caret = text.splitlines()[1:3]
    assert line[caret.index("^"):].startswith("vectors(")
    loads(written.replace("vec.txt", "elsewhere.txt"), filename=str(tmp_path / "m.dlspec")).plan()  # fit says


def test_positional_takes_init_only_when_it_has_a_table():
    model = loads("model M { input sequence(5, 4); positional(8, init=constant(0.5)) }").build()
    assert (model[0].weight == 0.5).all()
    with pytest.raises(DlspecError, match="positional has no weights to initialise with kind=sinusoidal"):
        loads("model M { input sequence(5, 4); positional(8, kind=sinusoidal, init=zeros) }").plan()


def test_explain_and_the_run_settings_show_the_rule():
    from dlspec.views.explain import explain
    spec = loads(RULE_SPEC)
    rows = {row.key: row for row in explain(spec, "t")}
    assert rows["layer_init"].value == {"conv": "ones", "conv1d": "ones", "conv2d": "ones", "conv3d": "ones",
                                        "linear": "constant(0.5)"}
    assert read_train(spec, "t").resolved()["layer_init"]["linear"] == "constant(0.5)"
    assert "layer_init" not in read_train(loads(RULE_SPEC.replace("layer_init conv=ones, linear=constant(0.5)", "")),
                                          "t").resolved()  # a run without it keeps its settings as before


def test_model_py_says_where_word_vectors_are_kept(tmp_path):
    (tmp_path / "vec.txt").write_text("good 1 2 3\n")
    spec = loads('model M { input tokens(6, vocab=6); embedding(3, init=vectors("vec.txt")) -> mean_time }',
                 filename=str(tmp_path / "m.dlspec"))
    source = PythonWriter(spec.plan(), spec.build()).source()
    assert "embedding started from the word vectors of vec.txt when it trained; weights.pt holds them" in source
    assert "initialised(" not in source and "vec.txt\"" not in source  # build() never reads the file


def test_a_rule_kind_the_model_lacks_is_a_warning_at_the_kind():
    from dlspec.errors import DlspecWarning
    text = RULE_SPEC.replace("layer_init conv=ones, linear=constant(0.5)", "layer_init conv=ones, lstm=zeros")
    with pytest.warns(DlspecWarning) as caught:
        read_train(loads(text), "t")
    shown = [w.message.report() for w in caught if "layer_init" in str(w.message)]
    assert len(shown) == 1 and "layer_init: model M has no lstm layer, so lstm= starts nothing" in shown[0]
    line, caret = shown[0].splitlines()[1:3]
    assert line[caret.index("^"):].startswith("lstm=zeros")


def test_graph_labels_write_an_initialiser_as_the_spec_would():
    from dlspec.views.graph import layer_text
    plan = loads(spec_text("conv(4, 3, init=kaiming_normal(mode=fan_out))")).plan()
    assert layer_text(plan.children[0]) == 'conv(4, 3, init=kaiming_normal(mode="fan_out"))'


def test_the_language_server_explains_an_initialiser_and_completes_its_arguments(tmp_path):
    from dlspec.editor.analysis import Analysis
    from dlspec.editor.complete import complete
    from dlspec.editor.hover import hover
    text = "model M {\n    input image(1, 8, 8)\n    conv(4, 3, init=kaiming_normal(mode=fan_out))\n}\n"
    analysis = Analysis(str(tmp_path / "m.dlspec"), text)
    shown = hover(analysis, 3, text.splitlines()[2].index("kaiming") + 2)
    assert "kaiming_normal(a=0.0" in shown and "initialiser" in shown
    line = "    conv(4, 3, init=kaiming_normal("
    labels = {c.label for c in complete(Analysis(str(tmp_path / "m.dlspec"), text.replace(text.splitlines()[2], line)),
                                        3, len(line) + 1)}
    assert {"a", "mode", "nonlinearity"} <= labels


def test_a_trained_runs_export_keeps_the_rule_and_the_layers_init(tmp_path):
    import dlspec
    from dlspec.runs.export import export_run
    from tests.helpers.predict_runs import make_sentences
    make_sentences(tmp_path / "sentences.tsv")
    (tmp_path / "s.dlspec").write_text(
        'model Net { input tokens(10); embedding(4) -> gru(3, bias_init=constant(0.1)) -> last; linear(2) }\n'
        'data d { source text("sentences.tsv", max_len=10) }\n'
        'train { epochs 1; layer_init linear=xavier_normal(gain=0.5), gru=orthogonal }\n')
    dlspec.fit(tmp_path / "s.dlspec", out=str(tmp_path / "run"), log=lambda *a: None, progress=False)
    source = pathlib.Path(export_run(str(tmp_path / "run"))).read_text()  # checked against the run's outputs
    assert "initialised(nn.Linear(3, 2), ('xavier_normal', {'gain': 0.5}), None)" in source
    assert "('orthogonal', {'gain': 1.0}), ('constant', {'value': 0.1}))" in source
