"""High-level calls behind the CLI verbs: paths and options in, results out.

Each CLI command is one function here, so everything a user can do from the
command line is also a Python call.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from .diagnostics import Diagnosis, data_paths, diagnose, frozen_models  # noqa: F401 - Diagnosis: part of the API
from .spec import load  # noqa: F401 - kept for callers that import it from here


@dataclass
class CompileResult:
    """What `compile_spec` found: model names, and summaries/modules when asked."""

    model_names: list
    summaries: list = field(default_factory=list)
    modules: dict = field(default_factory=dict)
    data_paths: dict = field(default_factory=dict)  # data block -> the path it takes and why (describe=True)


def compile_spec(path, model: Optional[str] = None, overrides: Optional[dict] = None,
                 describe: bool = False, train: Optional[str] = None) -> CompileResult:
    """Check a spec (every model, or `model`): plan it, check its blocks and build it on the meta
    device (no memory); with describe=True also summarise them.

    Summaries apply the freeze settings of the train block that trains each
    model (or of `train`), so trainable counts are what training will see.
    Every error the checks can find is raised at once (`DlspecErrors`; one
    error is raised as itself); `diagnose` returns them instead. Each warning is issued once.
    """
    from .errors import each_warning_once
    from .language.limits import gc_paused
    with each_warning_once(), gc_paused():  # each_warning_once: the checks read a data block for each model
        return _compile(path, model, overrides, describe, train)  # and train block using it


def _compile(path, model: Optional[str], overrides: Optional[dict], describe: bool,
             train: Optional[str]) -> CompileResult:
    spaced, bases = _space_bases(path, overrides)  # a space without a default is checked at its base value
    diagnosis = diagnose(path, overrides={**(overrides or {}), **bases}, model=model, train=train,
                         capture_warnings=False, tables=True)
    diagnosis.raise_errors()
    spec, measurements = diagnosis.spec, diagnosis.measurements  # the data vector(auto) loaded, kept
    if bases:  # search spaces: check the values they can take, go on at their base values
        from .tuning.check import check_spaces
        from .train.measure import Measurements
        spec = check_spaces(spaced, model, train)
        measurements = Measurements(spec, loaders=False)
    if train is not None and model is None:
        model = diagnosis.trains[train].model
    names = [spec.model_name(model)] if model else spec.model_names
    facts = {name: measurements.facts(name, train) for name in names}  # of `train`'s data, else the first's
    for name in names:
        spec.plan(name, facts[name])
    frozen = frozen_models(diagnosis.trains)  # diagnose read each train block once (and its table)
    result = CompileResult(names)
    import torch
    for name in names:  # a build on meta allocates nothing but checks memory and plugin layers' shapes
        with torch.device("meta"):
            result.modules[name] = spec.build(name, facts[name])
    if describe:
        from .views.summary import model_summary
        for name in names:
            result.summaries.append(model_summary(spec, name, tuple(frozen.get(name, ())), result.modules[name],
                                                  facts[name]))
        result.data_paths = data_paths(spec)
    return result


def _space_bases(path, overrides: Optional[dict]) -> tuple:
    """(the loaded spec, `--set` texts giving each of its search spaces its base value: its default, else
    its first option or low end); the texts are empty without spaces, or when the spec does not load
    (diagnose then reports why)."""
    from .errors import DlspecError
    try:
        spec = load(path, overrides)
    except DlspecError:
        return None, {}
    if not spec.program.spaces:
        return spec, {}
    from .tuning.check import base_overrides, open_spaces
    return spec, base_overrides(open_spaces(spec))


def fit(spec_or_path, train: Optional[str] = None, **options):
    """Train a spec's train block; see `dlspec.train.fit.fit` for the options."""
    from .train.fit import fit as _fit
    return _fit(spec_or_path, train, **options)


def evaluate(run_dir: str, split: str = "test", device: str = "cpu", trust: bool = False,
             checkpoint: Optional[str] = None) -> dict:
    """Loss and metrics of a finished run on a split, with its best weights (checkpoint="last": the final epoch's;
    left out: best, or last with a warning in a run without best.ckpt).

    Like every call that loads a run, it refuses a run whose stored spec would
    run Python code (`use` lines, dotted data sources, recorded plugins) unless
    trust=True: a run directory from elsewhere is untrusted input."""
    from .runs.predict import evaluate_run
    return evaluate_run(run_dir, split, device, trust, checkpoint)


def predict(run_dir: str, inputs: list, device: str = "cpu", top: int = 1, steps: int = 1,
            trust: bool = False, batch: int = 64, out: Optional[str] = None, checkpoint: Optional[str] = None,
            max_pixels: Optional[int] = None) -> list:
    """Predictions of a finished run: image files, CSV rows, sentences (files, folders, globs), or a
    forecast of `steps` values; `batch` inputs at a time; with `out` (.csv or .jsonl) also written there
    (array outputs into a .npy beside it). trust=True allows a run whose spec runs code; checkpoint picks
    best or last weights (see `evaluate`). An image declaring more than `max_pixels` pixels (default: the
    cap of the run's image source, 50,000,000 unless it set max_pixels=) is not decoded: an error when
    named, skipped with a warning when found in a folder or by a glob."""
    from .runs.predict import predict as _predict
    return _predict(run_dir, list(inputs), device, top, steps, trust, batch, out, checkpoint, max_pixels)


