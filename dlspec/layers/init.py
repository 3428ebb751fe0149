"""Initialisers: a layer's `init=` / `bias_init=` value in, a checked initialiser call out.

One registry (`INITIALISERS`) of how a layer's weights may start: `kaiming_normal`,
`xavier_uniform`, `normal(mean, std)`, `vectors("glove.txt")`, ... Each entry declares its
arguments like every other registry (schema/args.py), so `bind_initialiser` gives the same located,
did-you-mean errors. The bound value is a `CallValue` with every argument filled in; the compiler
hands it to runtime/init.py, which applies it with torch.nn.init (the same code model.py copies).
No torch here: planning checks initialisers before any weight exists.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

from ..errors import ArgumentError, Loc
from ..language.values import CallValue, Symbol
from ..schema.args import Arg, bind_args, non_negative, positive
from ..schema.registry import Registry

NONLINEARITIES = ("relu", "leaky_relu", "tanh", "sigmoid", "linear", "selu")
# the fallback of vectors(): a word the file lacks starts here (small, like the vectors around it)
MISSING_WORD = ("normal", {"mean": 0.0, "std": 0.1})
MISSING_WORD_TEXT = "normal(0, 0.1)"


@dataclass(frozen=True)
class Initialiser:
    """One way a layer's weights may start."""

    name: str
    args: tuple
    doc: str
    fan: bool = False  # reads the fan in and out of its tensor: needs a weight of at least 2 dimensions
    check: Optional[Callable[[dict], Optional[str]]] = None  # bound arguments -> a problem, or None
    embedding_only: bool = False  # vectors(): rows aligned to a vocabulary
    source: str = "built-in"
    aliases: tuple = ()


INITIALISERS = Registry("initialiser", hint="`dlspec initialisers` lists every initialiser")


def _initialiser(name, args=(), *, doc, **flags) -> None:
    INITIALISERS.register(Initialiser(name, tuple(args), doc, **flags))


def _ordered(a: dict) -> Optional[str]:
    return None if a["a"] < a["b"] else f"needs a < b, received a={a['a']:g}, b={a['b']:g} (e.g. uniform(-0.1, 0.1))"


_KAIMING = (Arg("a", "float", 0.0, non_negative, doc="the negative slope of leaky_relu"),
            Arg("mode", "str", "fan_in", choices=("fan_in", "fan_out")),
            Arg("nonlinearity", "str", "relu", choices=NONLINEARITIES, doc="the activation that follows"))
_GAIN = (Arg("gain", "float", 1.0, positive, doc="scales the weights"),)

for _how in ("normal", "uniform"):
    _initialiser(f"kaiming_{_how}", _KAIMING, fan=True,
                 doc=f"He initialisation from a {_how} distribution: kaiming_{_how}(a=0, mode=fan_in, "
                     f"nonlinearity=relu).\n\ntorch.nn.init.kaiming_{_how}_; the default assumes a relu follows.")
    _initialiser(f"xavier_{_how}", _GAIN, fan=True,
                 doc=f"Glorot initialisation from a {_how} distribution: xavier_{_how}(gain=1).\n\n"
                     f"torch.nn.init.xavier_{_how}_.")
_initialiser("orthogonal", _GAIN, fan=True,
             doc="A (semi-)orthogonal matrix: orthogonal(gain=1); a kernel is flattened to [out, rest] first.\n\n"
                 "torch.nn.init.orthogonal_.")
_initialiser("normal", (Arg("mean", "float", 0.0), Arg("std", "float", 1.0, positive)),
             doc="Draws from N(mean, std^2): normal(mean=0, std=1), e.g. normal(0, 0.001).")
_initialiser("uniform", (Arg("a", "float", 0.0), Arg("b", "float", 1.0)), check=_ordered,
             doc="Draws from U(a, b): uniform(a=0, b=1), e.g. uniform(-0.1, 0.1); a must be below b.")
_initialiser("zeros", doc="Every value 0.")
_initialiser("ones", doc="Every value 1.")
_initialiser("constant", (Arg("value", "float"),), doc="Every value the same: constant(value).")
_initialiser("vectors", (Arg("path", "str", doc="a word-vectors text file, resolved against the spec's folder"),),
             embedding_only=True,
             doc="An embedding's rows from a word-vectors text file (GloVe format: a word, then its numbers, per "
                 "line): vectors(\"glove.txt\").\n\nRows follow the data's vocabulary; a word the file lacks starts "
                 f"from {MISSING_WORD_TEXT} (the count is logged when training starts), the padding row from 0. "
                 "The file is read when a run starts training; a finished run's weights hold the vectors, so "
                 "predict and export never read it.")


def bind_initialiser(value, loc: Optional[Loc], owner: str, arg: str) -> CallValue:
    """`value` as written (`zeros`, `normal(0, 0.01)`) checked against the registry: a CallValue with
    every argument bound, or a located error naming the nearest initialisers."""
    if isinstance(value, CallValue):
        name, args, kwargs, locs = value.callee, list(value.args), dict(value.kwargs), value.arg_locs
        loc = value.loc or loc
    elif isinstance(value, Symbol):
        name, args, kwargs, locs = str(value), [], {}, {}
    else:
        raise ArgumentError(f"{owner}: argument '{arg}' expects an initialiser (a name or a call such as "
                            f"normal(0, 0.01)), received {_shown(value)}", loc,
                            hint=f"initialisers: {', '.join(INITIALISERS.names())}")
    entry = INITIALISERS.lookup(name, loc)
    bound = bind_args(name, entry.args, args, kwargs, loc, locs)
    problem = entry.check(bound) if entry.check else None
    if problem:
        raise ArgumentError(f"{name} {problem}", loc)
    return CallValue(name, (), bound, loc)


