"""docs/language.md stays in step with the grammar and the registries: every keyword of grammar.lark,
every data and train setting and every built-in name a spec can use is documented there."""
import re

import pytest

from dlspec.views import catalog
from dlspec.data.config import DATA_SETTINGS
from dlspec.train.config import TRAIN_SETTINGS
from tests.conftest import ROOT

DOC = (ROOT / "docs" / "language.md").read_text()
GRAMMAR = (ROOT / "dlspec" / "language" / "grammar.lark").read_text()


def documented(name: str) -> bool:
    return f"`{name}" in DOC or f"{name}(" in DOC


@pytest.mark.parametrize("keyword", sorted(set(re.findall(r'"([a-z_]+)"', GRAMMAR))))
def test_every_grammar_keyword_is_in_the_reference(keyword):
    assert documented(keyword)


@pytest.mark.parametrize("setting", sorted(DATA_SETTINGS) + sorted(TRAIN_SETTINGS))
def test_every_setting_is_in_the_reference(setting):
    assert documented(setting)


def test_every_built_in_name_is_in_the_reference():
    missing = [f"{kind} {name}" for kind, registry in catalog.registries().items() for name in registry.names()
               if registry.get(name).source == "built-in" and not documented(name)]  # not the tests' plugins
    assert not missing


def test_every_merge_is_in_the_reference_with_an_example():
    from dlspec.planning.nodes import MERGES
    missing = [m for m in MERGES if f"`{m}(" not in DOC and f"{m}(" not in DOC]
    assert not missing
    assert "matmul(a, b)" in DOC and "output price = h -> linear(1)" in DOC and "input photo: image(3, 64, 64)" in DOC
