"""Device-side metrics compared with scikit-learn on the same predictions."""
import pytest
import torch
from sklearn.metrics import f1_score, mean_absolute_error, precision_score, recall_score

from dlspec.train.metrics import METRICS


def make(name, **args):
    return METRICS[name].make({**{a.name: a.default for a in METRICS[name].args}, **args})


def feed(metric, out, y, chunks=3):
    for o, t in zip(out.chunk(chunks), y.chunk(chunks)):
        metric.update(o, t)
    return metric.compute()


@pytest.fixture
def multiclass():
    g = torch.Generator().manual_seed(0)
    out = torch.randn(200, 4, generator=g)
    y = torch.randint(0, 4, (200,), generator=g)
    return out, y


def test_accuracy_and_top_k(multiclass):
    out, y = multiclass
    assert feed(make("accuracy"), out, y) == pytest.approx(float((out.argmax(1) == y).float().mean()))
    top2 = (out.topk(2, 1).indices == y[:, None]).any(1).float().mean()
    assert feed(make("top_k", k=2), out, y) == pytest.approx(float(top2))


AVERAGED = [a for a in METRICS["f1"].args[0].choices if a != "binary"]  # every multi-class average offered


@pytest.mark.parametrize("average", AVERAGED)
@pytest.mark.parametrize("name, fn", [("f1", f1_score), ("precision", precision_score), ("recall", recall_score)])
def test_averaged_scores_match_sklearn(multiclass, name, fn, average):
    out, y = multiclass
    out = out + torch.tensor([1.0, 0.0, 0.0, -0.5])  # unequal predictions per class: the averages differ
    expected = fn(y.numpy(), out.argmax(1).numpy(), average=average, zero_division=0)
    assert feed(make(name, average=average), out, y) == pytest.approx(expected)


def test_single_binary_logit_and_multilabel():
    out = torch.tensor([[2.0], [-1.0], [0.5], [-3.0]])
    y = torch.tensor([1, 0, 0, 0])
    assert feed(make("accuracy"), out, y, 1) == pytest.approx(0.75)
    assert feed(make("f1", average="binary"), out, y, 1) == pytest.approx(f1_score([1, 0, 0, 0], [1, 0, 1, 0]))
    logits = torch.tensor([[1.0, -1.0, 2.0], [-2.0, 3.0, -1.0]])
    targets = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    assert feed(make("accuracy"), logits, targets, 1) == pytest.approx(5 / 6)


def test_regression_errors():
    out = torch.tensor([[1.0], [2.0], [4.0]])
    y = torch.tensor([[1.5], [2.0], [2.0]])
    assert feed(make("mae"), out, y, 1) == pytest.approx(mean_absolute_error(y, out))
    assert feed(make("mse"), out, y, 1) == pytest.approx((0.25 + 0 + 4) / 3)
