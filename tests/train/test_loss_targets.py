"""Loss entries, not loss names, decide the targets: what prepare_target hands each registered loss (class
indices, one-hot rows, soft targets, values) and that the loss takes it as a hand-written torch call would;
a plugin loss that declares target="class" gets class indices in a real fit; the loop's narrow signature."""
import inspect
import textwrap

import pytest
import torch
import torch.nn.functional as F

import dlspec
from dlspec.errors import PluginError, TrainError
from dlspec.train.entries import LOSS_OUTPUTS, LOSS_TARGETS, Component
from dlspec.train.loop import StepSetup, evaluate, prepare_target, train_epoch
from dlspec.train.losses import LOSSES, metric_target

CLASSES = 3

# The same loss written by hand, on targets built by hand: each built-in loss needs one here.
REFERENCE = {
    "cross_entropy": F.cross_entropy,
    "nll": F.nll_loss,
    "bce_with_logits": F.binary_cross_entropy_with_logits,
    "mse": F.mse_loss,
    "l1": F.l1_loss,
    "huber": F.huber_loss,
    "dice": lambda out, y: dice_by_hand(out, y),
}


def dice_by_hand(out: torch.Tensor, y: torch.Tensor, smooth: float = 1.0) -> torch.Tensor:
    """Soft dice written class by class, as the V-Net paper states it: 1 - mean_c (2 sum p_c t_c + s) /
    (sum p_c + sum t_c + s), sums over every sample (and pixel), p the softmax over classes."""
    probs = out.softmax(1)
    scores = []
    for c in range(out.shape[1]):
        p_c, t_c = probs[:, c], (y == c).to(probs.dtype)
        scores.append((2 * (p_c * t_c).sum() + smooth) / (p_c.sum() + t_c.sum() + smooth))
    return 1 - torch.stack(scores).mean()


def quiet(*a):
    pass


def _output(loss: Component, batch: int, width: int) -> torch.Tensor:
    logits = torch.randn(batch, width, generator=torch.Generator().manual_seed(batch))
    return logits.log_softmax(1) if loss.expects == "log_probs" else logits


def _cases(loss: Component, batch: int):
    """(what, output, targets as the loader gives them, targets as a hand-written loop would pass them)."""
    indices = torch.arange(batch) % CLASSES
    soft = F.one_hot(indices, CLASSES).float() * 0.7 + 0.1  # rows sum to 1, as mixup makes
    if loss.target == "class":
        yield "class indices", _output(loss, batch, CLASSES), indices, indices.long()
        if loss.soft_targets:
            yield "soft targets", _output(loss, batch, CLASSES), soft, soft
    elif loss.target == "binary":
        yield "class indices, a logit per class", _output(loss, batch, CLASSES), indices, \
            F.one_hot(indices, CLASSES).float()
        flags = (torch.arange(batch) % 2).double()
        yield "0/1 targets, one logit", _output(loss, batch, 1), flags, flags.float().view(batch, 1)
        if loss.soft_targets:
            yield "soft targets", _output(loss, batch, CLASSES), soft, soft
    elif loss.target == "value":
        values = torch.linspace(-1, 1, batch, dtype=torch.float64)
        yield "one value", _output(loss, batch, 1), values, values.float().view(batch, 1)
        pairs = torch.linspace(-1, 1, 2 * batch, dtype=torch.float64).view(batch, 2)
        yield "two values", _output(loss, batch, 2), pairs, pairs.float()


BUILT_IN = [c for c in LOSSES.values() if c.source == "built-in"]


@pytest.mark.parametrize("loss", BUILT_IN, ids=lambda c: c.name)
def test_every_built_in_loss_declares_its_targets_and_has_a_hand_written_reference(loss):
    assert loss.target in LOSS_TARGETS and loss.expects in LOSS_OUTPUTS, loss.name
    assert loss.name in REFERENCE, f"tests: add torch's own call for loss {loss.name} to REFERENCE"
    assert not loss.soft_targets or loss.target in ("class", "binary"), "soft targets are class probabilities"


