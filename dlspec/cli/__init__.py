"""The command line: arguments in, calls into the Python API out; no logic here.

Every user error is printed as its report (file:line:col, the line, a caret)
with exit status 1 and no traceback.

- __init__.py: the `dlspec` group, `main` (the console entry point `dlspec.cli:main`, and
  `python -m dlspec` through dlspec/__main__.py)
- verbs.py: compile, fit, evaluate, predict, export, runs and the catalog listings (layers, sources, ...)
- tools.py: tune, lsp, fmt, graph, data and explain
- common.py: `--set` parsing and the error handling every command shares (a report and an exit status,
  never a traceback)
"""
from __future__ import annotations

import click

from .common import DlspecGroup, friendly_errors


@click.group(cls=DlspecGroup)
@click.version_option(package_name="dlspec")
@click.option("--plugin", "plugins", multiple=True, metavar="MODULE",
              help="Import a plugin module (not installed as an entry point) before running.")
@friendly_errors
def main(plugins):
    """dlspec: describe a PyTorch model, its data and its training in one file."""
    from ..plugins.discovery import forget_named_modules, load_named_module
    forget_named_modules()
    for name in plugins:
        load_named_module(name)


# The commands join the group once it exists: verbs.py adds itself with @main.command,
# tools.py lists its commands in COMMANDS.
from . import tools, verbs  # noqa: E402,F401 - verbs registers its commands as it is imported

for _command in tools.COMMANDS:
    main.add_command(_command)

__all__ = ["main"]
