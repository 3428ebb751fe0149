"""Any block name compiles, trains and exports: automatic submodule names never clash with torch's attributes."""
import importlib.util

import pytest
import torch
from click.testing import CliRunner
from torch import nn

import dlspec
from dlspec.cli import main
from dlspec.errors import DlspecError
from dlspec.planning.nodes import RESERVED_NAMES, iter_nodes
from dlspec.runs.python_source import PythonWriter
from dlspec.runtime.graph import GraphModule

CONTAINERS = (nn.Module, nn.Sequential, GraphModule)
# every attribute name the modules dlspec emits have (private and dunder ones too), as written and capitalised
ATTRIBUTES = sorted({n for cls in CONTAINERS for n in dir(cls)} | set(vars(GraphModule([], "input"))))
BLOCK_NAMES = sorted(set(ATTRIBUTES) | {n[0].upper() + n[1:] for n in ATTRIBUTES})


def spec_text(names):
    """Each name a block, half of them plain chains (nn.Sequential), half graphs; model Seq calls them in
    one chain (an nn.Sequential), model Graph in a chain it binds (a GraphModule)."""
    blocks = "".join(f"block {n} {{ linear(4) -> relu }}\n" if i % 2 else
                     f"block {n} {{ y = input -> linear(4); add(y, input) }}\n" for i, n in enumerate(names))
    chain = " -> ".join(names)
    return (blocks + f"model Seq {{\n    input vector(4)\n    {chain}\n}}\n"
            f"model Graph {{\n    input vector(4)\n    y = input -> {chain}\n    add(y, input)\n}}\n")


def load_source(source, tmp_path, name):
    path = tmp_path / f"{name}.py"
    path.write_text(source)
    loader = importlib.util.spec_from_file_location(f"exported_{name}", path)
    module = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(module)
    return module


def test_every_attribute_name_is_a_block_name(tmp_path):
    spec = dlspec.loads(spec_text(BLOCK_NAMES))
    x = torch.randn(3, 4)
    for model in ("Seq", "Graph"):
        plan = spec.plan(model)
        names = [name.rsplit(".", 1)[-1] for name, _, _ in iter_nodes(plan)]
        assert not [n for n in names if n in RESERVED_NAMES or n.startswith("_")]
        built = spec.build(model).eval()
        exported = load_source(PythonWriter(plan, built).source(), tmp_path, model).build()
        exported.load_state_dict(built.state_dict())  # strict: the python export names every part alike
        with torch.no_grad():
            assert torch.equal(exported.eval()(x), built(x))


def test_compile_accepts_every_attribute_name_as_a_block_name(write_spec):
    result = CliRunner().invoke(main, ["compile", str(write_spec(spec_text(BLOCK_NAMES)))])
    assert result.exit_code == 0, result.output
    assert "internal error" not in result.output and "already exists" not in result.output


def test_reserved_names_cover_every_public_attribute_of_the_emitted_modules():
    public = {n for cls in CONTAINERS for n in dir(cls) if not n.startswith("_")}
    assert public <= RESERVED_NAMES
    assert {"pop", "append", "double", "train", "eval", "float", "half", "cuda", "apply"} <= RESERVED_NAMES


def test_a_block_named_like_an_attribute_takes_the_next_suffix():
    spec = dlspec.loads("block Double(ch) { conv(ch, 3, padding=1) -> relu }\nblock _Stem { relu }\n"
                        "model M {\n input image(1, 8, 8)\n _Stem -> Double(4) -> Double(4) -> conv(2, 1)\n}")
    assert [c.name for c in spec.plan().children] == ["stem", "double_1", "double_2", "conv"]


@pytest.mark.parametrize("label", ["pop", "append"])
def test_a_label_named_like_a_sequential_attribute_is_refused_at_its_line(label):
    with pytest.raises(DlspecError, match=f"label '{label}' cannot be used: it is the name of an attribute") as info:
        dlspec.loads(f"model M {{\n input vector(4)\n {label}: linear(2)\n}}").plan()
    assert info.value.line == 3