@pytest.mark.parametrize("batch", [1, 2, 3, 5])
@pytest.mark.parametrize("loss", BUILT_IN, ids=lambda c: c.name)
def test_prepare_target_gives_what_the_declared_target_implies_and_the_loss_takes_it(loss, batch):
    cases = list(_cases(loss, batch))
    assert cases, f"loss {loss.name}: no target cases for target={loss.target!r}"
    loss_fn = loss.build({})
    setup = StepSetup(torch.nn.Identity(), loss, loss_fn, torch.device("cpu"))
    for what, out, y, by_hand in cases:
        got = prepare_target(loss, out, y)
        assert got.dtype == by_hand.dtype and got.shape == by_hand.shape, (loss.name, what, got.dtype, got.shape)
        assert torch.equal(got, by_hand), (loss.name, what)
        assert torch.allclose(setup.loss_of(out, y), REFERENCE[loss.name](out, by_hand)), (loss.name, what)
        scored = metric_target(loss, out, y)  # metrics score soft class targets by their dominant class
        want = y.argmax(1) if loss.target == "class" and what == "soft targets" else y
        assert torch.equal(scored, want), (loss.name, what)


def test_a_loss_that_does_not_say_gets_floats_shaped_like_the_output():
    undeclared = Component("mine", (), lambda a: F.mse_loss, "", "plugin")
    got = prepare_target(undeclared, torch.zeros(4, 1), torch.tensor([0, 1, 2, 1]))
    assert got.dtype == torch.float32 and got.shape == (4, 1)


def test_evaluate_reads_the_loss_entry_from_the_setup():
    loss = LOSSES["nll"]  # log-probabilities in, class indices (int64) as targets
    model = torch.nn.Sequential(torch.nn.Linear(2, CLASSES), torch.nn.LogSoftmax(1))
    x, y = torch.randn(6, 2), torch.arange(6, dtype=torch.int32) % CLASSES  # int32: must become int64
    loader = [(x[:4], y[:4]), (x[4:], y[4:])]
    got = evaluate(StepSetup(model, loss, loss.build({}), torch.device("cpu")), loader, {})
    with torch.no_grad():
        assert got["loss"] == pytest.approx(F.nll_loss(model(x), y.long()).item(), rel=1e-6)


def test_train_epoch_takes_one_setup_and_few_parameters():
    assert len(inspect.signature(train_epoch).parameters) <= 5
    assert list(inspect.signature(train_epoch).parameters)[0] == "setup"


# ---- plugin losses ----


STRICT_LOSS = '''
import dlspec
import torch
import torch.nn.functional as F


@dlspec.loss("strict_ce"{declared})
def strict_ce(output, target):
    """Cross-entropy that takes nothing but class indices."""
    if target.dtype != torch.int64 or target.dim() != 1:
        raise TypeError(f"strict_ce wants class indices (int64, one per sample), got {{target.dtype}} "
                        f"{{list(target.shape)}}")
    return F.cross_entropy(output, target)
'''


def _write(tmp_path, name, declared, labels):
    """A plugin file with strict_ce (registered under `name`), a csv of 3 classes and a spec fitting them."""
    (tmp_path / f"{name}.py").write_text(STRICT_LOSS.replace('"strict_ce"', f'"{name}"').format(declared=declared))
    rows = "".join(f"{i / 30},{(i * 7 % 10) / 10},{labels[i % 3]}\n" for i in range(30))
    (tmp_path / "t.csv").write_text("a,b,y\n" + rows)
    path = tmp_path / f"{name}.dlspec"
    path.write_text(f'use "{name}.py"\n'
                    'model M { input vector(2); linear(8) -> relu -> linear(3) }\n'
                    'data t { source csv("t.csv", target="y"); split train=0.8 val=0.2 seed=0; batch 8 }\n'
                    f'train {{ loss {name}; optimizer adam(lr=0.01); epochs 2; metrics accuracy }}\n')
    return path


def test_a_plugin_loss_declaring_class_targets_gets_class_indices_in_a_fit(tmp_path):
    # labels written 0.0, 1.0, 2.0 are numbers to the csv source; target="class" makes them classes
    path = _write(tmp_path, "strict_ce_class", ', target="class", expects="logits"', ["0.0", "1.0", "2.0"])
    run = dlspec.fit(str(path), out=str(tmp_path / "run"), log=quiet, progress=False)
    assert [r["epoch"] for r in run.history] == [1, 2]
    assert all(0 <= r["val_accuracy"] <= 1 and r["loss"] > 0 for r in run.history)
    entry = LOSSES["strict_ce_class"]
    assert (entry.target, entry.expects, entry.soft_targets) == ("class", "logits", False)


