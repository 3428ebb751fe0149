"""examples/gcn/gcn.dlspec (two inputs, matmul) computes what the course's hand-written pygcn GCN computes
with the same weights."""
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import dlspec
from tests.conftest import ROOT

GCN_SPEC = ROOT / "examples" / "gcn" / "gcn.dlspec"


class GraphConvolution(nn.Module):
    """The course's layer: weight [in, out] and bias; forward(input, adj) = adj @ (input @ weight) + bias."""

    def __init__(self, in_features, out_features):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(in_features, out_features))
        self.bias = nn.Parameter(torch.empty(out_features))
        stdv = 1.0 / math.sqrt(out_features)
        self.weight.data.uniform_(-stdv, stdv)
        self.bias.data.uniform_(-stdv, stdv)

    def forward(self, input, adj):
        support = input @ self.weight
        return adj @ support + self.bias


class GCN(nn.Module):
    def __init__(self, nfeat, nhid, nclass, dropout):
        super().__init__()
        self.gc1 = GraphConvolution(nfeat, nhid)
        self.gc2 = GraphConvolution(nhid, nclass)
        self.dropout = dropout

    def forward(self, x, adj):
        x = F.relu(self.gc1(x, adj))
        x = F.dropout(x, self.dropout, training=self.training)
        x = self.gc2(x, adj)
        return F.log_softmax(x, dim=1)


def normalised_adjacency(nodes: int) -> torch.Tensor:
    a = (torch.rand(nodes, nodes) < 0.2).float()
    a = ((a + a.T) > 0).float() + torch.eye(nodes)
    return a / a.sum(1, keepdim=True)


@pytest.fixture(scope="module")
def models():
    spec = dlspec.load(GCN_SPEC)
    plan = spec.plan()
    nodes, nfeat = plan.inputs["features"].dims
    nclass = plan.outputs["classes"].dims[-1]
    model = spec.build().eval()
    course = GCN(nfeat, model.w1.shape[1], nclass, 0.5).eval()
    course.load_state_dict({"gc1.weight": model.w1, "gc1.bias": model.b1,
                            "gc2.weight": model.w2, "gc2.bias": model.b2})
    return model, course, nodes, nfeat


@pytest.mark.parametrize("batch", [1, 2, 3])
def test_the_gcn_spec_equals_the_course_gcn_with_the_same_weights(models, batch):
    model, course, nodes, nfeat = models
    torch.manual_seed(batch)
    x = torch.randn(batch, nodes, nfeat)
    adj = torch.stack([normalised_adjacency(nodes) for _ in range(batch)])
    got = model(x, adj)
    want = torch.stack([course(x[i], adj[i]) for i in range(batch)])  # the course model takes one graph
    assert got.shape == want.shape == (batch, nodes, course.gc2.bias.shape[0])
    assert torch.allclose(got, want, atol=1e-6)
    assert torch.allclose(model(adjacency=adj, features=x), want, atol=1e-6)


def test_the_gcn_parameters_are_the_course_weights_shapes(models):
    model, course, _, _ = models
    assert [p.shape for p in model.parameters()] == [p.shape for p in course.parameters()]


def test_the_gcn_trains_with_dropout_like_the_course_model(models):
    """In training mode both draw the same dropout mask from the same generator state."""
    model, course, nodes, nfeat = models
    model.train(), course.train()
    x, adj = torch.randn(1, nodes, nfeat), normalised_adjacency(nodes)[None]
    torch.manual_seed(7)
    got = model(x, adj)
    torch.manual_seed(7)
    want = course(x[0], adj[0])[None]
    model.eval(), course.eval()
    assert torch.allclose(got, want, atol=1e-6)


def test_a_misspelt_param_in_a_matmul_lists_the_names_there():
    """A short name (w9 for w1) is too far for 'did you mean', so the hint lists the names a merge may take."""
    from dlspec.errors import UnknownNameError
    text = GCN_SPEC.read_text().replace("matmul(features, w1)", "matmul(features, w9)")
    with pytest.raises(UnknownNameError) as info:
        dlspec.loads(text, "gcn.dlspec").plan()
    err = info.value
    assert "matmul: 'w9' is not a bound name, param or input." in err.message
    assert err.hint.startswith("names here: features, adjacency, w1, b1, w2, b2; or bind a result first"), err.hint
