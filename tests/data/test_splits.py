"""Split sizes on small data: allocated over the whole set, stratified as far as the counts allow.

A property test over random class counts and fractions checks the promises in
dlspec/data/splits.py: every row in one split, no requested split empty while
rows allow, sizes within one row of the request (and each class within one
row of its share), and the thin-split warning exactly when a split is smaller
than the number of classes or a class smaller than the number of splits. The
cases from issue 23 (50 x 3, 30 x 5, a 13-row table) run as they were found.
"""
import json
import math
import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dlspec
from dlspec.data.config import read_data
from dlspec.data.pipeline import build_data
from dlspec.data.splits import split_indices, thin_split_note
from dlspec.errors import DlspecWarning

SEVENTY = {"train": 0.7, "val": 0.15, "test": 0.15}


def labels(counts):
    """Targets for classes of the given sizes, interleaved as rows of a real file would be."""
    out, left = [], list(counts)
    while any(left):
        for k, c in enumerate(left):
            if c:
                out.append(f"class{k}")
                left[k] -= 1
    return out


@st.composite
def fractions(draw):
    """train always; val and test each maybe; positive weights normalised to sum to 1."""
    names = ["train"] + [k for k in ("val", "test") if draw(st.booleans())]
    weights = {k: draw(st.floats(0.01, 1.0)) for k in names}
    total = sum(weights.values())
    return {k: weights[k] / total if k in weights else 0.0 for k in ("train", "val", "test")}


def topped_up(n, shares):
    """Splits that only the non-empty rule gives a row: more floor-zero splits than rows left to round up."""
    floors = {k: math.floor(f * n + 1e-9) for k, f in shares.items()}
    zero = [k for k in shares if floors[k] == 0]
    return len(zero) if n >= len(shares) and len(zero) > n - sum(floors.values()) else 0


@settings(max_examples=300, deadline=None)
@given(counts=st.lists(st.integers(1, 40), min_size=1, max_size=50), fractions=fractions(),
       seed=st.integers(0, 2 ** 16))
def test_stratified_split_sizes_property(counts, fractions, seed):
    targets = labels(counts)
    n, n_classes = len(targets), len(counts)
    shares = {k: v for k, v in fractions.items() if v > 0}
    parts = split_indices(n, fractions, seed, targets)
    assert list(parts) == list(shares)
    assert sorted(i for idx in parts.values() for i in idx) == list(range(n))  # each row exactly once
    sizes = {k: len(v) for k, v in parts.items()}
    if n >= len(shares):
        assert min(sizes.values()) > 0, sizes
    extra = topped_up(n, shares)
    for k, f in shares.items():
        # within one row of the request (so within one row per class), plus one per topped-up split
        assert abs(sizes[k] - f * n) < 1 + extra + 1e-9, (k, sizes, f * n)
        if extra == 0:  # and each class keeps the floor or the ceiling of its own share
            for c, count in enumerate(counts):
                held = sum(targets[i] == f"class{c}" for i in parts[k])
                assert abs(held - f * count) < 1 + 1e-9, (k, c, held, f * count)
    note = thin_split_note(sizes, {f"class{c}": count for c, count in enumerate(counts)})
    promised = min(sizes.values()) < n_classes or min(counts) < len(shares)
    assert (note is not None) == promised, (sizes, counts, note)


@settings(max_examples=100, deadline=None)
@given(n=st.integers(0, 300), fractions=fractions(), chronological=st.booleans())
def test_unstratified_and_chronological_sizes_are_the_whole_set_rounding(n, fractions, chronological):
    shares = {k: v for k, v in fractions.items() if v > 0}
    parts = split_indices(n, fractions, 0, chronological=chronological)
    sizes = {k: len(v) for k, v in parts.items()}
    assert sum(sizes.values()) == n
    extra = topped_up(n, shares)
    assert all(abs(sizes[k] - f * n) < 1 + extra + 1e-9 for k, f in shares.items()), sizes
    if n >= len(shares):
        assert min(sizes.values()) > 0
    if chronological:  # in order: train first, then val, then test
        assert [i for idx in parts.values() for i in idx] == list(range(n))


@settings(max_examples=60, deadline=None)
@given(codes=st.lists(st.integers(0, 12), min_size=1, max_size=200), fractions=fractions(),
       seed=st.integers(0, 2 ** 16))
def test_integer_labels_split_as_their_names_do(codes, fractions, seed):
    """Integer labels are grouped by numpy, named ones row by row: the same classes (ordered by name), the same
    rows; each split an int64 array."""
    by_number = split_indices(len(codes), fractions, seed, codes)
    by_name = split_indices(len(codes), fractions, seed, [str(c) for c in codes])
    assert all(rows.dtype.name == "int64" for rows in by_number.values())
    assert {k: v.tolist() for k, v in by_number.items()} == {k: v.tolist() for k, v in by_name.items()}


