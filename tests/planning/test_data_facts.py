"""The data facts a model is planned with are a value (planning/facts.py) that the train stage measures
(train/measure.py): `Spec` loads no data and holds none, planning with facts imports neither torch nor
the data pipeline, and one fit reads its data and plans its model once."""
import ast
import collections
import json
import subprocess
import sys

import pytest

import dlspec
from dlspec.planning.facts import NO_FACTS, DataFacts, data_asked
from dlspec.spec import Spec
from dlspec.train.measure import Measurements, facts_of, measure

from tests.conftest import ROOT
HOUSES = ROOT / "specs" / "houses.dlspec"


def test_data_facts_are_a_hashable_value():
    columns = ((5, 40, 13, "district"),)
    facts = DataFacts(sample_shape=(7,), categories=columns)
    same = DataFacts(None, (7,), ((5, 40, 13, "district"),))
    assert facts == same and hash(facts) == hash(same) and {facts: 1}[same] == 1
    assert DataFacts() == NO_FACTS and DataFacts(vocab=3) != NO_FACTS
    with pytest.raises(AttributeError):
        facts.vocab = 3  # frozen


def test_planning_houses_with_explicit_facts_imports_neither_torch_nor_the_data_pipeline():
    spec = dlspec.load(HOUSES)
    facts = measure(spec, "PriceMLP").checked()  # measured here, in this process: the subprocess only plans
    assert facts == DataFacts(sample_shape=(7,), categories=((5, 40, 13, "district"),))
    code = ("import json, sys, dlspec\n"
            "from dlspec.planning.facts import DataFacts\n"
            "given = json.loads(sys.argv[2])\n"
            "facts = DataFacts(sample_shape=tuple(given['shape']), categories=tuple(map(tuple, given['categories'])))\n"
            "plan = dlspec.load(sys.argv[1]).plan('PriceMLP', facts)\n"
            "print(json.dumps([list(plan.in_shape.dims), plan.children[0].name, "
            "sorted(m for m in sys.modules if m == 'torch' or m.startswith(('dlspec.data', 'dlspec.train')))]))\n")
    given = json.dumps({"shape": list(facts.sample_shape), "categories": [list(c) for c in facts.categories]})
    result = subprocess.run([sys.executable, "-c", code, str(HOUSES), given], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [[7], "category_embedding", []]


def _counting(monkeypatch, owner, attr: str, counts: collections.Counter) -> None:
    real = getattr(owner, attr)

    def counted(*args, **kwargs):
        counts[attr] += 1
        return real(*args, **kwargs)
    monkeypatch.setattr(owner, attr, counted)


@pytest.fixture
def counts(monkeypatch):
    """Calls of build_data, load_source (where they are looked up when called) and Planner.plan_model."""
    import dlspec.data.pipeline as pipeline
    from dlspec.planning.planner import Planner
    found = collections.Counter()
    for owner, attr in ((pipeline, "build_data"), (pipeline, "load_source"), (Planner, "plan_model")):
        _counting(monkeypatch, owner, attr, found)
    return found


def _quiet(*args) -> None:
    pass


def test_one_fit_of_a_vector_auto_table_reads_the_csv_once_and_plans_once(tmp_path, counts):
    run = dlspec.fit(HOUSES, epochs=1, out=str(tmp_path / "run"), progress=False, log=_quiet)
    assert dict(counts) == {"build_data": 1, "load_source": 1, "plan_model": 1}
    first = next(iter(run.model.children()))
    assert type(first).__name__ == "CategoryEmbedding"  # planned with the facts of the data it trained on


def test_one_fit_of_an_image_spec_plans_its_model_once(tmp_path, counts):
    spec = tmp_path / "img.dlspec"
    spec.write_text("model Small {\n    input image(1, 8, 8)\n    conv(4, 3) -> relu -> flatten\n    linear(10)\n}\n"
                    "data digits {\n    source sklearn_digits\n    split train=0.8 val=0.2\n    batch 256\n}\n"
                    "train {\n    model Small\n    data digits\n    epochs 1\n}\n")
    dlspec.fit(spec, epochs=1, out=str(tmp_path / "run"), progress=False, log=_quiet)
    assert counts["plan_model"] == 1 and counts["build_data"] == 1


def test_a_compile_of_an_image_spec_loads_no_data(tmp_path, counts):
    spec = tmp_path / "img.dlspec"
    spec.write_text("model Small { input image(1, 8, 8); flatten; linear(10) }\n"
                    "data digits { source sklearn_digits }\ntrain { model Small; data digits; epochs 1 }\n")
    from dlspec.api import compile_spec
    assert compile_spec(spec, describe=True).summaries[0]["input_shape"] == [1, 8, 8]
    assert counts["build_data"] == 0 and counts["load_source"] == 0


def test_a_resume_rebuilds_its_data_with_the_runs_fitted_state_and_says_the_same(tmp_path):
    """The measured bundle is reused only by a fresh run: a resume loads the data with the run's encoding,
    and goes on exactly as the uninterrupted run (which trained on the bundle read_train measured)."""
    rows = "".join(f"{i % 7},{'pqr'[i % 3]},{i % 2}\n" for i in range(40))
    (tmp_path / "t.csv").write_text("a,c,y\n" + rows)
    spec = tmp_path / "s.dlspec"
    spec.write_text('model M { input vector(auto); linear(2) }\ndata d { source csv("t.csv", target="y"); batch 8 }\n'
                    'train { model M; data d; epochs 2 }\n')
    first = dlspec.fit(spec, epochs=1, out=str(tmp_path / "run"), progress=False, log=_quiet)
    again = dlspec.fit(None, epochs=2, resume=first.out_dir, progress=False, log=_quiet)
    straight = dlspec.fit(spec, epochs=2, out=str(tmp_path / "straight"), progress=False, log=_quiet)
    assert [r["loss"] for r in again.history] == [r["loss"] for r in straight.history]


def test_measure_asks_data_only_of_inputs_that_take_a_size_from_it(tmp_path, counts):
    spec = dlspec.loads('model A { input vector(auto); linear(2) }\nmodel B { input vector(3); linear(2) }\n'
                        'model C { input tokens(5); embedding(dim=4) -> flatten -> linear(2) }\n'
                        'data d { source text("t.txt", max_vocab=50) }\n'
                        'train { model C; data d }\n', str(tmp_path / "s.dlspec"))
    assert [data_asked(spec.program, m) for m in "ABC"] == ["vector", None, "tokens"]
    assert measure(spec, "B").facts == NO_FACTS
    assert measure(spec, "C").facts == DataFacts(vocab=52)  # max_vocab + 2, before any data is loaded
    assert spec.plan("C", measure(spec, "C").facts).in_shape.vocab == 52
    assert measure(spec, "A").facts == NO_FACTS  # no train block links A: planning says so at its line
    with pytest.raises(dlspec.DlspecError, match="no train block links this model"):
        spec.plan("A", measure(spec, "A").facts)
    assert counts["build_data"] == 0


def test_facts_a_model_ignores_share_its_plan(counts):
    spec = dlspec.loads("model M { input vector(4); linear(2) }")
    plans = {id(spec.plan("M", facts)) for facts in (None, NO_FACTS, DataFacts(sample_shape=(9,)), DataFacts(vocab=3))}
    assert len(plans) == 1 and counts["plan_model"] == 1


def test_measurements_load_each_blocks_data_once(tmp_path, counts):
    spec = dlspec.load(HOUSES)
    measurements = Measurements(spec)
    assert measurements.measure("PriceMLP") is measurements.measure("PriceMLP", None)
    assert measurements.facts("PriceMLP") == facts_of(measurements.measure("PriceMLP").bundle)
    assert counts["build_data"] == 1
    given = Measurements(spec, {"PriceMLP": DataFacts(sample_shape=(3,))})
    assert given.plan("PriceMLP").in_shape.dims == (3,) and counts["build_data"] == 1


REMOVED = ("set_vocab", "set_sample_shape", "prefer_train", "reading_train", "_measure", "_vocab_hint",
           "_sample_hint", "_data_facts", "_measuring_train", "_forget_plans", "_model_name", "measured",
           "data_errors", "train_name", "_vocab", "_given", "_facts", "_reading", "_samples", "_categories")


def test_spec_holds_no_data_and_imports_neither_data_nor_train():
    spec = dlspec.load(HOUSES)
    left = [name for name in REMOVED if hasattr(spec, name) or hasattr(Spec, name)]
    assert left == [] and set(vars(spec)) == {"program", "text", "_plans"}
    tree = ast.parse((ROOT / "dlspec" / "spec.py").read_text())
    imported = []
    for node in ast.walk(tree):  # module level and inside functions alike
        if isinstance(node, ast.ImportFrom):
            imported.append("." * node.level + (node.module or ""))
        elif isinstance(node, ast.Import):
            imported += [alias.name for alias in node.names]
    assert imported and not [m for m in imported if m.lstrip(".").split(".")[0] in ("data", "train", "torch")
                             or m.startswith(("dlspec.data", "dlspec.train"))], imported


def test_a_library_plan_of_a_tokens_model_without_facts_takes_the_vocabulary_compile_shows():
    # as before data facts became a value: spec.build() of a text model works without measuring anything,
    # its embedding sized by the largest vocabulary the linked text source can give (max_vocab + 2)
    spec = dlspec.load(ROOT / "specs" / "sentiment_lstm.dlspec")
    assert spec.plan().in_shape.vocab == 20000 + 2
    assert spec.build()[0].num_embeddings == 20002
    summary = dlspec.api.compile_spec(ROOT / "specs" / "sentiment_lstm.dlspec", describe=True)
    assert summary.modules["Sentiment"][0].num_embeddings == 20002


def test_the_hint_of_a_vector_auto_model_built_without_facts_runs_as_written():
    code = ("import sys, dlspec\n"
            "spec = dlspec.load(sys.argv[1]); model = 'PriceMLP'\n"
            "try:\n    spec.build(model)\n"
            "except dlspec.DlspecError as exc:\n    hint = exc.hint\n"
            "snippet = hint.split('`')[1]\n"
            "exec(snippet)\n"
            "print(spec.build(model, facts=measure(spec, model).checked())[1].in_features)\n")
    result = subprocess.run([sys.executable, "-c", code, str(HOUSES)], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout.split()[-1]) > 0
