"""Every metrics.csv column has its own name: a metric listed with other arguments gets its own column
(f1, f1(average=binary) -> f1 and f1_binary), the same metric listed twice is refused at its line.

Lists are drawn from the metrics registry with every argument choice, so a
metric added later is covered without editing this file.
"""
import csv
import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dlspec
from dlspec.errors import DlspecError, DlspecWarning
from dlspec.train.config import read_train
from dlspec.train.metrics import FIXED_COLUMNS, METRICS, higher_is_better, metric_for_column

SPEC = ("data d {{ source sklearn_digits; split train=0.5 val=0.25 test=0.25 }}\n"
        "model M {{ input image(1, 8, 8); flatten; linear(10) }}\n"
        "train t {{\n  model M; data d; epochs 1\n  metrics {metrics}\n}}\n")


def argument_values(arg):
    """The values a test writes for one argument: each choice, a few ints, else the default."""
    if arg.choices:
        return st.sampled_from(arg.choices)
    if arg.kind == "int":
        return st.integers(1, 4)
    if arg.kind == "float":
        return st.sampled_from([0.25, 0.5])
    return st.just(arg.default)


@st.composite
def written_metric(draw):
    """(text as written, (name, every argument with defaults filled)) for one registry metric."""
    m = METRICS[draw(st.sampled_from(sorted(METRICS)))]
    bound, written = {}, []
    for arg in m.args:
        value = draw(argument_values(arg)) if draw(st.booleans()) or arg.required else arg.default
        bound[arg.name] = value
        if value != arg.default or draw(st.booleans()):  # defaults are sometimes written out too
            written.append(f"{arg.name}={value}")
    text = m.name + (f"({', '.join(written)})" if written else "")
    return text, (m.name, tuple(sorted(bound.items())))


@settings(max_examples=200, deadline=None)
@given(st.lists(written_metric(), min_size=1, max_size=6))
def test_columns_are_unique_or_the_repeat_is_refused_at_its_line(listed):
    spec = dlspec.loads(SPEC.format(metrics=", ".join(text for text, _ in listed)), "spec.dlspec")
    meanings = [meaning for _, meaning in listed]
    first_repeat = next((i for i, m in enumerate(meanings) if m in meanings[:i]), None)
    try:
        cfg = read_train(spec, "t")
    except DlspecError as exc:
        assert first_repeat is not None, exc.report()  # distinct metrics are never refused
        column = len("  metrics ") + sum(len(text) + 2 for text, _ in listed[:first_repeat]) + 1
        assert (exc.loc.line, exc.loc.column) == (5, column)
        assert f"metric '{listed[first_repeat][0]}' would be recorded as" in exc.message
        assert "two metrics.csv columns cannot share a name" in exc.message
        return
    assert first_repeat is None  # the same metric twice would overwrite its own column
    columns = list(FIXED_COLUMNS) + [p + n for n in cfg.metric_names() for p in ("", "val_")]
    assert len(columns) == len(set(columns)), columns
    for (m, args, _), name in zip(cfg.metrics, cfg.metric_names()):  # each column maps back to its metric
        assert metric_for_column(name) is m and metric_for_column("val_" + name) is m
        assert higher_is_better(name) == m.higher_is_better


BINARY = ('data d {{ source csv("t.csv", target="label"); split train=0.5 val=0.25 test=0.25; batch 8 }}\n'
          "model M {{ input vector(auto); linear(2) }}\n"
          "train t {{ model M; data d; epochs 2; optimizer sgd(lr=0.05); metrics {metrics} }}\n")


def fit_binary(folder, metrics):
    """A tiny two-class table (noisy, so the two F1 averages differ) trained with the given metrics."""
    xs = [(i * 37) % 11 - 5 for i in range(64)]  # b when x > 1, except every seventh row
    rows = [f"{x},{(i * 13) % 7 - 3},{'ab'[(x > 1) != (i % 7 == 0)]}" for i, x in enumerate(xs)]
    (folder / "t.csv").write_text("x,z,label\n" + "\n".join(rows) + "\n")
    path = folder / "spec.dlspec"
    path.write_text(BINARY.format(metrics=metrics))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DlspecWarning)
        return dlspec.fit(str(path), out=str(folder / "run"), log=lambda *a: None, progress=False)


@pytest.mark.slow
def test_issue_case_f1_and_binary_f1_keep_both_columns(tmp_path):
    """The case from issue 23: `metrics f1, f1(average=binary)` kept one f1 column holding the binary value."""
    both = fit_binary(tmp_path, "f1, f1(average=binary)")
    with open(tmp_path / "run" / "metrics.csv") as f:
        header = next(csv.reader(f))
    assert len(header) == len(set(header))
    assert {"f1", "f1_binary", "val_f1", "val_f1_binary"} <= set(header)
    (tmp_path / "macro").mkdir()
    (tmp_path / "binary").mkdir()
    macro = fit_binary(tmp_path / "macro", "f1").results["test"]["f1"]
    binary = fit_binary(tmp_path / "binary", "f1(average=binary)").results["test"]["f1_binary"]
    assert macro != binary  # the data is such that the two averages differ, so the check below can fail
    assert both.results["test"]["f1"] == macro and both.results["test"]["f1_binary"] == binary


def test_a_metric_repeated_is_refused_with_its_place(tmp_path):
    spec = dlspec.loads(SPEC.format(metrics="accuracy, f1, f1(average=macro)"), "spec.dlspec")
    with pytest.raises(DlspecError) as info:
        read_train(spec, "t")
    assert info.value.report().splitlines()[:3] == [
        "spec.dlspec:5:25: error: metric 'f1(average=macro)' would be recorded as 'f1', the name of the metric "
        "at 5:21; two metrics.csv columns cannot share a name",
        "      metrics accuracy, f1, f1(average=macro)",
        "                            ^"]
