"""A model with several outputs, served: each answer nests one part per output (label and top classes, or a
value in the data's units), passed through exactly as `dlspec predict` and `predict_tensors` give it."""
import random

import pytest
import torch

import dlspec
from dlspec.errors import DlspecError
from dlspec.runs.predict import predict_tensors
from tests.helpers.served import request, serving

pytestmark = pytest.mark.slow

SPEC = """
model Listing {
    input vector(auto)
    h = input -> linear(8) -> relu
    output price = h -> linear(1)
    output kind = h -> linear(2)
}
data d { source csv("listings.csv", features=["sqm", "district"], target=["price", "kind"])
         split train=0.5 val=0.25 test=0.25 }
train { model Listing; data d; loss price: mse, kind: cross_entropy; epochs 1 }
"""


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    base = tmp_path_factory.mktemp("several")
    rng = random.Random(3)
    lines = ["sqm,district,price,kind"]
    for i in range(60):
        sqm = rng.randint(20, 120)
        lines.append(f"{sqm},{'abc'[i % 3]},{100 + sqm + 10 * (i % 3)}.0,{'house' if sqm > 70 else 'flat'}")
    (base / "listings.csv").write_text("\n".join(lines) + "\n")
    (base / "m.dlspec").write_text(SPEC)
    return dlspec.fit(str(base / "m.dlspec"), out=str(base / "run"), progress=False, log=lambda *a: None).out_dir


def test_the_served_model_answers_per_output_as_predict_tensors(run):
    app = dlspec.api.serve_app(run)
    served = app.state.served
    x = torch.randn(3, served.run.facts.sample_shape[0], generator=torch.Generator().manual_seed(1))
    answers = served.answer(["0", "1", "2"], list(x), top=2)
    assert answers == predict_tensors(run, x, top=2)
    assert set(answers[0]) == {"input", "price", "kind"} and [t["label"] for t in answers[0]["kind"]["top"]]


def test_rows_answer_or_are_refused_as_predict_does(run, tmp_path):
    """Rows of a several-output table through HTTP: the same answers as `dlspec predict` on a CSV of them,
    or, where predict cannot read such rows, the same message as a 400."""
    path = tmp_path / "rows.csv"
    path.write_text("sqm,district\n50,a\n90,c\n")
    try:
        expected, refusal = dlspec.predict(run, [str(path)], top=2), None
    except DlspecError as exc:
        expected, refusal = None, exc
    with serving(run) as url:
        status, body = request(f"{url}/predict?top=2", path.read_bytes(), "text/csv")
        if refusal is not None:
            assert status == 400 and body["error"] == refusal.message.replace(str(path), "body.csv")
        else:
            assert status == 200
            assert [{k: v for k, v in a.items() if k != "input"} for a in body["predictions"]] == \
                [{k: v for k, v in a.items() if k != "input"} for a in expected]
        status, meta = request(f"{url}/metadata")
        assert set(meta["outputs"]) == {"price", "kind"} and meta["outputs"]["kind"]["task"] == "classification"