def _shown(value) -> str:
    from ..language.values import to_source
    return to_source(value)


def init_text(call: CallValue) -> str:
    """A bound initialiser as spec text, its defaults left out: `ones`, `normal(std=0.001)`."""
    from ..language.values import to_source
    specs = INITIALISERS[call.callee].args
    required = tuple(call.kwargs[a.name] for a in specs if a.required)  # written by position
    changed = {a.name: call.kwargs[a.name] for a in specs if not a.required and call.kwargs[a.name] != a.default}
    return to_source(CallValue(call.callee, required, changed, call.loc)) if required or changed else call.callee


def as_runtime(call: Optional[CallValue]) -> Optional[tuple]:
    """(name, arguments) for runtime/init.py, or None; vectors enter later (train/vectors.py), so the
    build leaves the embedding's own start for them."""
    if call is None or INITIALISERS[call.callee].embedding_only:
        return None
    return (call.callee, dict(call.kwargs))


def bind_layer_inits(layer, callee: str, bound: dict, locs: dict, loc: Loc) -> None:
    """Replace a layer's written init= and bias_init= (in `bound`) by checked initialiser calls, in place.

    Refused here, at the argument: an initialiser that reads the fan of a 1-d tensor (a norm's scale, a
    bias), vectors() anywhere but an embedding's init=, and a layer that has no such parameters
    (bias=false, affine=false, positional(kind=sinusoidal))."""
    for arg in ("init", "bias_init"):
        if bound.get(arg) is None:
            continue
        where = locs.get(arg, loc)
        call = bind_initialiser(bound[arg], where, callee, arg)
        _check_fits(layer, callee, arg, INITIALISERS[call.callee], bound, call.loc or where)
        if call.callee == "vectors":
            from ..language.resolve import resolve_path
            call = CallValue("vectors", (), {"path": resolve_path(call.kwargs["path"], call.loc or where)}, call.loc)
            check_vector_width(call.kwargs["path"], bound["dim"], call.loc or where)
        bound[arg] = call


def _check_fits(layer, callee: str, arg: str, entry: Initialiser, bound: dict, loc: Loc) -> None:
    part = "weights" if arg == "init" else "bias"
    without = bound.get("affine") is False or bound.get("kind") == "sinusoidal"
    if without or (bound.get("bias") is False and arg != "init"):
        off = next(f"{k}={str(bound[k]).lower()}" for k in ("affine", "kind", "bias") if k in bound)
        raise ArgumentError(f"{callee} has no {part} to initialise with {off}", loc,
                            hint=f"drop {arg}= (or change {off})")
    if entry.embedding_only and (layer.name != "embedding" or arg != "init"):
        raise ArgumentError(f"{entry.name}() gives an embedding's rows, one per word: it can only be an embedding's "
                            f"init=, not {callee}'s {arg}=", loc)
    if entry.fan and (arg == "bias_init" or layer.weights == "scale"):
        tensor = "a bias" if arg == "bias_init" else f"{callee}'s weight (a 1-d scale)"
        fanless = [n for n, e in INITIALISERS.items() if not e.fan and not e.embedding_only]
        raise ArgumentError(f"{entry.name} reads the fan in and out of a weight of at least 2 dimensions; {tensor} "
                            f"has 1", loc, hint=f"use {', '.join(fanless)}")


def check_vector_width(path: str, width: int, loc: Loc) -> None:
    """A word-vectors file already there whose first vector is not `width` numbers long is refused when the
    spec is planned (`dlspec compile`), not only when training reads it. A file not there is left to fit
    (a finished run plans its stored spec without the file, and never needs it)."""
    from ..language.files import open_regular
    try:
        with open_regular(path, ArgumentError, "word vectors file", loc, encoding=VECTORS_ENCODING) as handle:
            lines = [handle.readline(), handle.readline()]
    except (OSError, UnicodeDecodeError):  # not there, unreadable or not UTF-8: fit says which
        return
    for number, line in enumerate(lines, 1):
        if number == 1 and is_count_header(line):
            continue
        if line.strip():
            word, numbers = vector_fields(line, width)
            if len(numbers) != width:
                raise ArgumentError(f"vectors: {path}:{number}: the word {word!r} has {len(numbers)} numbers, but "
                                    f"the embedding's width is {width}", loc,
                                    hint="use vectors of the embedding's width, or set embedding(dim) to theirs")
        return


# utf-8-sig: a file saved with a byte-order mark would otherwise hide its first word behind it
VECTORS_ENCODING = "utf-8-sig"


def is_count_header(line: str) -> bool:
    """word2vec's "COUNT WIDTH" first line."""
    parts = line.split()
    return len(parts) == 2 and all(p.isdigit() for p in parts)


def vector_fields(line: str, width: int) -> tuple:
    """(word, [number texts]) of one line of a word-vectors file: fields separated by spaces or tabs (a
    trailing one, as fastText writes, ignored). A word may itself hold spaces (GloVe 840B has `. . .`): with
    more than `width` + 1 fields, the last `width` are the vector and the rest the word, unless the rest
    ends in a number, which is a vector of another width."""
    parts = line.rstrip().replace("\t", " ").split(" ")
    if len(parts) > width + 1 and not _is_number(parts[-width - 1]):
        return " ".join(parts[:-width]), parts[-width:]
    return parts[0], parts[1:]


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False
