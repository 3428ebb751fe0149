"""The package's shape: every module imports on its own, in any order, with no import cycle,
and the language stages (load, check, plan) never import torch."""
import ast
import pathlib
import subprocess
import sys

import pytest

from tests.conftest import ROOT

PACKAGE = ROOT / "dlspec"


def module_names() -> list:
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


@pytest.mark.parametrize("order", ["alphabetical", "reverse"])
def test_every_module_imports_in_a_fresh_interpreter_in_any_order(order):
    names = module_names() if order == "alphabetical" else module_names()[::-1]
    code = "import importlib\nfor name in %r:\n    importlib.import_module(name)\n" % names
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]


def _top_level_imports(path: pathlib.Path, module: str) -> set:
    """dlspec modules imported at module level (not inside functions or TYPE_CHECKING)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.startswith("dlspec"):
                found.add(target)
                found.update(f"{target}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("dlspec"))
    return found


def test_no_module_level_import_cycle():
    modules = set(module_names())
    paths = {m: (PACKAGE.parent / m.replace(".", "/")).with_suffix(".py") for m in modules}
    for m in modules:
        if not paths[m].exists():
            paths[m] = PACKAGE.parent / m.replace(".", "/") / "__init__.py"
    graph = {m: {t for t in _top_level_imports(paths[m], m) if t in modules and t != m} for m in modules}
    # a package's __init__ importing its own submodules is how registration order is written: not a cycle
    for m in modules:
        graph[m] = {t for t in graph[m] if not (t.startswith(m + ".") and paths[m].name == "__init__.py")}
        graph[m] = {t for t in graph[m] if not m.startswith(t + ".")}  # importing one's parent package
    state, stack = {}, []

    def visit(m):
        state[m] = "open"
        stack.append(m)
        for t in sorted(graph[m]):
            if state.get(t) == "open":
                cycle = stack[stack.index(t):] + [t]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if t not in state:
                visit(t)
        stack.pop()
        state[m] = "done"

    for m in sorted(modules):
        if m not in state:
            visit(m)


def test_loading_and_planning_a_spec_does_not_import_torch():
    code = ("import sys, dlspec\n"
            "spec = dlspec.loads('model M { input image(1, 8, 8); conv(4, 3) -> relu -> flatten -> linear(2) }')\n"
            "spec.plan()\n"
            "print('torch' in sys.modules)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_every_package_folder_has_an_init_so_wheels_include_it():
    missing = [str(d.relative_to(PACKAGE.parent)) for d in PACKAGE.rglob("*")
               if d.is_dir() and d.name != "__pycache__" and any(d.glob("*.py")) and not (d / "__init__.py").exists()]
    assert missing == []