def serve(run_dir: str, host: str = "127.0.0.1", port: int = 8000, checkpoint: Optional[str] = None,
          workers: int = 1, trust: bool = False, device: str = "cpu", max_pixels: Optional[int] = None,
          log=print, **options) -> None:
    """Serve a finished run over HTTP until interrupted (`dlspec serve`, docs/serve.md): POST /predict answers
    what `predict` answers, GET /metadata, /health, the page at /. Loading is as safe as predict's (trust=True
    for a run whose spec runs code). `options`: wait_ms and max_batch (micro-batching), max_body (bytes),
    max_files, max_steps. Needs the `serve` extra (FastAPI, uvicorn)."""
    from .serve.server import serve as _serve
    _serve(run_dir, host, port, checkpoint, workers, trust, device, max_pixels, log, **options)


def serve_app(run_dir: str, checkpoint: Optional[str] = None, trust: bool = False, device: str = "cpu",
              max_pixels: Optional[int] = None, **options):
    """The ASGI app `serve` runs, for mounting in another server or testing (same arguments, no host or port)."""
    from .serve.server import build_app
    return build_app(run_dir, checkpoint, trust, device, max_pixels, **options)


def list_runs(root: str = "runs", sort: Optional[str] = None, reverse: bool = False) -> list:
    """One dict per run directory under `root` (model, data, epochs, monitor, best, test_* metrics,
    duration_s, status), sorted best first by `sort` (a column, e.g. test_accuracy; `accuracy` means
    test_accuracy) when given; reverse=True flips the order. `dlspec.runs.table.format_runs` prints them."""
    from .runs.table import list_runs as _list_runs
    return _list_runs(root, sort, reverse)


def export(run_dir: str, fmt: str = "python", out: Optional[str] = None, trust: bool = False,
           checkpoint: Optional[str] = None) -> str:
    """Export a finished run as python source + weights, torchscript or onnx; returns the file written.
    trust=True allows a run whose spec runs code; checkpoint picks best or last weights (see `evaluate`)."""
    from .runs.export import check_format, export_run
    check_format(fmt)  # before anything is made: an unknown format or a missing extra writes nothing
    return export_run(run_dir, fmt, out, trust, checkpoint)  # an --out that cannot be written is named there


def tune(spec_path, train: Optional[str] = None, trials: Optional[int] = None, timeout: Optional[float] = None,
         out: Optional[str] = None, storage: Optional[str] = None, study: Optional[str] = None, seed: int = 0,
         pruner: str = "median", nproc: Optional[int] = None, overrides: Optional[dict] = None, log=print):
    """Search the spec's search spaces with Optuna (`dlspec tune`): each trial is a normal fit in
    OUT/trials/NNNN. Returns a `TuneResult` (best_params, best_value, best_run_dir, rows, study);
    see docs/tuning.md. Needs the `tune` extra (Optuna)."""
    from .tuning.study import tune as _tune
    return _tune(spec_path, train, trials, timeout, out, storage, study, seed, pruner, nproc, overrides, log)


def tune_show(out: str) -> str:
    """The trials table of a `dlspec tune` directory (`dlspec tune --show DIR`)."""
    from .tuning.report import show
    return show(out)


def serve_lsp(run_plugins: bool = True) -> None:
    """Run the dlspec language server on stdin/stdout until the editor closes it.

    Needs the `lsp` extra (pygls). run_plugins=False leaves the specs' `use`
    lines and installed plugins unimported (their names then show as unknown)."""
    try:
        import pygls  # noqa: F401
    except ImportError:
        from .errors import DlspecError
        raise DlspecError("the language server needs pygls: pip install 'dlspec[lsp]'") from None
    from .editor.lsp import serve
    serve(run_plugins)


# ---- views: fmt, graph, data --preview, explain (dlspec/views/, language/fmt.py) ----

def fmt(paths, check: bool = False) -> list:
    """Rewrite spec files in dlspec's canonical layout (as black does); with check=True change nothing.
    Returns the files whose text changed (or would change). Formatting never changes what a spec means."""
    from .language.fmt import format_file
    return [str(p) for p in paths if format_file(str(p), check)]


def graph(path, model: Optional[str] = None, out: Optional[str] = None, overrides: Optional[dict] = None) -> str:
    """Draw a model (one box per layer with its output shape, edges for skips and merges, groups for
    blocks and labels) into `out` (.svg, .png or .pdf; .dot writes the graphviz source). graphviz's
    `dot` draws it when installed, else matplotlib. Returns the file written."""
    from .train.measure import Measurements
    from .views.graph import draw
    spec = load(path, overrides)
    name = spec.model_name(model)
    return draw(Measurements(spec, loaders=False).plan(name), out or f"{name}.svg", title=name)


def preview(path, data: Optional[str] = None, out: Optional[str] = None, overrides: Optional[dict] = None,
            per_class: int = 8, seed: int = 0) -> str:
    """Write a grid of training samples after augmentation, a row per class, to `out` (a .png).
    Returns the file written."""
    from .views.preview import preview_grid
    return preview_grid(load(path, overrides), data, out or "preview.png", per_class, seed)


def explain(path, train: Optional[str] = None, overrides: Optional[dict] = None) -> list:
    """Every resolved setting of a train block and its data block, with where its value came from
    (default, file:line, an included file, or --set): a list of `dlspec.views.explain.Row`."""
    from .views.explain import explain as _explain
    return _explain(load(path, overrides), train)


def describe_data(path, data: Optional[str] = None, overrides: Optional[dict] = None) -> list:
    """Load a data block and describe it: samples per split, one sample's shape, classes (lines of text)."""
    from .views.preview import describe
    return describe(load(path, overrides), data)
