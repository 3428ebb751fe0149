"""The main `dlspec` verbs: compile, fit, evaluate, predict, export, runs, and the catalog listings
(layers, sources, ...). Arguments in, calls into the Python API out; no logic here.
cli/__init__.py defines the `dlspec` group these commands join.
"""
from __future__ import annotations

import json
import sys

import click

from . import main
from .common import friendly_errors, parse_sets


@main.command("compile")
@click.argument("spec_path", metavar="SPEC", type=click.Path(dir_okay=False))
@click.option("--model", "model_name", help="Compile only this model.")
@click.option("--train", "train_name", help="Apply this train block's freeze settings, compile its model and check only it and its data.")
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE", help="Override a `let` value, or a setting: BLOCK.SETTING=VALUE.")
@click.option("--show", is_flag=True, help="Print a table per model: layers, shapes, parameters, spec lines.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--format", "fmt", type=click.Choice(["table", "torch"]), default="table",
              help="With --show: a table (default) or the torch module's repr.")
@friendly_errors
def compile_command(spec_path, model_name, train_name, sets, show, as_json, fmt):
    """Check SPEC and, with --show or --json, describe the compiled models.

    Exit status 0 when every model compiles; 1 with the errors otherwise.
    Nothing is moved to a GPU.
    """
    from .. import api
    result = api.compile_spec(spec_path, model=model_name, overrides=parse_sets(sets),
                              describe=show or as_json or fmt == "torch", train=train_name)
    if as_json:
        click.echo(json.dumps({"models": result.summaries, "data_paths": result.data_paths}, indent=2))
    elif fmt == "torch":
        for name, module in result.modules.items():
            click.echo(f"# {name}\n{module}")
    elif show:
        from ..views.summary import format_table
        click.echo("\n\n".join(format_table(s) for s in result.summaries) or f"{spec_path} declares no models")
        if result.data_paths:  # which data path each data block takes, and why
            click.echo("\n" + "\n".join(result.data_paths.values()))
    else:
        click.echo(f"{spec_path}: ok ({', '.join(result.model_names) or 'no models'})")


def _catalog_command(kind: str):
    def command(name, spec_path):
        from ..views import catalog
        if spec_path:
            from ..spec import load
            load(spec_path)  # runs the spec's `use` lines so its plugins are listed
        else:
            from ..plugins.discovery import load_entry_points
            load_entry_points()
        if name:
            click.echo(catalog.describe(kind, name))
            return
        rows = catalog.listing(kind)
        width = min(max((len(r[0]) for r in rows), default=0), 36)  # long signatures get their own line
        for sig, doc, source in rows:
            tag = "" if source == "built-in" else f"  [{source}]"
            if len(sig) > width:
                click.echo(f"{sig}\n{' ' * (width + 2)}{doc}{tag}")
            else:
                click.echo(f"{sig.ljust(width)}  {doc}{tag}")
    command.__doc__ = (f"List the {kind} a spec can use, or show the full documentation of one.\n\n"
                       f"With --spec SPEC the plugins that SPEC uses are listed too.")
    command = click.argument("name", required=False)(command)
    command = click.option("--spec", "spec_path", type=click.Path(dir_okay=False),
                           help="Also load the plugins this spec uses.")(command)
    return main.command(kind)(friendly_errors(command))


def _register_catalog_commands() -> None:
    from ..views.catalog import KINDS
    for kind in KINDS:
        _catalog_command(kind)


_register_catalog_commands()


_TRUST_HELP = ("Allow a run whose stored spec runs Python code (use lines, dotted data sources, plugins); "
               "a run directory from elsewhere is untrusted input.")


def _trust_option(fn):
    return click.option("--trust", is_flag=True, help=_TRUST_HELP)(fn)


def _answering_options(fn):
    """--max-pixels and --device: predict and serve answer the same inputs on the same device."""
    fn = click.option("--device", default="cpu", show_default=True)(fn)
    return click.option("--max-pixels", type=click.IntRange(min=1), default=None,
                        help="Refuse images declaring more pixels (default: the run's image source's "
                             "max_pixels, 50000000).")(fn)


def _checkpoint_option(fn):
    return click.option("--checkpoint", type=click.Choice(["best", "last"]), default=None,
                        help="The weights to use: best (best.ckpt, by the run's monitor) or last (the final "
                             "epoch). Default: best, or last with a warning in a run that has no best.ckpt.")(fn)


@main.command("fit")
@click.argument("spec_path", metavar="SPEC", type=click.Path(dir_okay=False), required=False)
@click.option("--train", "train_name", help="The train block to run (when the spec has several).")
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE", help="Override a `let` value, or a setting: BLOCK.SETTING=VALUE.")
@click.option("--epochs", type=click.IntRange(min=1), help="Train for this many epochs.")
@click.option("--device", help="auto, cpu, cuda, cuda:N or mps.")
@click.option("--out", type=click.Path(file_okay=False), help="Run directory (default runs/<train or model>-<timestamp>).")
@click.option("--resume", type=click.Path(exists=True, file_okay=False), help="Continue the run in this directory.")
@click.option("--nproc", type=int, metavar="N",
              help="Train with N processes on this machine (torch.distributed; batch stays the global batch).")
