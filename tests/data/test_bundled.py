"""The data sets bundled in the package (dlspec/data/bundled) and their named sources."""
import configparser
import fnmatch
import os

import pytest

import dlspec
from dlspec.data.bundled import BUNDLED, HERE, bundled_path, resolve_bundled
from dlspec.data.sources import SOURCES
from dlspec.errors import DataError, Loc

from tests.conftest import ROOT, SPECS

LOC = Loc("<test>", 1, 1)
NAMED = {"labelled_sentences": "labelled_sentences", "airline_passengers": "airline_passengers",
         "digit_images": "digit_images"}  # named source -> bundled folder


def bundled_files():
    return sorted(os.path.relpath(os.path.join(d, f), HERE) for d, _, fs in os.walk(HERE) for f in fs
                  if "__pycache__" not in d and not f.endswith(".py"))


def test_each_bundled_set_has_its_source_and_licence_and_the_whole_stays_small():
    total = 0
    for name, entry in BUNDLED.items():
        folder = bundled_path(name)
        source = open(os.path.join(folder, "SOURCE.txt"), encoding="utf-8").read()
        assert entry.licence.split()[0] in source or entry.licence in source, name
        if entry.licence.startswith("CC"):  # the Creative Commons licences ask for the licence beside the data
            licence = open(os.path.join(folder, "LICENSE.txt"), encoding="utf-8").read()
            assert "creativecommons.org/licenses/" in licence and entry.licence in licence
    for rel in bundled_files():
        total += os.path.getsize(os.path.join(HERE, rel))
    assert total < 400_000, f"bundled data is {total:,} bytes; keep the package small"


def test_setup_cfg_ships_every_bundled_file_and_the_grammar():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    data = cfg["options.package_data"]
    patterns = [p.strip() for p in data["dlspec.data.bundled"].splitlines() if p.strip()]
    unshipped = [f for f in bundled_files() if not any(fnmatch.fnmatch(f, p) for p in patterns)]
    assert not unshipped
    assert "grammar.lark" in data["dlspec.language"]


def test_every_named_bundled_source_is_registered_with_its_kind():
    kinds = {"labelled_sentences": "text", "airline_passengers": "series", "digit_images": "image"}
    for name, kind in kinds.items():
        assert SOURCES[name].input_kind == kind
        assert "no download" in SOURCES[name].doc


def test_labelled_sentences_reads_the_uci_files():
    both = SOURCES["labelled_sentences"].load({"parts": ["imdb", "amazon"], "max_len": 20, "max_vocab": 100,
                                               "min_freq": 1}, LOC)
    assert len(both.train) == 2000 and both.classes == ["0", "1"] and sum(both.targets) == 1000
    imdb = SOURCES["labelled_sentences"].load({"parts": "imdb", "max_len": 20, "max_vocab": 100, "min_freq": 1},
                                              LOC)
    assert len(imdb.train) == 1000
    with pytest.raises(DataError, match="unknown part 'yelp'") as info:
        SOURCES["labelled_sentences"].load({"parts": ["yelp"], "max_len": 20, "max_vocab": 100, "min_freq": 1}, LOC)
    assert "imdb, amazon" in info.value.hint


def test_airline_passengers_is_the_box_jenkins_series():
    data = SOURCES["airline_passengers"].load({"window": 12, "horizon": 1, "step": 1}, LOC)
    assert len(data.series.values) == 144 and data.series.values[:3] == [112.0, 118.0, 132.0]
    assert len(data.train) == 132 and float(data.train[0][1][0]) == 115.0  # Jan 1950 follows 1949's twelve months
    assert data.chronological and data.task == "regression"


def test_digit_images_and_the_bundled_path_are_the_same_300_pngs():
    named = SOURCES["digit_images"].load({"mode": "L"}, LOC)
    folder = SOURCES["image_folder"].load({"path": resolve_bundled("bundled:digit_images", LOC), "mode": "L"}, LOC)
    assert named.classes == folder.classes == [str(c) for c in range(10)]
    assert named.train.files == folder.train.files and len(named.train) == 300
    image, label = named.train[0]
    assert image.size == (28, 28) and image.mode == "L" and label == 0


def test_bundled_paths_in_a_spec_and_their_errors(write_spec):
    spec = dlspec.load(write_spec('data d { source image_folder("bundled:digit_images") }\n'))
    from dlspec.data.config import read_data
    cfg = read_data(spec.program.data["d"], spec.program.global_env())
    assert cfg.source_args["path"] == bundled_path("digit_images")
    assert resolve_bundled("data/x.csv") is None  # other paths are left to the spec's folder
    with pytest.raises(DataError, match="no bundled data set 'digit_image'.*digit_images"):
        resolve_bundled("bundled:digit_image", LOC)
    with pytest.raises(DataError, match="has no file 'nope.txt'") as info:
        resolve_bundled("bundled:labelled_sentences/nope.txt", LOC)
    assert "imdb_labelled.txt" in info.value.hint
    bad = write_spec('data d { source image_folder("bundled:nothing") }\ntrain { }\nmodel M { input vector(2); '
                     'linear(2) }\n', "bad.dlspec")
    with pytest.raises(DataError) as info:
        dlspec.diagnostics.check_blocks(dlspec.load(bad))
    assert info.value.line == 1 and "bundled data sets: labelled_sentences" in info.value.hint


def test_no_shipped_spec_or_example_points_outside_the_repository():
    texts = [p.read_text() for p in SPECS] + [p.read_text() for p in (ROOT / "examples").rglob("*.py")]
    assert not [t for t in texts if "shared/data" in t or "../../" in t]


def test_a_tokens_model_on_labelled_sentences_compiles_before_any_data_loads():
    # the vocabulary size comes from max_vocab before the data is read, as for text(...)
    spec = dlspec.load(ROOT / "specs" / "sentiment_lstm.dlspec")
    from dlspec.train.measure import measure
    assert spec.plan("Sentiment", measure(spec, "Sentiment").facts).out_shape.dims == (2,)
