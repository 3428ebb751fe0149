"""What every `dlspec` command shares: `--set` parsing and the error handling that turns a DlspecError
into its report and an exit status (never a traceback). Used by cli/verbs.py and cli/tools.py."""
from __future__ import annotations

import functools
import os
import sys

import click

from ..errors import DlspecError, DlspecWarning


def parse_sets(values) -> dict:
    """`--set NAME=VALUE` options in, {name: value text} out."""
    overrides = {}
    for item in values:
        if "=" not in item:
            raise DlspecError(f"--set expects NAME=VALUE, received '{item}'")
        key, value = item.split("=", 1)
        overrides[key.strip()] = value.strip()
    return overrides


def _show_warning(message, category, filename, lineno, file=None, line=None):
    """Warnings as dlspec's own messages: located ones with their caret, others on one line."""
    if isinstance(message, DlspecWarning):
        click.echo(message.report(), err=True)
    else:
        click.echo(f"warning: {message}", err=True)


def friendly_errors(fn):
    """Turn DlspecError (and anything unexpected) into a message and an exit status."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        import warnings
        warnings.showwarning = _show_warning
        try:
            return fn(*args, **kwargs)
        except DlspecError as exc:
            click.echo(exc.report(), err=True)
            sys.exit(1)
        except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM while dlspec fit sets up or finishes
            signame = getattr(exc, "signame", "SIGINT")
            click.echo("interrupted" if signame == "SIGINT" else f"stopped by {signame}", err=True)
            sys.exit(143 if signame == "SIGTERM" else 130)
        except BrokenPipeError:  # output piped into `head` and friends: stop quietly
            sys.stderr.close()
            sys.exit(0)
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


def ignore_late_signals() -> None:
    """Once a command has finished, Ctrl-C cannot change its outcome. Python restores the default
    handlers while it shuts down, and a SIGINT then kills the process silently (status -2, after the
    run was written); an ignored signal stays ignored through shutdown, so the exit status stands.
    (SIGTERM keeps its default: a shutdown that hangs can still be ended.)"""
    import signal
    import threading
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)


class DlspecGroup(click.Group):
    """The `dlspec` group: when it runs as the program (its arguments read from sys.argv, not given by a
    caller such as click's test runner), late Ctrl-C is ignored once the command is done."""

    def main(self, args=None, *more, **options):
        try:
            return super().main(args, *more, **options)
        finally:
            if args is None:
                ignore_late_signals()
