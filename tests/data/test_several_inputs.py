"""A csv feeding several named inputs and targets (issue 25, the data side): image paths, a text column,
numbers and a category; a numeric and a class target. The loaded samples are compared with tensors made
by hand, and each mistake is a located error naming what is wrong."""
import pytest
import torch

import dlspec
from dlspec.data.config import read_data
from dlspec.data.model_inputs import link_model
from dlspec.data.pipeline import build_data
from dlspec.errors import DataError, DlspecError

MODEL = """model Listing {
    input photo: image(3, 8, 8)
    input words: tokens(5)
    input facts: vector(auto)
    p = photo -> flatten
    w = words -> embedding(4) -> flatten
    h = concat(p, w, facts) -> linear(8)
    output price = h -> linear(1)
    output kind = h -> linear(2)
}
"""
COLOURS = {"red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255), "grey": (128, 128, 128)}
WORDS = ["sunny flat near park", "dark small flat", "big sunny house", "small house near river",
         "flat with park view", "old dark house"]
ROWS = 12


def write_listings(folder, rows=ROWS, broken=None):
    """listings.csv and photos/*.png: row i has colour i % 4, words i % 6, sqm 30 + 5i, district a|b|c."""
    from PIL import Image
    (folder / "photos").mkdir(exist_ok=True)
    names = list(COLOURS)
    lines = ["photo,description,sqm,district,price,kind"]
    for i in range(rows):
        colour = names[i % len(names)]
        Image.new("RGB", (8, 8), COLOURS[colour]).save(folder / "photos" / f"{i}.png")
        photo = f"photos/{i}.png" if i != broken else "photos/missing.png"
        kind = "house" if "house" in WORDS[i % 6] else "flat"
        lines.append(f"{photo},{WORDS[i % 6]},{30 + 5 * i},{'abc'[i % 3]},{100.0 + i},{kind}")
    (folder / "listings.csv").write_text("\n".join(lines) + "\n")


def spec_text(source, steps="", model=MODEL):
    return (model + f"data d {{\n    source {source}\n    split train=0.5 val=0.25 test=0.25\n{steps}}}\n"
            "train { model Listing\n data d }\n")


def linked(folder, source, steps="", model=MODEL):
    spec = dlspec.loads(spec_text(source, steps, model), str(folder / "spec.dlspec"))
    cfg = read_data(spec.program.data["d"], spec.program.global_env())
    return link_model(cfg, spec.program, "Listing")


SOURCE = ('csv("listings.csv", inputs={photo: "photo", words: "description", facts: ["sqm", "district"]}, '
          'target=["price", "kind"])')


def test_samples_equal_hand_made_tensors(tmp_path):
    write_listings(tmp_path)
    data = build_data(linked(tmp_path, SOURCE))
    dataset = data.loaders["train"].dataset
    train = dataset.indices
    x, y = dataset[0]
    i = train[0]
    assert list(x) == ["photo", "words", "facts"]
    colour = torch.tensor(COLOURS[list(COLOURS)[i % 4]], dtype=torch.float32) / 255
    assert torch.equal(x["photo"], colour.view(3, 1, 1).expand(3, 8, 8))
    counts = {}
    for j in train:
        for w in WORDS[j % 6].split():
            counts[w] = counts.get(w, 0) + 1
    vocab = ["<pad>", "<unk>"] + sorted(counts, key=lambda w: (-counts[w], w))
    assert data.inputs["words"]["vocab"] == vocab  # built on the training rows only
    ids = [vocab.index(w) if w in vocab else 1 for w in WORDS[i % 6].split()][:5]
    assert x["words"].tolist() == ids + [0] * (5 - len(ids))
    district = [1.0 if "abc"[i % 3] == level else 0.0 for level in sorted({"abc"[j % 3] for j in train})]
    assert x["facts"].tolist() == [30 + 5 * i] + district
    assert y["price"].dtype == torch.float32 and y["price"].shape == () and float(y["price"]) == 100.0 + i
    assert y["kind"].dtype == torch.int64
    assert data.targets["kind"]["classes"][int(y["kind"])] == ("house" if "house" in WORDS[i % 6] else "flat")
    assert data.targets["price"] == {"column": "price", "task": "regression", "classes": None}
    assert data.inputs["photo"]["shape"] == [3, 8, 8] and data.inputs["facts"]["shape"] == [4]
    xb, yb = next(iter(data.loaders["val"]))
    assert xb["photo"].shape[1:] == (3, 8, 8) and yb["price"].shape == (len(xb["words"]),)
    assert "several inputs or targets" in data.path


def test_target_mapping_scale_and_per_input_steps(tmp_path):
    write_listings(tmp_path)
    source = SOURCE.replace('target=["price", "kind"]', 'target={price: "sqm", kind: "kind"}').replace(
        'facts: ["sqm", "district"]', 'facts: ["price", "district"]')
    steps = "    scale standard\n    transform photo { resize(4) -> resize(8) -> normalize(auto) }\n"
    data = build_data(linked(tmp_path, source, steps))
    train = data.loaders["train"].dataset.indices
    sqm = torch.tensor([30.0 + 5 * j for j in train])
    scale = data.targets["price"]["scale"]
    assert scale["center"] == pytest.approx(float(sqm.mean())) and scale["spread"] == pytest.approx(float(sqm.std()))
    x, y = data.loaders["train"].dataset[0]
    assert float(y["price"]) == pytest.approx((30 + 5 * train[0] - scale["center"]) / scale["spread"])
    assert data.inputs["photo"]["normalization"]["mean"] != [0.0, 0.0, 0.0]


def message(folder, source, steps="", model=MODEL):
    with pytest.raises(DlspecError) as info:
        build_data(linked(folder, source, steps, model))
    return info.value


@pytest.mark.parametrize("change, expected", [
    (('words: "description"', 'wrds: "description"'), "inputs= names 'wrds', which is not an input of model "
                                                       "Listing. Did you mean 'words'?"),
    (('words: "description", ', ''), "inputs= feeds no column to input 'words' of model Listing"),
    (('"description"', '"descripton"'), "has no column 'descripton' (for input 'words'). Did you mean "
                                        "'description'?"),
    (('target=["price", "kind"]', 'target=["price", "knd"]'), "target= column 'knd' is not an output of model "
                                                               "Listing. Did you mean 'kind'?"),
    (('target=["price", "kind"]', 'target=["price"]'), "target= gives no column for output 'kind'"),
    (('target=["price", "kind"]', 'target="price"'), "model Listing has 2 outputs (price, kind): name a target"),
    (('facts: ["sqm", "district"]', 'facts: ["sqm", "description"]'), "column 'description' holds free text"),
    (('facts: ["sqm", "district"]', 'facts: ["sqm", "photo"]'), "column 'photo' holds image paths, and input "
                                                                 "'facts' is a vector"),
    (('photo: "photo"', 'photo: ["photo", "sqm"]'), "input 'photo' is image(...), which reads one column"),
    (('facts: ["sqm", "district"]', 'facts: ["sqm", "price"]'), "column 'price' is both a target and fed to "
                                                                 "input 'facts'"),
    (('facts: ["sqm", "district"]', 'facts: ["sqm", "district", "sqm"]'), "inputs= gives input 'facts' the column "
                                                                         "'sqm' twice"),
    (('facts: ["sqm", "district"]', 'facts: 3'), "inputs= gives input 'facts' 3; expected a column name or a list"),
    (('inputs={photo: "photo", words: "description", facts: ["sqm", "district"]}', 'inputs=5'),
     "must map the model's inputs to columns"),
    (('target=["price", "kind"]', 'target=4'), "must be a column name, a list of columns named like the outputs"),
])
def test_each_mistake_is_a_located_error(tmp_path, change, expected):
    write_listings(tmp_path, rows=40)
    err = message(tmp_path, SOURCE.replace(*change))
    assert expected in err.message
    assert err.loc is not None and err.loc.line == 12  # the source line


def test_a_csv_column_cannot_feed_a_sequence_input(tmp_path):
    write_listings(tmp_path)
    err = message(tmp_path, SOURCE, model=MODEL.replace("vector(auto)", "sequence(2, 1)"))
    assert "csv cannot feed input 'facts': it is sequence(...), and a csv column feeds an image, tokens or vector " \
           "input" in err.message and "line 4" in err.hint


def test_a_missing_image_is_named_with_its_row(tmp_path):
    write_listings(tmp_path, broken=3)
    err = message(tmp_path, SOURCE)
    assert "listings.csv, line 5, column 'photo': image file not found:" in err.message
    assert "photos/missing.png" in err.message and "relative to the csv" in err.hint
    (tmp_path / "photos" / "3.png").write_bytes(b"not a png")
    write_listings(tmp_path)
    (tmp_path / "photos" / "3.png").write_bytes(b"not a png")
    assert "line 5, column 'photo':" in message(tmp_path, SOURCE).message
    assert "cannot be read as an image" in message(tmp_path, SOURCE).message


def test_steps_naming_no_input_and_unnamed_steps_with_several_inputs(tmp_path):
    write_listings(tmp_path)
    with pytest.raises(DataError) as info:
        linked(tmp_path, SOURCE, "    transform phto { resize(8) }\n")
    assert "transform phto: model Listing has no input 'phto'. Did you mean 'photo'?" in info.value.message
    assert info.value.loc.line == 14
    err = message(tmp_path, SOURCE, "    transform { resize(8) }\n")
    assert "name the input its transform and augment steps are for" in err.message
    with pytest.raises(DlspecError, match="'transform photo' is set twice"):
        linked(tmp_path, SOURCE, "    transform photo { resize(8) }\n    transform photo { resize(8) }\n")


def test_an_image_of_another_size_asks_for_a_resize(tmp_path):
    write_listings(tmp_path)
    err = message(tmp_path, SOURCE, model=MODEL.replace("image(3, 8, 8)", "image(3, 16, 16)"))
    assert "input 'photo' gets samples of shape [3, 8, 8] after its steps, and the model declares " \
           "image(3, 16, 16) at line 2" in err.message
    assert "transform photo { resize(16) }" in err.hint


def test_each_input_takes_its_sizes_from_its_own_data_and_the_model_takes_a_batch(tmp_path):
    from dlspec.train.measure import measure
    write_listings(tmp_path)
    model = MODEL.replace("tokens(5)", "tokens(5)")
    (tmp_path / "spec.dlspec").write_text(spec_text(SOURCE, model=model))
    spec = dlspec.load(str(tmp_path / "spec.dlspec"))
    measured = measure(spec, "Listing")
    assert measured.error is None
    facts = measured.facts
    words = facts.of_input("words")
    assert facts.of_input("facts").sample_shape == (4,)  # sqm + 3 districts, one-hot
    assert words.vocab == len(measured.bundle.inputs["words"]["vocab"])
    plan = spec.plan("Listing", facts)
    assert plan.inputs["facts"].dims == (4,) and plan.inputs["words"].vocab == words.vocab
    module = spec.build("Listing", facts)
    xb, yb = next(iter(measured.bundle.loaders["train"]))
    out = module(**xb)
    assert set(out) == {"price", "kind"} and out["kind"].shape == (len(yb["kind"]), 2)


def test_a_named_vector_auto_with_no_linked_data_says_so(tmp_path):
    spec = dlspec.loads(MODEL, str(tmp_path / "m.dlspec"))
    with pytest.raises(DlspecError) as info:
        spec.plan("Listing")
    assert "input 'words' takes its vocabulary size from the data, and no train block links this model" \
           in info.value.message
    assert info.value.loc.line == 3


DOTTED = '''
import torch
from torch.utils.data import Dataset


class Listings(Dataset):
    """Samples as dicts of named tensors; `drop` leaves an input out, `extra` adds one."""

    def __init__(self, drop="", extra="", side=8):
        self.drop, self.extra, self.side = drop, extra, side

    def __len__(self):
        return 8

    def __getitem__(self, i):
        x = {"photo": torch.full((3, self.side, self.side), i / 8), "words": torch.tensor([i % 3 + 1, 2, 0, 0, 0]),
             "facts": torch.tensor([float(i), 1.0])}
        x.pop(self.drop, None)
        if self.extra:
            x[self.extra] = torch.zeros(1)
        return x, {"price": torch.tensor(float(i)), "kind": torch.tensor(i % 2)}
'''


def dotted(folder, monkeypatch, args="", code=DOTTED):
    import sys
    (folder / "listing_data.py").write_text(code)
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.delitem(sys.modules, "listing_data", raising=False)  # this test's module, imported afresh
    model = MODEL.replace("tokens(5)", "tokens(5, vocab=4)").replace("vector(auto)", "vector(2)")
    return linked(folder, f"listing_data.Listings({args})", model=model)


def test_a_dataset_class_yielding_dicts_is_checked_against_the_model(tmp_path, monkeypatch):
    data = build_data(dotted(tmp_path, monkeypatch))
    xb, yb = next(iter(data.loaders["train"]))
    assert list(xb) == ["photo", "words", "facts"] and xb["photo"].shape[1:] == (3, 8, 8)
    assert data.targets == {"price": {"column": None, "task": "regression", "classes": None},
                            "kind": {"column": None, "task": "classification", "classes": None}}
    for args, expected in [('drop="words"', "yields inputs 'photo', 'facts', and model Listing takes photo, words, "
                                            "facts (missing 'words')"),
                           ('extra="size"', "(not in the model: 'size')"),
                           ("side=4", "input 'photo' gets samples of shape [3, 4, 4] after its steps, and the model "
                                      "declares image(3, 8, 8) at line 2"),
                           ('drop="photo", extra="photo"', "input 'photo' gets samples of shape [1]")]:
        with pytest.raises(DataError) as info:
            build_data(dotted(tmp_path, monkeypatch, args))
        assert expected in info.value.message
        assert info.value.loc.line in (11, 12)
    told = DOTTED + "\nListings.target_info = {'price': {'task': 'regression'}, 'kind': {'task': 'classification', " \
                    "'classes': ['flat', 'house']}}\n"
    data = build_data(dotted(tmp_path, monkeypatch, code=told))
    assert data.targets["kind"]["classes"] == ["flat", "house"]


def test_the_shipped_listings_table_loads_and_feeds_the_listing_model():
    """examples/listings: the generated csv and photos shipped with the repository, read as specs/listing.dlspec says."""
    from dlspec.train.measure import measure
    from tests.conftest import ROOT
    spec = dlspec.load(str(ROOT / "specs" / "listing.dlspec"))
    measured = measure(spec, "Listing")
    data = measured.checked() and measured.bundle
    assert data.sizes == {"train": 160, "val": 20, "test": 20}
    assert data.targets["kind"]["classes"] == ["flat", "house"] and data.targets["price"]["task"] == "regression"
    assert data.inputs["facts"]["shape"] == [6]  # sqm, rooms, 4 districts one-hot
    xb, yb = next(iter(data.loaders["train"]))
    assert xb["photo"].shape == (32, 3, 32, 32) and xb["words"].shape == (32, 12)
    assert abs(float(yb["price"].mean())) < 1.0  # scale standard: prices around 0
    out = spec.build("Listing", measured.facts)(**xb)
    assert out["price"].shape == (32, 1) and out["kind"].shape == (32, 2)


def test_the_run_record_keeps_what_reads_new_rows_and_its_facts(tmp_path):
    """A finished run reads raw rows as it was trained to: the record holds each input's vocabulary and
    table encoding and each target's task, classes and scale; a checkpoint's field check accepts them."""
    from dlspec.data.record import DataRecord
    from dlspec.train.checkpoint_fields import OPTIONAL
    from dlspec.train.measure import facts_of
    write_listings(tmp_path)
    cfg = linked(tmp_path, SOURCE, "    scale standard\n")
    data = build_data(cfg)
    record = DataRecord.of(data, None)
    state = record.to_state()
    assert state["inputs"] and state["targets"]
    assert all(OPTIONAL[k][0](v) for k, v in state.items() if v is not None)  # as a checkpoint is checked
    assert record.facts() == facts_of(data)
    assert record.targets["price"]["scale"]["kind"] == "standard"
    assert not OPTIONAL["inputs"][0]({"photo": "image"}) and not OPTIONAL["targets"][0]({"kind": {}})
    from dataclasses import replace
    other = replace(cfg, seed=3)  # another training split: another vocabulary, unless the run's is taken
    assert build_data(other).inputs["words"]["vocab"] != data.inputs["words"]["vocab"]
    assert build_data(other, fitted=record).inputs["words"]["vocab"] == data.inputs["words"]["vocab"]


def test_the_route_line_says_why_named_samples_go_per_sample(tmp_path):
    from dlspec.data.route import describe_route
    write_listings(tmp_path)
    assert describe_route(linked(tmp_path, SOURCE)) == (
        "data d: per-sample DataLoader (several inputs or targets: the cached path holds one tensor of samples "
        "and one of targets)")


def test_one_input_and_two_targets_and_images_of_two_sizes(tmp_path):
    """A model with one (unnamed) input and two outputs: x stays a tensor, y is a dict; vector(auto) takes the
    width of its columns. Images of two sizes with no resize are refused, naming both files."""
    from dlspec.train.measure import measure
    write_listings(tmp_path)
    model = ("model Listing {\n    input vector(auto)\n    h = input -> linear(8)\n    output price = h -> linear(1)\n"
             "    output kind = h -> linear(2)\n}\n")
    (tmp_path / "spec.dlspec").write_text(spec_text('csv("listings.csv", features=["sqm", "district"], '
                                                    'target=["price", "kind"])', model=model))
    spec = dlspec.load(str(tmp_path / "spec.dlspec"))
    measured = measure(spec, "Listing")
    assert measured.checked().sample_shape == (4,)
    x, y = next(iter(measured.bundle.loaders["train"]))
    assert isinstance(x, torch.Tensor) and x.shape[1:] == (4,) and set(y) == {"price", "kind"}
    assert set(spec.build("Listing", measured.facts)(x)) == {"price", "kind"}
    from PIL import Image
    Image.new("RGB", (6, 6)).save(tmp_path / "photos" / "5.png")
    err = message(tmp_path, SOURCE)
    assert "the images of input 'photo' differ in size" in err.message and "5.png is 6x6" in err.message
    assert "transform photo { resize(64) }" in err.hint
    build_data(linked(tmp_path, SOURCE, "    transform photo { resize([8, 8]) }\n"))  # resized: batched


def test_new_rows_are_read_as_the_run_was_trained_to(tmp_path):
    """A finished run's record reads new csv rows (no target columns) into exactly the tensors its loaders gave
    for the same rows: the saved vocabulary, column encoding, image steps and normalisation, nothing refitted."""
    from dlspec.data.named_rows import read_named_rows
    from dlspec.data.record import DataRecord
    write_listings(tmp_path)
    steps = "    transform photo { resize([8, 8]) -> normalize(auto) }\n    transform facts { normalize(auto) }\n"
    cfg = linked(tmp_path, SOURCE, steps)
    data = build_data(cfg)
    record = DataRecord.of(data, None)
    view = data.loaders["test"].dataset
    lines = (tmp_path / "listings.csv").read_text().splitlines()
    new = tmp_path / "new" / "rows.csv"
    new.parent.mkdir()
    header = lines[0].split(",")[:4]
    rows = [",".join(["../" + lines[i + 1].split(",")[0]] + lines[i + 1].split(",")[1:4]) for i in view.indices]
    new.write_text(",".join(header) + "\n" + "\n".join(rows) + "\n")
    read = read_named_rows(cfg, record, str(new))
    for k, i in enumerate(view.indices):
        x, _ = view[k]
        for name in ("photo", "words", "facts"):
            assert torch.allclose(read[name][k], x[name]), name
    new.write_text("photo,description,sqm\n../photos/0.png,flat,40\n")
    with pytest.raises(DataError, match="has no column 'district' \\(for input 'facts'\\)"):
        read_named_rows(cfg, record, str(new))


def test_looking_at_a_dataset_class_sample_moves_no_random_state(tmp_path, monkeypatch):
    """A Dataset class whose __getitem__ draws random numbers: loading it must not shift the generators the
    model's initialisation and the split use."""
    import random

    import numpy as np
    code = DOTTED.replace("x = {", "noise = torch.rand(1) + random.random() + np.random.rand()\n        x = {") \
        .replace("import torch\n", "import random\nimport numpy as np\nimport torch\n", 1)
    from dlspec.data.named_pipeline import peek
    from dlspec.data.pipeline import load_source
    src = load_source(dotted(tmp_path, monkeypatch, code=code))
    torch.manual_seed(0), random.seed(0), np.random.seed(0)
    peek(src, 0)
    assert (torch.rand(1).item(), random.random(), np.random.rand()) == \
        (torch.manual_seed(0) and torch.rand(1).item(), random.seed(0) or random.random(),
         np.random.seed(0) or np.random.rand())


def test_input_and_output_names_are_checked_when_the_train_block_links_the_data(tmp_path):
    """Without reading the csv (it need not exist yet): the train block that links data and model checks
    inputs= and target= against the model, so `dlspec compile` reports them."""
    for change, expected in [(('photo: "photo"', 'foto: "photo"'), "inputs= names 'foto', which is not an input"),
                             (('"kind"]', '"knd"]'), "target= column 'knd' is not an output of model Listing")]:
        with pytest.raises(DataError) as info:
            linked(tmp_path, SOURCE.replace(*change))
        assert expected in info.value.message and info.value.loc.line == 12


def test_scale_with_no_numeric_target_names_each_target_and_its_column(tmp_path):
    """A target the user meant as a number but whose column holds text is read as classes: the scale error
    says which column each target reads, so the mistaken mapping shows."""
    write_listings(tmp_path)
    source = SOURCE.replace('facts: ["sqm", "district"]', 'facts: ["sqm"]').replace(
        'target=["price", "kind"]', 'target={price: "district", kind: "kind"}')
    err = message(tmp_path, source, "    scale standard\n")
    assert (err.loc.line, err.loc.column) == (14, 5), err
    assert err.message == ("data d: scale applies to numeric targets, and no target here is a number: "
                           "price (column 'district'), kind (column 'kind') are read as classes")
    assert "a text column holds classes" in err.hint


def test_a_split_column_splits_a_table_with_named_inputs_as_it_says(tmp_path):
    """split="fold" with inputs=/several targets: the rows go where the column says (it was ignored, and the
    rows re-split by seed), and the column feeds no input unless named."""
    write_listings(tmp_path)
    lines = (tmp_path / "listings.csv").read_text().splitlines()
    folds = ["train", "train", "val", "test"]
    lines = [lines[0] + ",fold"] + [line + "," + folds[i % 4] for i, line in enumerate(lines[1:])]
    (tmp_path / "listings.csv").write_text("\n".join(lines) + "\n")
    source = SOURCE[:-1] + ', split="fold")'
    spec = dlspec.loads(MODEL + f"data d {{\n    source {source}\n}}\ntrain {{ model Listing\n data d }}\n",
                        str(tmp_path / "spec.dlspec"))
    cfg = link_model(read_data(spec.program.data["d"], spec.program.global_env()), spec.program, "Listing")
    bundle = build_data(cfg)
    assert bundle.sizes == {"train": 6, "val": 3, "test": 3}
    sqm = sorted(int(x) for xs, _ in bundle.loaders["val"] for x in xs["facts"][:, 0].tolist())
    assert sqm == [30 + 5 * i for i in range(2, ROWS, 4)]  # the val rows, by their sqm (30 + 5i)
