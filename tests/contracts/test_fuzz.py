"""Property: nothing a spec can say crashes dlspec, and what compiles runs.

Hypothesis feeds specs to everything `dlspec compile` runs (load, plan and a
meta-device build of every model, the data and train block checks): token
edits of every shipped spec, specs generated from the grammar, and deep or
long shapes (chained blocks, nested calls, let chains, long sums, `input` in
a repeat body). Each case must either pass or raise a `DlspecError` whose
report renders, within FUZZ_SECONDS. A model that compiles must also build
and run one forward pass on its declared input at batch 1, 2 and 3, giving
the planned output shape (models past FORWARD_BYTES of activations per sample
or FORWARD_PARAMS parameters are left to the compile checks: they would only
be slow). Runs are reproducible (derandomized, no example database);
DLSPEC_FUZZ_EXAMPLES=5000 runs a long local search, DLSPEC_FUZZ_SEED=N another
reproducible sequence of cases. A failure prints the spec text that failed.

Bugs found in modules owned elsewhere are listed in KNOWN_ISSUES with a
minimal reproducer; the fuzz tolerates exactly those failures and
`test_known_issue_still_crashes` xfails strictly, so a fix shows up as XPASS.
"""
from __future__ import annotations

import os
import re
import signal
import warnings
from contextlib import contextmanager
from datetime import timedelta

import pytest
import torch
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

import dlspec
from tests.conftest import ROOT, SPECS
from dlspec.errors import DlspecError
from dlspec.layers.registry import layer_names, list_layers

EXAMPLES = int(os.environ.get("DLSPEC_FUZZ_EXAMPLES", "0")) or None
SEED = int(os.environ.get("DLSPEC_FUZZ_SEED", "0"))  # 0: hypothesis' derandomized order
FUZZ_SECONDS = float(os.environ.get("DLSPEC_FUZZ_SECONDS", "8"))
CORPUS = sorted(SPECS + list((ROOT / "examples").glob("**/*.dlspec")))

# Bugs found in modules owned elsewhere (plan*, compiler, layers, data, train), as
# (minimal reproducer, exception type, words in its message, regex a fuzz case must
# match to be excused). Owners: fix, then delete the entry (its xfail turns XPASS).
KNOWN_ISSUES: list[tuple[str, str, str, str]] = []


class CaseTimeout(Exception):
    """A single case ran longer than FUZZ_SECONDS (a hang, not a slow machine)."""


@contextmanager
def time_limit(seconds: float):
    def expire(signum, frame):
        raise CaseTimeout(f"case ran longer than {seconds} s")
    old = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


FORWARD_BYTES = 16 * 2 ** 20  # one sample's activations, for the forward-pass property
FORWARD_PARAMS = 2_000_000
FORWARD_BATCHES = (1, 2, 3)


class CompiledButCannotRun(AssertionError):
    """A model compiled (plan and meta build passed) but its forward pass failed or disagreed with the plan."""


def compile_everything(text: str, filename: str, forward: bool = True) -> None:
    """What `dlspec compile` does, every model on its own: raise anything but a DlspecError.
    With `forward`, a model that compiles must run (see run_forward)."""
    try:
        spec = dlspec.loads(text, filename)
    except DlspecError as err:
        err.report()
        return
    for name in spec.model_names:
        try:
            plan = spec.plan(name)
            with torch.device("meta"):
                meta = spec.build(name)
        except DlspecError as err:
            err.report()
            continue
        if forward:
            run_forward(spec, name, plan, meta)
    try:
        dlspec.diagnostics.check_blocks(spec)
    except DlspecError as err:
        err.report()


def sample_batch(shape, batch: int) -> torch.Tensor:
    """A batch of the declared input: floats, or token ids 1..vocab-1 (0 is padding)."""
    size = (batch,) + tuple(shape.dims)
    if shape.integer:
        return torch.randint(1, max(shape.vocab or 2, 2), size)
    return torch.randn(size)


