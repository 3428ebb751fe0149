"""dlspec stands on its own: a plain clone runs every shipped spec, and a wheel installed in a fresh
venv runs `dlspec fit` on a bundled source from an unrelated folder.

Both start from `git clone` of the repository the tests run in (its committed state), into a
temporary folder with no ../shared beside it. Each runs its dlspec commands in one Python process
(one torch import), the clone's code found first on PYTHONPATH, the wheel's in its own venv.
"""
import json
import os
import pathlib
import shutil
import subprocess
import sys
import textwrap

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow

# Offline as CI is: downloads go to a closed local port and fail at once, whatever network this machine has.
OFFLINE = {"https_proxy": "http://127.0.0.1:9", "http_proxy": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9",
           "HTTP_PROXY": "http://127.0.0.1:9", "no_proxy": "", "NO_PROXY": ""}


@pytest.fixture(scope="module")
def clone(tmp_path_factory):
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs git and a git checkout to clone")
    where = tmp_path_factory.mktemp("clone") / "dlspec"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(where)], check=True)
    assert not (where.parent / "shared").exists()  # nothing beside the clone, as for anyone who clones it
    return where


def run_python(code: str, cwd, env_extra: dict, python=sys.executable, timeout=600):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DLSPEC_SHARED", "PYTHONPATH"))}
    env.update({"PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1", "TORCH_HOME": str(pathlib.Path(cwd) / "torch-home"),
                **OFFLINE, **env_extra})
    return subprocess.run([str(python), "-c", textwrap.dedent(code)], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def needs_download(path) -> bool:
    """A spec whose train block needs a download: a data source with download=true, or pretrained
    torchvision weights given by name (not none, not a file)."""
    import dlspec
    from dlspec.layers.torchvision_models import is_weights_file
    program = dlspec.load(path).program
    env = program.global_env()
    for decl in program.data.values():
        for s in decl.settings:
            if s.key == "source" and getattr(s.args[0], "callee", None):
                if env.eval(s.args[0]).kwargs.get("download") is True:
                    return True
    value = env.lookup("weights", None) if "weights" in program.lets else None
    return isinstance(value, str) and value.lower() != "none" and not is_weights_file(value)


DRIVER = """
    import contextlib, io, json, sys
    import dlspec
    from dlspec.cli import main
    assert dlspec.__file__.startswith({root!r}), dlspec.__file__   # the clone's code, not the installed one

    def cli(*args):
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main(list(args), standalone_mode=False)
                status = 0
            except SystemExit as exc:
                status = exc.code
            except Exception as exc:
                status, err = -1, io.StringIO(err.getvalue() + repr(exc))
        return {{"status": status, "out": out.getvalue(), "err": err.getvalue()}}

    report = {{}}
    for spec in {specs!r}:
        report["compile " + spec] = cli("compile", "specs/" + spec)
    for spec in {fits!r}:
        report["fit " + spec] = cli("fit", "specs/" + spec, "--epochs", "1", "--out", "runs/" + spec)
    for spec in {downloads!r}:
        report["offline " + spec] = cli("fit", "specs/" + spec, "--epochs", "1", "--out", "runs/" + spec)
    print("REPORT" + json.dumps(report))
"""


def test_a_plain_clone_compiles_every_shipped_spec_and_fits_each_that_needs_no_download(clone):
    specs = sorted(p.name for p in (clone / "specs").glob("*.dlspec"))
    import dlspec
    with_train = [s for s in specs if dlspec.load(clone / "specs" / s).program.trains]
    downloads = [s for s in with_train if needs_download(clone / "specs" / s)]
    fits = [s for s in with_train if s not in downloads]
    assert {"digits.dlspec", "sentiment_lstm.dlspec", "airline_lstm.dlspec", "image_folder.dlspec",
            "listing.dlspec"} <= set(fits)  # the listing trains from a clone: its csv and photos are tracked
    code = DRIVER.format(root=str(clone), specs=specs, fits=fits, downloads=downloads)
    done = run_python(code, clone, {"PYTHONPATH": str(clone)})
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.split("REPORT", 1)[1])
    for spec in specs:
        result = report["compile " + spec]
        assert result["status"] == 0 and ": ok (" in result["out"], (spec, result)
    for spec in fits:
        result = report["fit " + spec]
        assert result["status"] == 0, (spec, result["err"][-2000:])
        results = json.loads((clone / "runs" / spec / "results.json").read_text())
        assert results["test"] and results["checkpoint"] == "best", spec
    for spec in downloads:  # offline: one error that says what to pass, no traceback, before any epoch
        result = report["offline " + spec]
        assert result["status"] == 1, (spec, result)
        assert "Traceback" not in result["err"] and "internal error" not in result["err"]
        assert "epoch 1/" not in result["out"]
        assert "download" in result["err"], result["err"]
        assert "--set weights=" in result["err"] or "download=true" in result["err"], result["err"]  # what to pass


def site_packages() -> list:
    """The folders the running interpreter imports torch and friends from."""
    return [p for p in sys.path if p.endswith("site-packages") and os.path.isdir(p)]


def test_a_wheel_installed_in_a_fresh_venv_fits_a_bundled_source_from_any_folder(clone, tmp_path):
    import importlib.util
    # without the wheel package, pip builds in an isolated env that fetches setuptools and wheel from the index
    flags = ["--no-build-isolation"] if importlib.util.find_spec("wheel") else []
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", str(clone), "--no-deps", "-q", "-w",
                            str(tmp_path / "dist"), *flags], capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stderr[-3000:]
    [wheel] = list((tmp_path / "dist").glob("dlspec-*.whl"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = pathlib.Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                       capture_output=True, text=True, check=True).stdout.strip())
    # torch and the other dependencies come from this interpreter's environment, after the venv's own dlspec
    (site / "dependencies.pth").write_text("\n".join(site_packages()) + "\n")
    install = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps",
                              "--no-index", str(wheel)], capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, install.stderr[-3000:]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "air.dlspec").write_text(textwrap.dedent("""
        model Net { input sequence(12, 1); lstm(8) -> last -> linear(1) }
        data air { source airline_passengers(window=12); split train=0.8 test=0.2; scale minmax; batch 16 }
        train { loss mse; epochs 1; metrics mae }
    """))
    check = run_python(f"""
        import os, sys
        import dlspec
        from dlspec.data.bundled import HERE
        assert dlspec.__file__.startswith({str(site)!r}), dlspec.__file__
        shipped = sorted(os.path.relpath(os.path.join(d, f), HERE) for d, _, fs in os.walk(HERE) for f in fs
                         if not f.endswith((".py", ".pyc")))
        print(len(shipped))
    """, elsewhere, {}, python=python)
    assert check.returncode == 0, check.stderr[-3000:]
    source_files = [f for f in (clone / "dlspec" / "data" / "bundled").rglob("*") if f.is_file() and f.suffix != ".py"]
    assert int(check.stdout.strip()) == len(source_files)  # every bundled file is in the wheel
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    fit = subprocess.run([str(venv / "bin" / "dlspec"), "fit", "air.dlspec", "--out", "run"], cwd=elsewhere,
                         env={**env, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=600)
    assert fit.returncode == 0, fit.stderr[-3000:]
    results = json.loads((elsewhere / "run" / "results.json").read_text())
    assert results["test"]["mae"] > 0 and results["checkpoint"] == "best"
