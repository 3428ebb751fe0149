"""A table described for compile (data/described.py) against the bundle fit builds (data/pipeline.build_data):
the same facts for generated tables and data blocks; compile of a table builds no loader and no cached split,
yet still names a bad cell at its line; fit does not reuse a described bundle."""
import warnings

import pytest
import torch

import dlspec
from dlspec.data import cache, described, pipeline
from dlspec.data.config import read_data
from dlspec.data.described import describable, describe_data
from dlspec.errors import DataError, DlspecWarning
from dlspec.planning.facts import DataFacts
from dlspec.train.measure import Measured, facts_of
from tests.data.test_columnar import BAD, generated_table, write_table

BLOCKS = [  # data block bodies over t.csv: the plain cached path, the per-sample path, steps that draw at random
    'source csv("t.csv", target="y")',
    'source csv("t.csv", target="y", categories=["zip"], onehot_max=2); cache none',
    'source csv("t.csv", target="y", task=regression); augment { noise(0.1) }; transform { normalize(auto) }',
    'source csv("t.csv", target="y", missing=mean); split train=0.5 val=0.5 seed=3; batch 7',
]


def data_config(body, folder):
    spec = dlspec.loads(f"data d {{ {body} }}", str(folder / "spec.dlspec"))
    return read_data(spec.program.data["d"], spec.program.global_env())


def facts(bundle):
    return (facts_of(bundle), bundle.sample_shape, bundle.classes, bundle.task, bundle.sizes, bundle.table,
            bundle.features, bundle.target_column, bundle.target_shape, bundle.target_scale)


@pytest.mark.parametrize("body", BLOCKS)
@pytest.mark.parametrize("seed, classes, missing", [(0, True, 0.0), (1, False, 0.0), (2, True, 0.05)])
def test_a_described_table_has_the_facts_of_the_built_bundle(tmp_path, body, seed, classes, missing):
    header, rows = generated_table(seed, rows=90, missing_share=missing if "missing=" in body else 0.0,
                                   classes=classes)
    write_table(tmp_path / "t.csv", header, rows)
    cfg = data_config(body, tmp_path)
    assert describable(cfg)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DlspecWarning)
        loss_task = None if classes else "regression"
        try:
            built = pipeline.build_data(cfg, loss_task=loss_task)
        except DataError as exc:  # a block this table cannot take: described, it says the same
            with pytest.raises(DataError) as caught:
                describe_data(cfg, loss_task=loss_task)
            assert str(caught.value) == str(exc)
            return
        seen = describe_data(cfg, loss_task=loss_task)
    assert seen.loaders == {} and built.loaders
    assert facts(seen) == facts(built)


@pytest.fixture
def no_loaders(monkeypatch):
    """Building a loader, a cached split or a whole data bundle fails the test."""
    def refuse(*args, **kwargs):
        raise AssertionError("compile built loaders")
    for module, name in [(pipeline, "build_data"), (described, "build_data"), (pipeline, "_loader"),
                         (pipeline, "_cached_loaders"), (cache, "build_cached"), (pipeline, "TensorLoader"),
                         (pipeline, "EpochDataLoader")]:
        monkeypatch.setattr(module, name, refuse)


def test_compile_of_a_table_builds_no_loaders(tmp_path, no_loaders):
    from dlspec.api import compile_spec
    header, rows = generated_table(4)
    write_table(tmp_path / "t.csv", header, rows)
    data = 'data d { source csv("t.csv", target="y", features=["size", "rooms", "zip"]) }\n'
    (tmp_path / "m.dlspec").write_text('model M { input vector(auto); linear(3) }\n' + data + 'train { model M; data d }\n')
    result = compile_spec(str(tmp_path / "m.dlspec"))
    assert result.modules["M"][0].in_features == 3  # size, rooms and zip's level index
    (tmp_path / "w.dlspec").write_text('model W { input vector(4); linear(3) }\n' + data + 'train { model W; data d }\n')
    with pytest.raises(dlspec.errors.DlspecError) as caught:  # a written width the table does not give
        compile_spec(str(tmp_path / "w.dlspec"))
    assert "model W takes samples of shape [4], but data d gives [3]" in str(caught.value)
    assert caught.value.loc.line == 1


@pytest.mark.parametrize("cells, expected", BAD)
def test_compile_names_a_bad_cell_at_its_line_without_building_loaders(tmp_path, no_loaders, cells, expected):
    from dlspec.api import compile_spec
    write_table(tmp_path / "t.csv", ["a", "y"], [[c, str(i % 2)] for i, c in enumerate(cells)])
    (tmp_path / "s.dlspec").write_text('model M { input vector(auto); linear(2) }\n'
                                       'data d { source csv("t.csv", target="y") }\ntrain { model M; data d }\n')
    with pytest.raises(DataError) as caught:
        compile_spec(str(tmp_path / "s.dlspec"))
    assert expected in str(caught.value) and "t.csv" in str(caught.value)


def test_fit_does_not_reuse_a_described_bundle(tmp_path):
    header, rows = generated_table(5)
    write_table(tmp_path / "t.csv", header, rows)
    seen = describe_data(data_config('source csv("t.csv", target="y")', tmp_path))
    cfg = type("Cfg", (), {"name": None, "loss_task": None})
    measured = Measured(DataFacts(), seen, None, None, None)
    assert not measured.fit_can_reuse(cfg, torch.device("cpu"), None)


def test_a_described_table_encodes_only_the_sample_it_shows(tmp_path, monkeypatch):
    """compile fits the encoding and checks every distinct cell, but encodes one row: no feature matrix of
    the whole table (on a million rows it was compile's largest allocation); the row is fit's first sample."""
    from dlspec.data import column_encoding
    from dlspec.data.sources import columnar
    header, rows = generated_table(6, rows=200)
    write_table(tmp_path / "t.csv", header, rows)
    cfg = data_config('source csv("t.csv", target="y", categories=["zip"])', tmp_path)
    picked = []  # the rows each encoding of rows was asked for (None: every row)
    encode = column_encoding.encode_rows
    recorded = lambda *a: picked.append(a[2] if len(a) > 2 else None) or encode(*a)  # noqa: E731
    for module in (column_encoding, columnar):  # fit's encode_columns calls it there, compile's rows here
        monkeypatch.setattr(module, "encode_rows", recorded)
    seen = describe_data(cfg)
    assert [None if p is None else len(p) for p in picked] == [1]
    picked.clear()
    pipeline.build_data(cfg)
    assert picked == [None]  # fit encodes every row at once
    whole, one_by_one = (pipeline.load_source(cfg, None) for _ in range(2))
    train = pipeline._split(cfg, whole, len(whole.train))["train"][1]
    whole.train.fit(train)
    one_by_one.train.fit_encoding_only(train)
    assert whole.train.encoding == one_by_one.train.encoding
    for row in (0, int(train[0]), 77, len(rows) - 1):
        assert torch.equal(one_by_one.train.data[row][0], whole.train.data.x[row])
