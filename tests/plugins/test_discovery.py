"""Plugin discovery: use lines, --plugin, entry points, and failures."""
import importlib.metadata
import textwrap

import pytest
from click.testing import CliRunner

import dlspec
from tests.conftest import EXAMPLE_PLUGIN
from dlspec.plugins import discovery as plugins
from dlspec.cli import main
from dlspec.errors import PluginError


def test_use_file_relative_to_the_spec(write_spec, tmp_path):
    (tmp_path / "plug").mkdir()
    (tmp_path / "plug" / "mine.py").write_text(textwrap.dedent('''
        import dlspec
        from torch import nn

        @dlspec.layer("test_double")
        class Double(nn.Module):
            """Doubles its input."""
            def forward(self, x):
                return 2 * x
    '''))
    path = write_spec('use "plug/mine.py"\nmodel M { input vector(2); test_double }')
    assert dlspec.load(path).build()(__import__("torch").ones(1, 2)).tolist() == [[2.0, 2.0]]
    dlspec.load(path)  # loading again reuses the module: no duplicate registration


def test_failing_plugin_names_the_plugin_and_the_use_line(write_spec, tmp_path):
    (tmp_path / "bad.py").write_text("raise ImportError('missing dependency foo')\n")
    path = write_spec('let a = 1\nuse "bad.py"\nmodel M { input vector(2); relu }')
    with pytest.raises(PluginError) as info:
        dlspec.load(path)
    assert info.value.line == 2 and "bad.py failed to load" in info.value.message and "foo" in info.value.message
    with pytest.raises(PluginError, match="plugin module no_such_pkg.layers failed to load"):
        dlspec.loads("use no_such_pkg.layers\nmodel M { input vector(2); relu }")


def _entry_point(name, value):
    return importlib.metadata.EntryPoint(name=name, value=value, group=plugins.ENTRY_POINT_GROUP)


@pytest.fixture
def fake_entry_points(monkeypatch):
    def install(*eps):
        monkeypatch.setattr(importlib.metadata, "entry_points",
                            lambda group=None: [e for e in eps if e.group == group])
        monkeypatch.setattr(plugins, "_entry_points_loaded", False)
    return install


def test_entry_points_load_and_broken_ones_warn(fake_entry_points, monkeypatch):
    fake_entry_points(_entry_point("example", "dlspec_example_plugin"),
                      _entry_point("broken", "no_such_module_xyz"))
    with pytest.warns(UserWarning, match="dlspec plugin 'broken' .* failed to load"):
        dlspec.loads("model M { input vector(2); scaled_linear(3) }").check()


def test_autoload_can_be_turned_off(fake_entry_points, monkeypatch):
    fake_entry_points(_entry_point("broken", "no_such_module_xyz"))
    monkeypatch.setenv("DLSPEC_DISABLE_PLUGIN_AUTOLOAD", "1")
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dlspec.loads("model M { input vector(2); relu }").check()


def test_cli_plugin_option_and_layer_listing(tmp_path, monkeypatch):
    (tmp_path / "cli_plug.py").write_text(textwrap.dedent('''
        import dlspec
        from torch import nn

        @dlspec.layer("test_cli_layer")
        def make(in_features: int, out: int = 4):
            """A layer made by the command-line plugin."""
            return nn.Linear(in_features, out)
    '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    result = CliRunner().invoke(main, ["--plugin", "cli_plug", "layers"])
    assert result.exit_code == 0 and "test_cli_layer(out=4)" in result.output
    assert "A layer made by the command-line plugin.  [plugin cli_plug.make via --plugin]" in result.output
    result = CliRunner().invoke(main, ["layers", "scaled_linear"])
    assert "scaled_linear(out, init=1.0)" in result.output and "in_features is inferred" in result.output
    result = CliRunner().invoke(main, ["--plugin", "missing_mod_q", "layers"])
    assert result.exit_code == 1 and "missing_mod_q failed to load" in result.output


@pytest.mark.parametrize("kind, name", [("transforms", "random_crop"), ("losses", "huber"), ("metrics", "top_k"),
                                        ("optimizers", "sgd"), ("schedules", "cosine"), ("sources", "csv")])
def test_every_catalog_lists_and_describes(kind, name):
    listing = CliRunner().invoke(main, [kind])
    assert listing.exit_code == 0 and name in listing.output
    detail = CliRunner().invoke(main, [kind, name])
    assert detail.exit_code == 0 and detail.output.startswith(name)


def test_example_plugin_package_trains_with_its_layer_and_dataset(tmp_path):
    run = dlspec.fit(EXAMPLE_PLUGIN / "moons.dlspec", out=str(tmp_path / "run"), log=lambda *a: None)
    assert run.results["test"]["accuracy"] > 0.9
    from dlspec.train.checkpoint import load_checkpoint
    state = load_checkpoint(str(tmp_path / "run"))["model"]
    assert "scaled_linear.scale" in state and not bool((state["scaled_linear.scale"] == 0.5).all())
    resumed = dlspec.fit(None, resume=str(tmp_path / "run"), epochs=22, log=lambda *a: None)
    assert len(resumed.history) == 22


def test_entries_say_how_their_plugin_was_loaded(tmp_path):
    from dlspec.views.catalog import listing
    (tmp_path / "origin_plug.py").write_text(textwrap.dedent('''
        import torch
        import dlspec

        @dlspec.dataset("test_origin_data")
        class Tiny(torch.utils.data.Dataset):
            """Four samples."""

            def __len__(self):
                return 4

            def __getitem__(self, i):
                return torch.zeros(2), 0
    '''))
    (tmp_path / "s.dlspec").write_text('use "origin_plug.py"\nmodel M { input vector(2); linear(2) }\n')
    dlspec.load(tmp_path / "s.dlspec")
    sources = {row[0]: row[2] for row in listing("sources")}
    assert sources["test_origin_data"] == "plugin origin_plug.py:Tiny via use file"


def test_a_plugin_file_that_fails_after_registering_reports_its_own_error_every_time(write_spec, tmp_path):
    # `dlspec compile` loads a spec more than once; re-running the file made its first registration read as
    # "already registered" and hid the real error
    (tmp_path / "half.py").write_text(textwrap.dedent('''
        import dlspec
        from torch import nn

        @dlspec.layer("test_half_registered")
        class Half(nn.Module):
            def forward(self, x):
                return x

        raise RuntimeError("boom in the plugin")
    '''))
    path = write_spec('use "half.py"\nmodel M { input vector(2); test_half_registered }')
    for _ in range(2):
        with pytest.raises(PluginError, match="half.py failed to load: RuntimeError: boom in the plugin"):
            dlspec.load(path)
    result = CliRunner().invoke(main, ["compile", str(path)])
    assert result.exit_code == 1 and "RuntimeError: boom in the plugin" in result.output
    assert "already registered" not in result.output
