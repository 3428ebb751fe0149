"""The command line: arguments in, calls into the Python API out; no logic here.

Every user error is printed as its report (file:line:col, the line, a caret)
with exit status 1 and no traceback.
"""
from __future__ import annotations

import functools
import json
import os
import sys

import click

from .errors import DlspecError


def _parse_sets(values) -> dict:
    overrides = {}
    for item in values:
        if "=" not in item:
            raise DlspecError(f"--set expects NAME=VALUE, received '{item}'")
        key, value = item.split("=", 1)
        overrides[key.strip()] = value.strip()
    return overrides


def friendly_errors(fn):
    """Turn DlspecError (and anything unexpected) into a message and an exit status."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except DlspecError as exc:
            click.echo(exc.report(), err=True)
            sys.exit(1)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except Exception as exc:  # a bug in dlspec: say so plainly
            if os.environ.get("DLSPEC_DEBUG"):
                raise
            click.echo(f"internal error: {type(exc).__name__}: {exc}\n"
                       "This is a bug in dlspec; set DLSPEC_DEBUG=1 for the traceback and please report it.",
                       err=True)
            sys.exit(2)
    return wrapper


@click.group()
@click.version_option(package_name="dlspec")
def main():
    """dlspec: describe a PyTorch model, its data and its training in one file."""


@main.command("compile")
@click.argument("spec_path", metavar="SPEC", type=click.Path(dir_okay=False))
@click.option("--model", "model_name", help="Compile only this model.")
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE", help="Override a `let` value.")
@click.option("--show", is_flag=True, help="Print a table per model: layers, shapes, parameters, spec lines.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--format", "fmt", type=click.Choice(["table", "torch"]), default="table",
              help="With --show: a table (default) or the torch module's repr.")
@friendly_errors
def compile_command(spec_path, model_name, sets, show, as_json, fmt):
    """Check SPEC and, with --show or --json, describe the compiled models.

    Exit status 0 when every model compiles; 1 with the errors otherwise.
    Nothing is moved to a GPU.
    """
    from . import api
    result = api.compile_spec(spec_path, model=model_name, overrides=_parse_sets(sets),
                              describe=show or as_json or fmt == "torch")
    if as_json:
        click.echo(json.dumps({"models": result.summaries}, indent=2))
    elif fmt == "torch":
        for name, module in result.modules.items():
            click.echo(f"# {name}\n{module}")
    elif show:
        from .summary import format_table
        click.echo("\n\n".join(format_table(s) for s in result.summaries))
    else:
        click.echo(f"{spec_path}: ok ({', '.join(result.model_names)})")


if __name__ == "__main__":
    main()