@_trust_option
@_checkpoint_option
@friendly_errors
def fit_command(spec_path, train_name, sets, epochs, device, out, resume, trust, nproc, checkpoint):
    """Train what the train block of SPEC describes and write a run directory.

    The run directory holds spec.dlspec, run.yaml, metrics.csv, results.json,
    last.ckpt, best.ckpt and curves.png. With --resume DIR (SPEC may be left
    out) training continues from DIR/last.ckpt, possibly to more epochs.
    With --nproc N, N processes train together (DistributedDataParallel);
    under torchrun or srun (python -m dlspec fit SPEC) each process joins
    that job. See docs/distributed.md.
    """
    from .. import api
    if spec_path is None and resume is None:
        raise click.UsageError("give a SPEC to train, or --resume RUN_DIR")
    run = api.fit(spec_path, train_name, overrides=parse_sets(sets), epochs=epochs, device=device, out=out,
                  resume=resume, log=click.echo, trust=trust, nproc=nproc, checkpoint=checkpoint)
    if run.interrupted:
        sys.exit(run.exit_status)
    if run.rank == 0:  # under torchrun or srun, one line for the job
        click.echo(f"run directory: {run.out_dir}")


@main.command("evaluate")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--split", type=click.Choice(["train", "val", "test"]), default="test", show_default=True)
@click.option("--device", default="cpu", show_default=True)
@_trust_option
@_checkpoint_option
@friendly_errors
def evaluate_command(run_dir, split, device, trust, checkpoint):
    """Print the loss and metrics of a finished run on a split (its best weights unless --checkpoint last)."""
    from .. import api
    for name, value in api.evaluate(run_dir, split, device, trust, checkpoint).items():
        click.echo(f"{split}_{name}: {value:.4f}")


@main.command("predict")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.argument("inputs", nargs=-1)
@click.option("--top", default=1, show_default=True, type=click.IntRange(min=1), help="Show the top K classes.")
@click.option("--steps", default=1, show_default=True, type=click.IntRange(min=1),
              help="Time series: how many values to forecast.")
@click.option("--batch", default=64, show_default=True, type=click.IntRange(min=1), help="Inputs per forward pass.")
@click.option("--out", "out", type=click.Path(dir_okay=False), help="Also write the answers to a .csv or .jsonl file.")
@_answering_options
@_trust_option
@_checkpoint_option
@friendly_errors
def predict_command(run_dir, inputs, top, steps, batch, out, max_pixels, device, trust, checkpoint):
    """Predict with a finished run.

    INPUTS are image files, CSV files of feature rows, folders (searched
    recursively for the files the run reads) or globs; sentences or .txt
    files for a text run (dlspec predict RUN_DIR "a great film"); for a
    time-series run, nothing (forecast after the series) or a CSV holding
    the recent values. A run trained on a csv with inputs= (several inputs,
    or several targets) reads CSV rows with the training csv's columns
    (image paths relative to the CSV) and answers per output. Printed
    numbers are rounded; --out keeps them whole.
    """
    from .. import api
    from ..runs.writers import readable
    answers = api.predict(run_dir, list(inputs), device, top, steps, trust, batch, out, checkpoint, max_pixels)
    for p in answers:
        click.echo(readable(p, top))
    if out:
        click.echo(f"wrote {len(answers)} predictions to {out}")


@main.command("serve")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0: every interface).")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(min=1), help="Server processes.")
@click.option("--wait-ms", default=5.0, show_default=True, type=click.FloatRange(min=0),
              help="How long a request waits for others to share its model call.")
@click.option("--max-batch", default=32, show_default=True, type=click.IntRange(min=1),
              help="Most samples in one model call (1: no batching).")
@click.option("--max-body", default=10_000_000, show_default=True, type=click.IntRange(min=1),
              help="Refuse request bodies larger than this many bytes.")
@_answering_options
@_trust_option
@_checkpoint_option
@friendly_errors
def serve_command(run_dir, host, port, workers, wait_ms, max_batch, max_body, max_pixels, device, trust, checkpoint):
    """Serve a finished run over HTTP: POST /predict, GET /metadata, /health, /docs, and a page at /
    to try it in a browser. Needs the serve extra: pip install 'dlspec[serve]'. See docs/serve.md.
    """
    from .. import api
    api.serve(run_dir, host, port, checkpoint, workers, trust, device, max_pixels, log=click.echo,
              wait_ms=wait_ms, max_batch=max_batch, max_body=max_body)


@main.command("export")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--format", "fmt", type=click.Choice(["python", "torchscript", "onnx"]), default="python",
              show_default=True)
@click.option("--out", type=click.Path(file_okay=False), help="Folder to write into (default RUN_DIR/export).")
@_trust_option
@_checkpoint_option
@friendly_errors
def export_command(run_dir, fmt, out, trust, checkpoint):
    """Export a finished run's model so it runs without dlspec.

    python writes model.py (readable PyTorch source) and weights.pt;
    torchscript writes model.pt; onnx writes model.onnx (needs the onnx
    extra: pip install 'dlspec[onnx]'). Each export is checked to reproduce
    the model's outputs.
    """
    from .. import api
    click.echo(f"wrote {api.export(run_dir, fmt, out, trust, checkpoint)}")


@main.command("runs")
@click.argument("root", metavar="[DIR]", default="runs", required=False, type=click.Path(file_okay=False))
@click.option("--sort", metavar="METRIC", help="Sort by a column, best first: test_accuracy (or accuracy), best, "
                                                "duration_s, ...")
@click.option("--reverse", is_flag=True, help="Reverse the order.")
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON.")
@friendly_errors
def runs_command(root, sort, reverse, as_json):
    """List the runs under DIR (default runs/): model, data, epochs done/planned, the monitored
    value's best, test metrics, duration and status, one row per run directory."""
    from .. import api
    from ..runs.table import format_runs
    rows = api.list_runs(root, sort, reverse)
    click.echo(json.dumps(rows, indent=2) if as_json else format_runs(rows))