def test_the_same_plugin_loss_undeclared_gets_floats_and_refuses_them(tmp_path):
    path = _write(tmp_path, "strict_ce_unsaid", "", ["a", "b", "c"])  # text labels: classes without a loss's word
    with pytest.raises(TypeError) as info:  # the plugin's own refusal, raised inside the training step
        dlspec.fit(str(path), out=str(tmp_path / "run"), log=quiet, progress=False)
    assert "strict_ce wants class indices (int64, one per sample), got torch.float32" in str(info.value)


def test_a_plugin_loss_over_class_logits_gets_the_class_count_check(tmp_path):
    (tmp_path / "p.py").write_text(STRICT_LOSS.replace('"strict_ce"', '"strict_ce_count"')
                                   .format(declared=', target="class", expects="logits"'))
    (tmp_path / "t.csv").write_text("a,b,y\n" + "".join(f"{i},{i % 4},{'abcd'[i % 4]}\n" for i in range(20)))
    path = tmp_path / "s.dlspec"
    path.write_text('use "p.py"\nmodel M { input vector(2); linear(3) }\n'
                    'data t { source csv("t.csv", target="y"); split train=1.0; batch 4 }\n'
                    'train { loss strict_ce_count; epochs 1 }\n')
    with pytest.raises(TrainError, match=r"model M outputs 3 values per sample but data t has 4 classes"):
        dlspec.fit(str(path), out=str(tmp_path / "run"), log=quiet, progress=False)


@pytest.mark.parametrize("declared, message", [
    ('target="classes"', "loss strict_bad: target='classes' is not one of 'class', 'binary', 'value'"),
    ('expects="probabilities"', "loss strict_bad: expects='probabilities' is not one of 'logits', 'log_probs', "
                                "'values'"),
])
def test_a_plugin_loss_declaring_an_unknown_word_is_refused_at_its_use_line(tmp_path, declared, message):
    (tmp_path / "bad.py").write_text(textwrap.dedent(f'''
        import dlspec

        @dlspec.loss("strict_bad", {declared})
        def strict_bad(output, target):
            return (output - target).abs().mean()
    '''))
    path = tmp_path / "s.dlspec"
    path.write_text('\nuse "bad.py"\nmodel M { input vector(2); linear(1) }\n')
    with pytest.raises(PluginError) as info:
        dlspec.load(str(path))
    assert info.value.line == 2 and message in info.value.message


@pytest.mark.parametrize("accumulate", [1, 2, 3])
def test_metrics_score_soft_targets_by_their_dominant_class_on_every_micro_batch(accumulate):
    # mixup/cutmix targets with gradient accumulation: the micro-batches that do not step are scored
    # like the ones that do (their dominant class), not as multi-label rows
    from dlspec.train.metrics import METRICS
    from dlspec.train.parallel.sharding import StepPlan
    from dlspec.train.progress import EpochProgress
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3)
    x = torch.randn(12, 4)
    y = torch.softmax(torch.randn(12, 3) * 3, dim=1)  # soft targets, one dominant class per row
    batches = [(x[i:i + 3], y[i:i + 3]) for i in range(0, 12, 3)]
    loss = LOSSES.get("cross_entropy")
    setup = StepSetup(model, loss, torch.nn.CrossEntropyLoss(), torch.device("cpu"),
                      optimizer=torch.optim.SGD(model.parameters(), lr=0.0),  # outputs stay as computed here
                      plan=StepPlan(12, 3, accumulate))
    expected = (model(x).argmax(1) == y.argmax(1)).float().mean().item()
    metrics = {"accuracy": METRICS.get("accuracy").make({})}
    _, values, samples, _ = train_epoch(setup, batches, metrics, EpochProgress(1, 1, len(batches), False))
    assert samples == 12
    assert values["accuracy"] == pytest.approx(expected)