def run_forward(spec, name: str, plan, meta) -> None:
    """Build `name` for real and run it (eval mode, no grad) at each batch size; the output's shape must be
    the plan's. Models too big to run quickly here are left to the compile-time checks."""
    from dlspec.planning.memory import activation_bytes
    if activation_bytes(plan) > FORWARD_BYTES or sum(p.numel() for p in meta.parameters()) > FORWARD_PARAMS:
        return
    torch.manual_seed(0)
    try:
        model = spec.build(name).eval()
        for batch in FORWARD_BATCHES:
            inputs = [sample_batch(shape, batch) for shape in (plan.inputs or {"": plan.in_shape}).values()]
            with torch.no_grad():
                out = model(*inputs)
            if len(plan.outputs) > 1:  # several named outputs: a dict, each with its planned shape
                got = {k: tuple(v.shape) for k, v in out.items()} if isinstance(out, dict) else type(out).__name__
                want = {k: (batch,) + tuple(s.dims) for k, s in plan.outputs.items()}
            else:
                got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
                want = (batch,) + tuple(plan.out_shape.dims)
            if got != want:
                planned = plan.out_shape if not len(plan.outputs) > 1 else want
                raise CompiledButCannotRun(f"model {name} at batch {batch}: the plan says {planned}, "
                                           f"the forward pass returned {got}")
    except (CompiledButCannotRun, CaseTimeout):
        raise
    except Exception as exc:  # noqa: BLE001 - a DlspecError too: the model compiled, so it must run
        raise CompiledButCannotRun(f"model {name} compiled but its forward pass failed at input "
                                   f"{plan.in_shape}: {type(exc).__name__}: {exc}") from exc


def known(exc: BaseException, text: str) -> bool:
    return any(type(exc).__name__ == kind and words in str(exc) and re.search(pattern, text)
               for _, kind, words, pattern in KNOWN_ISSUES)


def check(text: str, filename: str = str(ROOT / "specs" / "fuzz.dlspec"), tolerate_known: bool = True,
          seconds: float = FUZZ_SECONDS) -> None:
    with warnings.catch_warnings(), time_limit(seconds):
        warnings.simplefilter("ignore")
        try:
            compile_everything(text, filename)
        except Exception as exc:  # noqa: BLE001 - the property under test
            if not (tolerate_known and known(exc, text)):
                raise AssertionError(f"{type(exc).__name__}: {exc}\n(DLSPEC_FUZZ_SEED={SEED}, derandomized when 0; "
                                     f"hypothesis prints the case to rerun)\n--- spec ---\n{text}") from exc


# ---- (a) token edits of shipped specs ------------------------------------

TOKEN = re.compile(r'#[^\n]*|"(?:[^"\\\n]|\\.)*"|(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?'
                   r'|[A-Za-z_][A-Za-z0-9_]*|->|//|\s+|.')
NUMBERS = ["0", "-1", "1", "2", "0.5", "1.5", "-0.0", "1e308", "1e-308", "1e999", "9" * 25, "9223372036854775807",
           "100000", "3.0"]
KEYWORDS = ["let", "include", "block", "model", "data", "train", "input", "param", "repeat", "true", "false", "none"]
INSERTS = ["(", ")", "[", "]", "{", "}", ",", "->", "=", ":", ";", "\n", "-", "+", "*", "/", "//", ".", '"x"',
           "input", "add(y, input)", "repeat 2 {", "linear(", "#", "\x00", "\ufeff", "'", "x.y", "1e9", "-> relu"]
LAYERS = sorted(layer_names())
LAYER_DEFS = [d for d in list_layers() if d.source == "built-in"]
NAMES = sorted(set(layer_names()) | set(KEYWORDS) | {"add", "mul", "concat", "image", "vector", "sequence",
                                                     "tokens", "tensor", "zeros", "ones", "normal", "uniform"})


def corpus_text(path) -> str:
    # Pretrained weights would be looked up online; the edits are about the language.
    return path.read_text(encoding="utf-8").replace('"IMAGENET1K_V1"', "none")