def test_a_name_a_later_torch_takes_is_a_located_error(monkeypatch):
    """Planning keeps names clear of this torch's attributes; should a later torch add one, the build
    names the step instead of failing inside torch."""
    from dlspec.planning import naming
    monkeypatch.setattr(naming, "RESERVED_NAMES", frozenset())
    spec = dlspec.loads("block Double { relu }\nmodel M {\n input vector(4)\n linear(4) -> Double\n}")
    with pytest.raises(DlspecError, match="'double' cannot name a part of this model: torch .*'s Sequential "
                                          "has an attribute of that name") as info:
        spec.build()
    assert info.value.line == 4


def test_blocks_named_like_what_model_py_defines_get_their_own_classes(tmp_path):
    """A block's class in model.py never replaces an import, a copied runtime class or a builtin."""
    names = ["OrderedDict", "Reshape", "SequenceContext", "Exception", "None_", "OriginalUnits"]
    spec = dlspec.loads(spec_text(names).replace(
        "linear(4) -> relu }", "linear(4) -> relu -> reshape(2, 2) -> flatten }"))
    plan, built = spec.plan("Graph"), spec.build("Graph").eval()
    source = PythonWriter(plan, built).source()
    for name in ("OrderedDict", "SequenceContext", "Exception", "OriginalUnits"):
        assert f"class {name}(" not in source
    exported = load_source(source, tmp_path, "taken").build()
    exported.load_state_dict(built.state_dict())
    x = torch.randn(2, 4)
    with torch.no_grad():
        assert torch.equal(exported.eval()(x), built(x))


SPEC = """
block Double(ch) {
    conv(ch, 3, padding=1) -> batchnorm -> relu -> conv(ch, 3, padding=1) -> batchnorm -> relu
}
block Train(ch) { y = input -> conv(ch, 3, padding=1); add(y, input) }
block Eval { relu }
block Float { relu }
block Half { maxpool(2) }
block Cuda { relu }
block Apply(ch) { conv(ch, 1) }
model UNet {
    input image(1, 8, 8)
    Double(4) -> Train(4) -> Eval -> Float -> Half -> Cuda -> Apply(4) -> Double(4)
    flatten -> linear(10)
}
data d { source sklearn_digits; split train=0.8 test=0.2; batch 64 }
train { epochs 1 }
"""


def test_the_issues_block_names_compile_fit_and_export(tmp_path):
    (tmp_path / "unet.dlspec").write_text(SPEC)
    result = CliRunner().invoke(main, ["compile", str(tmp_path / "unet.dlspec"), "--show"])
    assert result.exit_code == 0 and "double_1" in result.output and "train_1" in result.output, result.output
    dlspec.fit(tmp_path / "unet.dlspec", out=str(tmp_path / "run"), log=lambda *a: None, progress=False)
    path = dlspec.export(str(tmp_path / "run"), "python", str(tmp_path / "export"))
    source = open(path).read()
    assert "class Train(nn.Module):" in source and "self.conv = " in source
    model = load_source(source, tmp_path, "unet").build(str(tmp_path / "export" / "weights.pt")).eval()
    from dlspec.runs.loaded import LoadedRun
    x = torch.randn(2, 1, 8, 8)
    with torch.no_grad():
        assert torch.equal(model(x), LoadedRun(str(tmp_path / "run")).model(x))


@pytest.mark.parametrize("text", [
    "block _ { y = input -> linear(4); add(y, input) }\nmodel M { input vector(4); _ }",
    "block class { y = input -> linear(4); add(y, input) }\nmodel M { input vector(4); class }",
    "model M {\n input vector(4)\n param class(4) = 0.5\n mul(input, class)\n}",
])
def test_names_python_cannot_write_as_attributes_export_too(text, tmp_path):
    spec = dlspec.loads(text)
    built = spec.build().eval()
    exported = load_source(PythonWriter(spec.plan(), built).source(), tmp_path, "odd").build()
    exported.load_state_dict(built.state_dict())
    x = torch.randn(2, 4)
    with torch.no_grad():
        assert torch.equal(exported.eval()(x), built(x))
