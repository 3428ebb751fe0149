"""More `dlspec` commands: tune (docs/tuning.md), lsp, and the views fmt, graph, data and explain
(docs/editor.md). Like cli/verbs.py, no logic: each command parses its options and calls one dlspec.api function.
cli/__init__.py adds COMMANDS to the `dlspec` group."""
from __future__ import annotations

import sys

import click

from .common import friendly_errors, parse_sets


# ---- dlspec tune (docs/tuning.md) ----

@click.command("tune")
@click.argument("spec_path", metavar="SPEC", type=click.Path(dir_okay=False), required=False)
@click.option("--train", "train_name", help="The train block to tune (when the spec has several).")
@click.option("--trials", type=click.IntRange(min=1), help="How many trials this run adds (default 20).")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), metavar="SECONDS",
              help="Start no new trial after this many seconds.")
@click.option("--out", type=click.Path(file_okay=False), metavar="DIR",
              help="Tune directory (default runs/<spec>-tune): trials/NNNN, study.db, trials.csv, best.dlspec.")
@click.option("--storage", metavar="URL", help="An Optuna storage URL shared by several processes (default "
                                                "sqlite:///DIR/study.db).")
@click.option("--study", "study_name", help="The study's name in the storage (default: the spec's file name).")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the sampler.")
@click.option("--pruner", default="median", show_default=True, help="median, hyperband or none.")
@click.option("--nproc", type=click.IntRange(min=1), help="Processes per trial (passed to dlspec fit).")
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE", help="Fix a `let` (a space is then not searched).")
@click.option("--show", "show_dir", type=click.Path(file_okay=False), metavar="DIR",
              help="Print the trials table of the tune directory DIR and exit.")
@friendly_errors
def tune_command(spec_path, train_name, trials, timeout, out, storage, study_name, seed, pruner, nproc, sets,
                 show_dir):
    """Search the search spaces of SPEC (lets such as `loguniform(1e-4, 1e-1)`) with Optuna.

    Each trial is a normal fit in DIR/trials/NNNN, scored by the train block's
    early_stop monitor (else val_loss). Running the same command again continues
    the study; processes given one --storage share it. At the end: the trials
    table, DIR/trials.csv, DIR/best.dlspec (SPEC with the best values),
    DIR/history.png and DIR/importance.png.
    """
    from .. import api
    if show_dir is not None:
        click.echo(api.tune_show(show_dir))
        return
    if spec_path is None:
        raise click.UsageError("give a SPEC to tune, or --show DIR")
    api.tune(spec_path, train_name, trials=trials, timeout=timeout, out=out, storage=storage, study=study_name,
             seed=seed, pruner=pruner, nproc=nproc, overrides=parse_sets(sets), log=click.echo)


@click.command("lsp")
@click.option("--stdio", is_flag=True, help="Talk over stdin/stdout (the default and only transport; editors pass it).")
@click.option("--no-plugins", is_flag=True, help="Do not import the plugins that specs `use` or that are installed.")
@friendly_errors
def lsp_command(stdio, no_plugins):
    """Run the dlspec language server for editors (VS Code, Neovim, Emacs; see docs/editor.md).

    Diagnostics, hover (shapes and parameter counts), completion and go-to-definition.
    Needs the lsp extra: pip install 'dlspec[lsp]'.
    """
    from .. import api
    api.serve_lsp(run_plugins=not no_plugins)


# ---- views: fmt, graph, data, explain (dlspec/views/, language/fmt.py) ----

@click.command("fmt")
@click.argument("spec_paths", metavar="SPEC...", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--check", is_flag=True, help="Change nothing; list the files that would change and exit 1 if any.")
@friendly_errors
def fmt_command(spec_paths, check):
    """Rewrite SPEC files in dlspec's one canonical layout (as black does for Python).

    Indentation, spacing and blank lines are normalised; line breaks and comments
    stay where they are, and the compiled meaning never changes. With --check
    nothing is written: the files that would change are listed (exit status 1).
    """
    from .. import api
    changed = api.fmt(spec_paths, check=check)
    for path in changed:
        click.echo(f"would reformat {path}" if check else f"reformatted {path}")
    if check and changed:
        sys.exit(1)
    if not changed:
        click.echo(f"{len(spec_paths)} file{'s' if len(spec_paths) != 1 else ''} already formatted")


@click.command("graph")
@click.argument("spec_path", metavar="SPEC", type=click.Path(dir_okay=False))
@click.option("--model", "model_name", help="The model to draw (default: the one a train block uses, or the only one).")
@click.option("-o", "--out", type=click.Path(dir_okay=False), help="Output file: .svg (default MODEL.svg), .png, .pdf or .dot.")
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE", help="Override a `let` value, or a setting: BLOCK.SETTING=VALUE.")
@friendly_errors
def graph_command(spec_path, model_name, out, sets):
    """Draw a model: a box per layer with its output shape, edges for skips and merges, frames for
    blocks and labels. Uses graphviz's `dot` when installed, else matplotlib."""
    from .. import api
    click.echo(f"wrote {api.graph(spec_path, model_name, out, parse_sets(sets))}")


@click.command("data")
@click.argument("spec_path", metavar="SPEC", type=click.Path(dir_okay=False))
@click.option("--data", "data_name", help="The data block (default: the one a train block uses, or the only one).")
@click.option("--preview", is_flag=True, help="Write a grid of augmented training samples, a row per class.")
@click.option("-o", "--out", type=click.Path(dir_okay=False), help="With --preview: the image file (default preview.png).")
@click.option("--per-class", default=8, show_default=True, type=click.IntRange(1, 32), help="Samples per row.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the augmentation draws.")
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE", help="Override a `let` value, or a setting: BLOCK.SETTING=VALUE.")
@friendly_errors
def data_command(spec_path, data_name, preview, out, per_class, seed, sets):
    """Load a data block and describe it (samples per split, sample shape, classes); with
    --preview, write a picture of training samples after augmentation."""
    from .. import api
    if preview:
        click.echo(f"wrote {api.preview(spec_path, data_name, out, parse_sets(sets), per_class, seed)}")
        return
    for line in api.describe_data(spec_path, data_name, parse_sets(sets)):
        click.echo(line)


@click.command("explain")
@click.argument("spec_path", metavar="SPEC", type=click.Path(dir_okay=False))
@click.option("--train", "train_name", help="The train block (when the spec has several).")
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE", help="Override a `let` value, or a setting: BLOCK.SETTING=VALUE.")
@friendly_errors
def explain_command(spec_path, train_name, sets):
    """Print every resolved setting of a train block and its data block, and where each value came
    from: the default, file:line, an included file, or --set."""
    from .. import api
    from ..views.explain import format_rows
    click.echo(format_rows(api.explain(spec_path, train_name, parse_sets(sets))))


COMMANDS = [tune_command, lsp_command, fmt_command, graph_command, data_command, explain_command]