@st.composite
def edited_spec(draw):
    path = draw(st.sampled_from(CORPUS))
    tokens = TOKEN.findall(corpus_text(path))
    for _ in range(draw(st.integers(1, 3))):
        solid = [i for i, t in enumerate(tokens) if not t.isspace()]
        i = draw(st.sampled_from(solid))
        # Mostly edits that keep the syntax, so that cases reach planning and building.
        op = draw(st.sampled_from(["number"] * 4 + ["name"] * 3 + ["delete", "duplicate", "swap", "insert"]))
        if op == "delete":
            del tokens[i]
        elif op == "duplicate":
            tokens.insert(i, tokens[i] + " ")
        elif op == "swap":
            j = draw(st.sampled_from(solid))
            tokens[i], tokens[j] = tokens[j], tokens[i]
        elif op == "number":
            numbers = [k for k in solid if tokens[k][:1].isdigit()] or [i]
            tokens[draw(st.sampled_from(numbers))] = draw(st.sampled_from(NUMBERS))
        elif op == "name":
            names = [k for k in solid if tokens[k][:1].isalpha() or tokens[k][:1] == "_"] or [i]
            tokens[draw(st.sampled_from(names))] = draw(st.sampled_from(NAMES if draw(st.booleans()) else LAYERS))
        else:
            tokens.insert(i, " " + draw(st.sampled_from(INSERTS)) + " ")
    return str(path), "".join(tokens)


# ---- (b) specs generated from the grammar --------------------------------

LAYER_CALLS = ["relu", "gelu", "tanh", "sigmoid", "silu", "identity", "flatten", "dropout({p})", "linear({n})",
               "conv({n}, {k})", "conv({n}, {k}, padding={k})", "maxpool({k})", "avgpool({k})", "batchnorm",
               "layernorm", "groupnorm({k})", "global_avgpool", "adaptive_avgpool({k})", "softmax({d})",
               "reshape({d})", "permute({d}, {d})", "upsample({k})", "lstm({n})", "gru({n}, bidirectional=true)",
               "rnn({n})", "last", "hidden", "mean_time", "max_time", "embedding({n})", "leaky_relu({p})",
               "conv_transpose({n}, {k})", "lstm_cell({n})", "elu({p})", "log_softmax({d})", "dense({n})",
               "torch.nn.ReLU()", "torch.nn.Linear({n}, {n})", "torch.nn.Embedding({n}, 4)",
               "embedding(4, num_embeddings={n})"]
INPUTS = ["image({n}, {k8}, {k8})"] * 3 + ["vector({n})"] * 2 + ["sequence({k8}, {n})"] * 2 + [
    "tokens({k8}, vocab={n})", "tensor({n}, {k8})", "image({n}, {n}, {n}, {n})", "vector({e})"]


LITERALS = ["0", "1", "2", "3", "4", "8", "16", "-1", "0.5", "1e308", "99999999999", "1e-9", "2.0"]


def small_numbers():
    return st.sampled_from(LITERALS + ["w", "w * 2", "(w + 1) // 2", "w / 0", "-w"])


@st.composite
def expression(draw, depth=0):
    """The value of `let w`: arithmetic on literals (mostly small, some huge)."""
    if depth > 2 or draw(st.booleans()):
        return draw(st.sampled_from(["2", "3", "4", "8"] * 3 + LITERALS))
    op = draw(st.sampled_from(["+", "-", "*", "/", "//"]))
    return f"({draw(expression(depth + 1))} {op} {draw(expression(depth + 1))})"


CALL_VALUES = {"n": ["1", "2", "4", "8", "w", "0", "-3", "ch"], "k": ["1", "2", "3", "5", "0", "k"],
               "p": ["0.1", "0.5", "1", "-0.2", "p"], "d": ["-1", "1", "0", "2", "4"]}


@st.composite
def layer_call(draw):
    template = draw(st.sampled_from(LAYER_CALLS))
    values = {}
    for key, choices in CALL_VALUES.items():
        values[key] = draw(st.sampled_from(choices))
    return template.format(**values)


ARG_VALUES = {
    "int": ["1", "2", "3", "0", "-1", "16", "9223372036854775807", "2.5"],
    "float": ["0.5", "0", "-1", "1e308", "1e-308", "2", "true"],
    "bool": ["true", "false", "1", "none"],
    "str": ['"x"', "same", "valid", "zeros", "nearest", "reflect", "1"],
    "ints": ["2", "[2, 2]", "[]", "[0, -1]", "[1, 2, 3, 4]", "-1"],
    "int_or_str": ["1", "same", '"valid"', "-2"],
    "float_list": ["[0.5]", "[]", "0.5", "[1e308, -1]"],
    "any": ["1", "none", "[1, 2]", '"x"', "{a: 1}", "input", "-1"],
}


