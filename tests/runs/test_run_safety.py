"""A received run directory cannot run code or redirect writes: a planted .pyc in its export folder
never runs, and symbolic links in it are refused by every verb that writes there."""
import os
import py_compile
import shutil
import sys

import pytest
import torch

import dlspec
from dlspec.errors import DlspecError
from dlspec.train.checkpoint import load_checkpoint
from dlspec.train.trust import UntrustedRunError
from tests.helpers.table_runs import quiet, write_table_spec as write_spec

@pytest.fixture(scope="module")
def clean_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("safety")
    dlspec.fit(write_spec(base), out=str(base / "run"), log=quiet, progress=False)
    return base / "run"


@pytest.fixture()
def run(clean_run, tmp_path):
    """A fresh copy of the finished run, as received from someone else."""
    copy = tmp_path / "received"
    shutil.copytree(clean_run, copy)
    shutil.copy(clean_run.parent / "rows.csv", tmp_path / "rows.csv")
    for name in ("last.ckpt", "best.ckpt"):  # its stored spec names rows.csv beside net.dlspec
        state = load_checkpoint(str(copy / name))
        state["spec_file"] = str(tmp_path / "net.dlspec")
        torch.save(state, copy / name)
    return copy


# ---- the python export never imports from the export folder ----------------------------------

def plant_pyc(folder, marker):
    """An unchecked-hash model.pyc that Python's loader would run without looking at model.py."""
    evil = folder.parent / "evil_model.py"
    evil.write_text(f"open({str(marker)!r}, 'w').write('ran')\ndef build(weights=None):\n    raise SystemExit\n")
    cache = folder / "__pycache__"
    cache.mkdir(parents=True, exist_ok=True)
    target = cache / f"model.{sys.implementation.cache_tag}.pyc"
    py_compile.compile(str(evil), cfile=str(target), invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
    return target


@pytest.mark.parametrize("out", ["default", "given"])
def test_a_planted_pyc_in_the_export_folder_never_runs(run, tmp_path, out):
    folder = run / "export" if out == "default" else tmp_path / "elsewhere"
    marker = tmp_path / "pwned"
    (folder).mkdir()
    (folder / "model.py").write_text("# an old export\n")
    planted = plant_pyc(folder, marker)
    path = dlspec.export(str(run), "python", None if out == "default" else str(folder))
    assert not marker.exists()
    assert path == str(folder / "model.py") and "def build(" in (folder / "model.py").read_text()
    assert not planted.exists()  # stale bytecode of the replaced model.py is gone: a later import reads the source


# ---- symbolic links in a run directory ------------------------------------------------------

RESUME_FILES = ["metrics.csv", "results.json", "curves.png", "run.yaml", "spec.dlspec", "last.ckpt", "best.ckpt"]


@pytest.mark.parametrize("name", RESUME_FILES)
def test_resume_refuses_a_symlinked_file(run, tmp_path, name):
    target = tmp_path / "victim"
    target.write_text("precious")
    if name.endswith(".ckpt"):
        shutil.move(str(run / name), str(target))  # the link still leads to a real checkpoint
    else:
        (run / name).unlink()
    (run / name).symlink_to(target)
    before = target.read_bytes()
    with pytest.raises(DlspecError) as info:
        dlspec.fit(None, resume=str(run), epochs=2, log=quiet, progress=False)
    assert info.value.message.startswith(f"refusing to write {run / name}: {run / name} is a symbolic link")
    assert "\n" not in info.value.message and "remove the link" in info.value.hint
    assert target.read_bytes() == before


@pytest.mark.parametrize("fmt", ["python", "torchscript"])
def test_export_refuses_a_symlinked_export_folder(run, tmp_path, fmt):
    outside = tmp_path / "outside"
    outside.mkdir()
    (run / "export").symlink_to(outside)
    with pytest.raises(DlspecError) as info:
        dlspec.export(str(run), fmt)
    assert info.value.message.startswith(f"refusing to write {run / 'export'}: {run / 'export'} is a symbolic link")
    assert list(outside.iterdir()) == []


@pytest.mark.parametrize("fmt, name", [("python", "model.py"), ("python", "weights.pt"), ("python", "predict.py"),
                                       ("python", "metadata.json"), ("torchscript", "model.pt")])
def test_export_refuses_a_symlinked_file(run, tmp_path, fmt, name):
    target = tmp_path / "victim"
    target.write_text("precious")
    (run / "export").mkdir()
    (run / "export" / name).symlink_to(target)
    with pytest.raises(DlspecError, match=f"refusing to write .*{name}: .* is a symbolic link"):
        dlspec.export(str(run), fmt)
    assert target.read_text() == "precious"
    assert not [p for p in (run / "export").iterdir() if p.name != name]  # nothing else written either


def test_a_stored_tensorboard_folder_outside_the_run_needs_trust(run, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    for name in ("last.ckpt", "best.ckpt"):
        state = load_checkpoint(str(run / name))
        state["spec_text"] = state["spec_text"].replace("seed 1", 'seed 1; log tensorboard(dir="../elsewhere")')
        torch.save(state, run / name)
    with pytest.raises(UntrustedRunError) as info:
        dlspec.fit(None, resume=str(run), epochs=2, log=quiet, progress=False)
    assert f"would write TensorBoard files to {elsewhere}, outside the run directory" in info.value.message
    assert "--trust" in info.value.hint and not elsewhere.exists()
    pytest.importorskip("tensorboard")
    resumed = dlspec.fit(None, resume=str(run), epochs=2, log=quiet, progress=False, trust=True)
    assert len(resumed.history) == 2 and elsewhere.is_dir()


def test_a_symlinked_tensorboard_folder_needs_trust(run, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    for name in ("last.ckpt", "best.ckpt"):
        state = load_checkpoint(str(run / name))
        state["spec_text"] = state["spec_text"].replace("seed 1", "seed 1; log tensorboard")
        torch.save(state, run / name)
    (run / "tensorboard").symlink_to(outside)
    with pytest.raises(UntrustedRunError, match=f"TensorBoard files to {outside}, outside the run directory"):
        dlspec.fit(None, resume=str(run), epochs=2, log=quiet, progress=False)
    assert list(outside.iterdir()) == []


def test_a_lock_file_that_is_a_link_is_treated_as_stale(run, tmp_path):
    (run / ".lock").symlink_to("/dev/zero")  # read as JSON, it would never end
    resumed = dlspec.fit(None, resume=str(run), epochs=2, log=quiet, progress=False)
    assert len(resumed.history) == 2 and not os.path.lexists(run / ".lock")


def test_resume_never_writes_through_a_link_planted_beside_an_event_file(tmp_path):
    pytest.importorskip("tensorboard")
    dlspec.fit(write_spec(tmp_path, log="tensorboard"), out=str(tmp_path / "run"), log=quiet, progress=False)
    [event] = (tmp_path / "run" / "tensorboard").iterdir()
    victim = tmp_path / "victim"
    victim.write_text("precious")
    (event.parent / f"{event.name}.tmp").symlink_to(victim)  # the name a rewrite of the event file goes through
    resumed = dlspec.fit(None, resume=str(tmp_path / "run"), epochs=2, log=quiet, progress=False)
    assert len(resumed.history) == 2 and victim.read_text() == "precious"
