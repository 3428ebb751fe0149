"""Export, predict --out and fit --resume on a full or read-only disk: a one-line error naming the path,
exit status 1, never an abort or an internal error, and nothing partial left behind. Real small tmpfs
mounts (tests run as root); skipped, with the reason, where one cannot be mounted."""
import contextlib
import errno
import os
import shutil
import subprocess
import sys

import pytest
from click.testing import CliRunner

import dlspec
from dlspec.cli import main
from dlspec.errors import DlspecError
from tests.helpers.table_runs import fit_table_run, quiet

@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    return fit_table_run(tmp_path_factory.mktemp("faults"), new_rows=200)


@contextlib.contextmanager
def tmpfs(folder, size="256k"):
    folder.mkdir(exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                             capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.decode().strip() or 'not permitted'}")
    try:
        yield folder
    finally:
        import gc
        gc.collect()  # drop any file object a failed write still references
        if subprocess.run(["umount", str(folder)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(folder)])  # busy: detach it anyway, so nothing stays mounted


def fill(disk, leave=0):
    """Fill the disk up to `leave` bytes free."""
    stat = os.statvfs(disk)
    free = stat.f_bavail * stat.f_frsize
    with open(disk / "filler", "wb", buffering=0) as f:
        try:
            f.write(b"x" * max(free - leave, 0))
            while not leave:
                f.write(b"x" * 4096)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC


def left(folder, *keep):
    """Every file under `folder` but those named."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.name not in keep)


def cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def assert_one_line_error(result, words):
    assert result.exit_code == 1, result.output
    assert "internal error" not in result.output and "Traceback" not in result.output
    assert words in result.output, result.output


@pytest.mark.parametrize("fmt", ["python", "torchscript"])
@pytest.mark.parametrize("leave", [0, 8192])  # full, or room for the probe but not for every file
def test_export_to_a_full_disk(clean, tmp_path, fmt, leave):
    with tmpfs(tmp_path / "disk") as disk:
        (disk / "old").mkdir()
        (disk / "old" / "metadata.json").write_text("{}")  # a previous export's file stays intact
        fill(disk, leave)
        for out in (disk / "new", disk / "old"):
            result = cli("export", clean / "run", "--format", fmt, "--out", out)
            assert_one_line_error(result, f"cannot write {out}")
            assert "No space left on device" in result.output and "free some disk space" in result.output
        assert left(disk, "filler") == ["old", "old/metadata.json"]
        assert (disk / "old" / "metadata.json").read_text() == "{}"


def test_export_in_a_full_run_directory_and_a_read_only_one(clean, tmp_path):
    with tmpfs(tmp_path / "disk", "1m") as disk:
        run = disk / "run"
        shutil.copytree(clean / "run", run)
        fill(disk)
        assert_one_line_error(cli("export", run), f"cannot write {run}/export: No space left on device")
        assert not (run / "export").exists()
        (disk / "filler").unlink()
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        for fmt in ("python", "torchscript"):
            assert_one_line_error(cli("export", run, "--format", fmt),
                                  f"cannot write {run}/export: Read-only file system")


@pytest.mark.parametrize("ext", ["csv", "jsonl"])
@pytest.mark.parametrize("leave", [0, 4096])
def test_predict_out_on_a_full_disk(clean, tmp_path, ext, leave):
    with tmpfs(tmp_path / "disk", "64k") as disk:
        fill(disk, leave)
        out = disk / "preds" / f"answers.{ext}"
        result = cli("predict", clean / "run", clean / "new.csv", "--out", out)
        assert_one_line_error(result, f"cannot write {disk / 'preds' if not leave else out}: No space left on device")
        assert left(disk, "filler") == []


def test_predict_out_in_a_read_only_folder(clean, tmp_path):
    with tmpfs(tmp_path / "disk", "64k") as disk:
        (disk / "preds").mkdir()
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        result = cli("predict", clean / "run", clean / "new.csv", "--out", disk / "preds" / "a.csv")
        assert_one_line_error(result, f"cannot write {disk / 'preds'}: Read-only file system")


def test_resume_on_a_full_disk_leaves_no_probe_file(clean, tmp_path):
    with tmpfs(tmp_path / "disk", "1m") as disk:
        run = disk / "run"
        shutil.copytree(clean / "run", run)
        shutil.copy(clean / "rows.csv", disk / "rows.csv")
        fill(disk)
        with pytest.raises(DlspecError) as info:
            dlspec.fit(None, resume=str(run), epochs=2, log=quiet, progress=False)
        assert info.value.message == f"cannot write {run}: No space left on device"
        assert not [p for p in os.listdir(run) if p.startswith(".write-test") or p.endswith(".tmp")]


def test_torchscript_export_on_a_full_disk_does_not_abort(clean, tmp_path):
    """The process survives (it used to die of SIGABRT in torch's C++ writer)."""
    with tmpfs(tmp_path / "disk", "64k") as disk:
        fill(disk, 8192)
        done = subprocess.run([sys.executable, "-m", "dlspec", "export", str(clean / "run"), "--format",
                               "torchscript", "--out", str(disk / "ts")], capture_output=True, text=True,
                              env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
        assert done.returncode == 1, done.stderr
        assert f"cannot write {disk / 'ts'}" in done.stderr and "No space left on device" in done.stderr