@st.composite
def registered_call(draw):
    """Any registered layer with arguments drawn for its signature (right kinds, odd values)."""
    layer = draw(st.sampled_from(LAYER_DEFS))
    args, keyword = [], False
    for arg in layer.args:
        if not arg.required and draw(st.booleans()):
            continue
        value = draw(st.sampled_from(list(arg.choices) + ARG_VALUES.get(arg.kind, ARG_VALUES["any"])))
        keyword = keyword or draw(st.booleans())
        args.append(f"{arg.name}={value}" if keyword else value)
    return f"{layer.name}({', '.join(args)})" if args or draw(st.booleans()) else layer.name


@st.composite
def chain(draw, names):
    steps = draw(st.lists(st.one_of(layer_call(), layer_call(), registered_call()), min_size=1, max_size=4))
    head = draw(st.sampled_from(["", "", "input -> ", "feat: "] + [f"{n} -> " for n in names]))
    return head + " -> ".join(steps)


@st.composite
def body(draw, depth=0):
    lines, names = [], []
    for i in range(draw(st.integers(1, 5))):
        kinds = ["chain", "chain", "bind", "merge", "repeat", "param"] + ["block"] * (depth == 0)
        kind = draw(st.sampled_from(kinds))
        if kind == "bind":
            lines.append(f"y{i} = {draw(chain(names))}")
            names.append(f"y{i}")
        elif kind == "merge" and names:
            merge = draw(st.sampled_from(["add", "mul", "concat"]))
            lines.append(f"{merge}({draw(st.sampled_from(names))}, input) -> {draw(layer_call())}")
        elif kind == "repeat" and depth < 2:
            # (no `repeat w`: w may be huge, and unrolling is KNOWN_ISSUES[0])
            lines.append(f"repeat {draw(st.sampled_from(['1', '2', '3', '0', '-1', '2.5', 'true', 'ch']))} {{\n"
                         f"{draw(body(depth + 1))}\n}}")
        elif kind == "param":
            lines.append(f"param s{i}({draw(st.sampled_from(['1', '4', 'w', '1, 4']))}) = "
                         f"{draw(st.sampled_from(['zeros', 'ones', '0.5', 'normal(std=0.02)', 'uniform(-1, 1)']))}")
            names.append(f"s{i}")
        elif kind == "block":
            lines.append(draw(st.sampled_from(["B(4)", "B(ch=2, k=3)", "B", "B(0)"])))
        else:
            lines.append(draw(chain(names)))
    return "\n".join(lines)


@st.composite
def generated_spec(draw):
    parts = [f"let w = {draw(expression())}", f"let p = {draw(st.sampled_from(['0.1', '0.5', '2', 'w']))}"]
    parts.append(f"block B(ch=4, k=3) {{\n{draw(body(1))}\n}}")  # depth 1: B does not call itself
    values = {"n": draw(st.sampled_from(["1", "3", "4", "w"])),
              "k8": draw(st.sampled_from(["8", "8", "6", "16", "1", "w"])), "e": draw(st.sampled_from(["auto", "0", "-2"]))}
    parts.append(f"model M {{\ninput {draw(st.sampled_from(INPUTS)).format(**values)}\n{draw(body())}\n}}")
    if draw(st.booleans()):
        parts.append(draw(st.sampled_from([
            "data d {\nsource sklearn_digits\nsplit train=0.8 test=0.2\nbatch %s\n"
            "transform { resize(%s) -> normalize(mean=[0.5], std=[0.5]) }\naugment { flip(horizontal); rotate(w) }\n}",
            "data d {\nsource sine(length=%s, window=w)\nscale standard\nbatch %s\n}",
            "data d {\nsource csv(\"x.csv\", target=%s)\nsplit train=w val=0.5\nbatch %s\n}",
        ])).replace("%s", draw(small_numbers()), 1).replace("%s", draw(small_numbers())))
        parts.append("train {\nmodel M\ndata d\nloss %s\noptimizer adam(lr=%s)\nschedule cosine warmup=%s\n"
                     "epochs %s\nmetrics accuracy, top_k(k=%s)\nearly_stop patience=%s\nfreeze feat\n}"
                     % tuple(draw(small_numbers()) if i else draw(st.sampled_from(["cross_entropy", "mse", "x"]))
                             for i in range(6)))
    return "\n".join(draw(st.permutations(parts)))