def test_a_table_split_keeps_int64_arrays_and_a_dataset_class_gets_ints(tmp_path):
    from dlspec.data.pipeline import _split, load_source
    (tmp_path / "t.csv").write_text("a,y\n" + "".join(f"{i},{i % 2}\n" for i in range(40)))
    (tmp_path / "ds.py").write_text("import torch\nclass D(torch.utils.data.Dataset):\n"
                                    "    def __len__(self): return 40\n"
                                    "    def __getitem__(self, i): return torch.zeros(2), i % 2\n")
    for body, kind in [('source csv("t.csv", target="y")', "int64"), ("source ds.D()", "int")]:
        spec = dlspec.loads(f"data d {{ {body}; split train=0.5 val=0.5 seed=0 }}", str(tmp_path / "s.dlspec"))
        cfg = read_data(spec.program.data["d"], spec.program.global_env())
        parts = _split(cfg, load_source(cfg), 40)
        assert {type(rows[0]).__name__ if isinstance(rows, list) else rows.dtype.name
                for _, rows in parts.values() if len(rows)} == {kind}
        assert sorted(int(i) for _, rows in parts.values() for i in rows) == list(range(40))


@pytest.mark.parametrize("n_classes, per_class, expected", [
    (50, 3, {"train": 105, "val": 23, "test": 22}),  # was 100 / 50 / 0
    (30, 5, {"train": 105, "val": 23, "test": 22}),  # was 120 / 0 / 30
])
def test_issue_cases_keep_every_split(n_classes, per_class, expected):
    targets = labels([per_class] * n_classes)
    parts = split_indices(len(targets), SEVENTY, 0, targets)
    assert {k: len(v) for k, v in parts.items()} == expected
    for name in ("val", "test"):  # 22 or 23 rows for 50 or 30 classes: one row from as many classes
        held = [targets[i] for i in parts[name]]
        assert len(set(held)) == min(len(held), n_classes)


def test_tiny_splits_are_named_with_their_sizes():
    note = thin_split_note({"train": 105, "val": 23, "test": 22}, {f"c{k}": 3 for k in range(50)})
    assert note == ("split sizes train 105 / val 23 / test 22 rows; val and test have fewer rows than the "
                    "50 classes, so some classes are missing from some splits")
    note = thin_split_note({"train": 2, "val": 1}, {"a": 1, "b": 2})
    assert note == ("split sizes train 2 / val 1 rows; val has fewer rows than the 2 classes; 1 class has "
                    "fewer rows than the 2 splits: a (1), so some classes are missing from some splits")
    note = thin_split_note({"train": 2, "val": 0, "test": 0}, {"x": 1, "z": 1})
    assert note == ("split sizes train 2 / val 0 / test 0 rows; val and test are empty (2 rows for 3 splits); "
                    "2 classes have fewer rows than the 3 splits: x (1), z (1), so some classes are missing from "
                    "some splits")
    assert thin_split_note({"train": 80, "val": 20}, {"a": 50, "b": 50}) is None


def thirteen_rows(folder):
    """The issue's 13-row table: three classes of 4, 4 and 5 rows (it split 10 / 0 / 3)."""
    rows = [f"{i},{(i * 7) % 5},{'abc'[k]}" for i, k in enumerate([0] * 4 + [1] * 4 + [2] * 5)]
    (folder / "small.csv").write_text("x,z,label\n" + "\n".join(rows) + "\n")


SMALL = ('data d {{ source csv("small.csv", target="label"); split train=0.7 val=0.15 test=0.15; batch 4 }}\n'
         'model M {{ input vector(2); linear(3) }}\n'
         'train t {{ model M; data d; epochs 1; optimizer sgd(lr=0.1){extra} }}\n')


def test_thirteen_row_table_has_a_val_split_and_warns_once(tmp_path):
    thirteen_rows(tmp_path)
    spec = dlspec.loads(SMALL.format(extra=""), str(tmp_path / "spec.dlspec"))
    cfg = read_data(next(iter(spec.program.data.values())), spec.program.global_env())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        bundle = build_data(cfg)
    assert bundle.sizes == {"train": 9, "val": 2, "test": 2}
    notes = [w.message for w in caught if isinstance(w.message, DlspecWarning) and "split" in w.message.message]
    assert [str(m) for m in notes] == [
        f"{tmp_path / 'spec.dlspec'}:1:51: data d: split sizes train 9 / val 2 / test 2 rows; val and test have "
        "fewer rows than the 3 classes, so some classes are missing from some splits"]


@pytest.mark.slow
def test_thirteen_row_table_fits_with_val_and_test(tmp_path):
    thirteen_rows(tmp_path)
    spec_path = tmp_path / "spec.dlspec"
    spec_path.write_text(SMALL.format(extra="; early_stop patience=2"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DlspecWarning)
        run = dlspec.fit(str(spec_path), out=str(tmp_path / "run"), log=lambda *a: None)
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["monitor"] == "val_loss" and "val_loss" in run.history[0]
    assert list(results["test"]) == ["loss"]  # the test split exists, so it was evaluated (was {})
