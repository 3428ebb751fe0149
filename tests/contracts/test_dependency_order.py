"""The dependency order: one ordered list of floors (packages and modules of dlspec), from the kernel up
to the CLI. Every import in dlspec, at module level or inside a function, points to the same floor or
one below; the rule paragraph of docs/architecture.md is written from the same list
(`python tests/contracts/test_dependency_order.py --write` rewrites it)."""
import ast
import pathlib
import re
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "dlspec"
DOC = ROOT / "docs" / "architecture.md"

# Bottom first. A floor names packages or modules (dotted, below dlspec); a module belongs to the floor
# of its longest matching name. Why each floor sits where it does is in docs/architecture.md.
ORDER = [
    ("errors shapes runtime", "the kernel: located errors, shapes with axis roles, the torch modules a model is made of"),
    ("language", "bytes → text → parse tree → IR → Program (resolved names, lets, includes)"),
    ("schema", "arguments and settings checked against declared signatures; the Registry"),
    ("layers", "the layer registry: each layer's shape rule and builder"),
    ("planning", "Program → planned nodes with every shape (no torch)"),
    ("compiler", "plan → torch nn.Module"),
    ("plugins.discovery", "loading the modules a spec, --plugin or an entry point names"),
    ("spec", "the façade: load → plan(name, facts) → build"),
    ("data", "data blocks → sources, splits, encodings, loaders"),
    ("train", "train blocks → the run: trainer, loop, registries of losses/optimizers/schedules/metrics, parallel, run record"),
    ("plugins", "registering plugin layers, sources, losses … into the registries below"),
    ("runs", "a finished run directory → predictions, evaluations, exports"),
    ("diagnostics", "every error of a spec at once (compile, the language server)"),
    ("tuning", "dlspec tune: search spaces, trials as fits"),
    ("views", "what people look at: summary, graph, preview, explain, catalog"),
    ("editor", "the language server and editor grammars"),
    ("serve", "dlspec serve: a finished run behind HTTP (the runs stage's API, a page)"),
    ("api", "one function per verb"),
    ("cli", "click commands, no logic"),
    ("__init__ __main__", "the package's public names and `python -m dlspec`"),
]


def floor_of(module: str) -> int:
    """The floor of a dotted dlspec module name ('dlspec.train.loop' → the floor of 'train')."""
    rest = module.split(".", 1)[1] if "." in module else "__init__"
    best, found = -1, None
    for index, (names, _) in enumerate(ORDER):
        for name in names.split():
            if (rest == name or rest.startswith(name + ".")) and len(name) > best:
                best, found = len(name), index
    if found is None:
        raise AssertionError(f"{module} is on no floor of ORDER: add it")
    return found


def module_name(path: pathlib.Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(source: str, module: str, is_package: bool) -> list:
    """(line, imported dlspec module) for every import in a module's source, at any depth."""
    package = module if is_package else module.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target == "dlspec" or target.startswith("dlspec."):
                names = [f"{target}.{a.name}" for a in node.names]
                found += [(node.lineno, n) for n in names if _is_module(n)] or [(node.lineno, target)]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "dlspec"]
    return found


def _is_module(name: str) -> bool:
    path = ROOT / name.replace(".", "/")
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def upward_imports(source: str, module: str, is_package: bool) -> list:
    """'module:line imports target (floor a above floor b)' for each import that points up the order."""
    own = floor_of(module)
    problems = []
    for line, target in imports_of(source, module, is_package):
        if floor_of(target) > own:
            problems.append(f"{module}:{line} imports {target} "
                            f"({ORDER[floor_of(target)][0]!r} sits above {ORDER[own][0]!r})")
    return problems


def every_module():
    for path in sorted(PACKAGE.rglob("*.py")):
        yield path, module_name(path), path.name == "__init__.py"


def test_every_import_points_down_the_order():
    problems = []
    for path, module, is_package in every_module():
        problems += upward_imports(path.read_text(encoding="utf-8"), module, is_package)
    if problems:
        pytest.fail("imports against the dependency order (docs/architecture.md):\n" + "\n".join(problems),
                    pytrace=False)


def test_every_module_has_a_floor():
    for _, module, _ in every_module():
        floor_of(module)


def test_an_upward_import_is_caught():
    # what the first test would say if someone added one: an import in a function counts too
    source = "def f():\n    from ..train.loop import train_epoch\n"
    assert upward_imports(source, "dlspec.language.parser", False) == [
        "dlspec.language.parser:2 imports dlspec.train.loop ('train' sits above 'language')"]
    assert upward_imports("from . import resolve\n", "dlspec.language.parser", False) == []
    assert upward_imports("from ..errors import DlspecError\n", "dlspec.train.loop", False) == []


def rule_paragraph() -> str:
    lines = ["<!-- generated from ORDER in tests/contracts/test_dependency_order.py: do not edit by hand -->", ""]
    lines += ["| floor | packages and modules | what it does |", "| ---: | --- | --- |"]
    for index, (names, why) in reversed(list(enumerate(ORDER))):
        lines.append(f"| {index} | {', '.join('`' + n + '`' for n in names.split())} | {why} |")
    return "\n".join(lines) + "\n"


_GENERATED = re.compile(r"<!-- generated from ORDER[^\n]*\n\n?(?:\|[^\n]*\n)+")  # the marker and the table after it


def test_the_architecture_page_shows_this_order():
    text = DOC.read_text(encoding="utf-8")
    match = _GENERATED.search(text)
    assert match, "docs/architecture.md lost its generated order table"
    assert match.group(0) == rule_paragraph(), \
        "docs/architecture.md's order table is stale: run python tests/contracts/test_dependency_order.py --write"


if __name__ == "__main__" and sys.argv[1:] == ["--write"]:
    text = DOC.read_text(encoding="utf-8")
    DOC.write_text(_GENERATED.sub(lambda m: rule_paragraph(), text, count=1), encoding="utf-8")