# ---- (c) deep and long shapes ----------------------------------------------

MODEL = "model M {{\n input vector(4)\n {}\n}}\n"


@st.composite
def long_shape(draw):
    """Shapes that once crashed or hung dlspec: around the nesting limit (100) and far past it."""
    kind = draw(st.sampled_from(["blocks", "calls", "lets", "sum", "repeat_input", "nested_repeats"]))
    n = draw(st.sampled_from([1, 2, 50, 99, 100, 101, 150, 400]))
    if kind == "blocks":  # each block calls the next, some with arguments, some inside a graph
        graph = draw(st.booleans())
        call = "y = input -> B{j}(c)\n add(y, input)" if graph else "B{j}(c)"
        blocks = "".join(f"block B{i}(c=4) {{ {call.format(j=i + 1)} }}\n" for i in range(n))
        return blocks + f"block B{n}(c=4) {{ linear(c) }}\n" + MODEL.format("B0(4) -> relu")
    if kind == "calls":
        return MODEL.format("linear(" + "f(" * n + "2" + ")" * (n + 1))
    if kind == "lets":
        lets = "let a0 = 2\n" + "".join(f"let a{i} = a{i - 1} + {draw(st.sampled_from(['0', '1']))}\n"
                                        for i in range(1, n))
        return lets + MODEL.format(f"linear(a{n - 1})")
    if kind == "sum":
        terms = n * draw(st.sampled_from([1, 10, 25]))
        op = draw(st.sampled_from(["+", "-", "*"]))
        return f"let a = 2 {op} " + f" {op} ".join(["1"] * terms) + "\n" + MODEL.format("linear(a)")
    if kind == "repeat_input":
        graph = draw(st.booleans())
        inner = "y = input -> linear(4)\n input vector(3)\n add(y, input)" if graph else "input vector(3)\n linear(2)"
        return MODEL.format(f"repeat {draw(st.sampled_from(['1', '2']))} {{\n {inner}\n}}")
    return MODEL.format("repeat 1 { " * n + "linear(2)" + " }" * n)


# ---- the properties -------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def warm_up():
    """Compile the corpus once, untimed: first imports (torchvision) would eat a case's time limit."""
    for path in CORPUS:
        check(corpus_text(path), str(path), seconds=600)

FUZZ = settings(derandomize=not SEED, database=None, deadline=timedelta(seconds=FUZZ_SECONDS), print_blob=True,
                suppress_health_check=list(HealthCheck))


@pytest.mark.slow
@seed(SEED)
@settings(FUZZ, max_examples=EXAMPLES or 400)
@given(edited_spec())
def test_edited_shipped_specs_compile_or_raise_dlspec_error(case):
    path, text = case
    check(text, path)


@pytest.mark.slow
@seed(SEED)
@settings(FUZZ, max_examples=EXAMPLES or 200)
@given(generated_spec())
def test_generated_specs_compile_or_raise_dlspec_error(text):
    check(text)


@pytest.mark.slow
@seed(SEED)
@settings(FUZZ, max_examples=EXAMPLES or 60)
@given(long_shape())
def test_deep_and_long_specs_compile_or_raise_dlspec_error(text):
    check(text, seconds=max(FUZZ_SECONDS, 8))


def test_a_model_that_compiles_must_run():
    """The forward-pass property fails on a model whose planned shape its forward pass does not give."""
    import dlspec.planning.planner as planner
    spec = dlspec.loads(MODEL.format("linear(3)"))
    plan = spec.plan()
    with torch.device("meta"):
        meta = spec.build()
    run_forward(spec, "M", plan, meta)
    plan.out_shape = planner.Shape((4,))  # a plan that lies about its output
    with pytest.raises(CompiledButCannotRun, match=r"the plan says \[4\], the forward pass returned \(1, 3\)"):
        run_forward(spec, "M", plan, meta)


@pytest.mark.parametrize("text, kind, words, pattern", KNOWN_ISSUES,
                         ids=[f"issue{i}" for i in range(len(KNOWN_ISSUES))])
@pytest.mark.xfail(strict=True, raises=AssertionError, reason="a crash in a module owned elsewhere; fixed when this passes")
def test_known_issue_still_crashes(text, kind, words, pattern):
    check(text, tolerate_known=False, seconds=2)
