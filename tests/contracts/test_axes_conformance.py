"""Conformance, generated from the layer registry: every shipped layer on every input kind it accepts is
compared with its plain-torch reference (tests/helpers/layer_references.py), and its planned shape with the real
output at batch sizes 1, 2, 3 and, for sequences, T, so an axis or broadcast mistake cannot hide behind
equal sizes. A kind a layer refuses is refused at the layer's line. The same for add, mul and concat over
every pair of operand kinds."""
import warnings

import pytest
import torch

import dlspec
from dlspec.errors import DlspecError
from dlspec.layers.registry import list_layers

from tests.helpers.layer_references import REFERENCES

# sizes differ inside each shape, so a layer working on the wrong axis cannot match by chance
KINDS = {
    "image": "image(4, 5, 7)",
    "sequence": "sequence(6, 4)",
    "vector": "vector(6)",
    "tokens": "tokens(6, vocab=11)",
    "tensor_CL": "tensor(2, 8)",
    "tensor_CDHW": "tensor(2, 4, 5, 6)",
    "tensor_HWC": 'tensor(5, 7, 4, layout="HWC")',
    "tensor_FT": 'tensor(4, 6, layout="FT")',
}


def shipped_layers():
    """Built-in layers and the example plugin's (other test modules register throwaway layers of their own)."""
    shipped = (layer for layer in list_layers()
               if layer.source == "built-in" or "dlspec_example_plugin" in layer.source)
    return sorted(shipped, key=lambda layer: layer.name)


def batch_sizes(shape):
    return (1, 2, 3) + ((shape.dims[0],) if shape.sequence else ())


def sample(shape, batch, generator):
    if shape.integer:
        return torch.randint(1, shape.vocab, (batch,) + shape.dims, generator=generator)
    return torch.randn((batch,) + shape.dims, generator=generator)


def randomise(model):
    """Weights and running statistics away from their defaults, so a transposed axis shows."""
    with torch.no_grad():
        for name, t in list(model.named_parameters()) + list(model.named_buffers()):
            if t.is_floating_point():
                t.copy_(torch.rand_like(t) + 0.5 if "var" in name else torch.randn_like(t))


def spec_text(kind, call, before=None):
    chain = f"{before} -> {call}" if before else call
    return f"model M {{\n    input {KINDS[kind]}\n    {chain}\n}}\n"


def call_text(name, args):
    return f"{name}(" + ", ".join(f"{k}={_value(v)}" for k, v in args.items()) + ")"


def _value(v):
    if isinstance(v, bool):
        return str(v).lower()
    return str(list(v)) if isinstance(v, tuple) else repr(v).replace("'", '"')


def test_every_shipped_layer_has_a_reference():
    missing = [layer.name for layer in shipped_layers() if layer.name not in REFERENCES]
    assert not missing, f"add an entry to tests/helpers/layer_references.py for: {', '.join(missing)}"


def test_every_layer_accepts_some_kind():
    for layer in shipped_layers():
        ref = REFERENCES.get(layer.name)
        if ref is None:
            continue
        accepted = [k for k in KINDS if _plan(layer.name, ref, k)[0] is not None]
        assert accepted, f"{layer.name} accepts none of the input kinds"


def _plan(name, ref, kind):
    """(spec, plan) of `name` on `kind`, or (None, the refusal)."""
    text = spec_text(kind, "X", ref.before)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            shape = dlspec.loads(text.replace("X", "identity")).plan("M").children[-1].out_shape
            args = ref.args(shape) if callable(ref.args) else ref.args
            spec = dlspec.loads(text.replace("X", call_text(name, args)))
            return spec, spec.plan("M")
    except DlspecError as exc:
        return None, exc


CASES = [(layer.name, kind) for layer in shipped_layers() for kind in KINDS]


@pytest.mark.parametrize("name, kind", CASES, ids=[f"{n}-{k}" for n, k in CASES])
def test_layer_means_its_reference_on_every_kind(name, kind):
    ref = REFERENCES.get(name)
    if ref is None:
        pytest.fail(f"{name} has no reference in tests/helpers/layer_references.py")
    spec, plan = _plan(name, ref, kind)
    if spec is None:  # refused: at the layer's line, never deeper
        assert plan.loc is not None and plan.loc.line == 3, plan
        return
    torch.manual_seed(0)
    model = spec.build("M")
    randomise(model)
    model.train(ref.train)
    shape = plan.in_shape
    args = ref.args(plan.children[-1].in_shape) if callable(ref.args) else ref.args
    generator = torch.Generator().manual_seed(1)
    for batch in batch_sizes(shape):
        x = sample(shape, batch, generator)
        with torch.no_grad():
            torch.manual_seed(batch)
            got = model(x)
            torch.manual_seed(batch)
            want = ref.ref(model, x, shape, args)
        assert tuple(got.shape) == (batch,) + plan.out_shape.dims, (batch, plan.out_shape.labelled())
        torch.testing.assert_close(got, want, msg=lambda m: f"{name} on {kind}, batch {batch}: {m}")


# ---- merges: add, mul and concat over every pair of operand kinds -------------------------------

# operand -> (the model input, the chain making it from the input, its roles, the same in plain torch)
OPERANDS = {
    "sequence": ("sequence(6, 4)", "input", "TF", lambda x: x),
    "sequence_pooled": ("sequence(6, 4)", "input -> global_avgpool", "TF", lambda x: x.mean(1, keepdim=True)),
    "sequence_vector": ("sequence(6, 4)", "input -> max_time", "F", lambda x: x.amax(1)),
    "sequence_as_CL": ("sequence(6, 4)", 'input -> permute(2, 1) -> reshape(4, 6, layout="CL")', "CL",
                       lambda x: x.transpose(1, 2)),
    "image": ("image(4, 5, 7)", "input", "CHW", lambda x: x),
    "image_pooled": ("image(4, 5, 7)", "input -> global_avgpool", "CHW", lambda x: x.mean((2, 3), keepdim=True)),
    "image_vector": ("image(4, 5, 7)", "input -> global_avgpool -> flatten", "F", lambda x: x.mean((2, 3))),
    "image_as_TF": ("image(4, 5, 7)", 'input -> reshape(-1, 4, layout="TF")', "TF", lambda x: x.reshape(len(x), -1, 4)),
    "vector": ("vector(6)", "input", "F", lambda x: x),
    "vector_squashed": ("vector(6)", "input -> sigmoid", "F", torch.sigmoid),
}

# The documented alignment of one sample against a larger one (docs/language.md, "Axes"): a feature
# vector meets a sequence at every time step and an image at every position, channel by channel.
ALIGN = {
    ("F", "TF"): lambda t: t[:, None, :],
    ("F", "CHW"): lambda t: t[:, :, None, None],
    ("F", "CL"): lambda t: t[:, :, None],
}
CHANNEL_DIM = {"TF": 2, "CHW": 1, "F": 1, "CL": 1}


def merge_reference(kind, a, b, ra, rb):
    """The documented meaning of merge `kind` on batches a, b with roles ra, rb; None where it is refused."""
    if kind == "concat":
        if ra != rb or _other_sizes_differ(a, b, CHANNEL_DIM[ra]):
            return None
        return torch.cat([a, b], CHANNEL_DIM[ra])
    if ra != rb:
        if (ra, rb) in ALIGN:
            a = ALIGN[ra, rb](a)
        elif (rb, ra) in ALIGN:
            b = ALIGN[rb, ra](b)
        else:
            return None
    if any(x != y and 1 not in (x, y) for x, y in zip(a.shape[1:], b.shape[1:])):
        return None
    return a + b if kind == "add" else a * b


def _other_sizes_differ(a, b, dim):
    return a.dim() != b.dim() or any(x != y for i, (x, y) in enumerate(zip(a.shape, b.shape)) if i not in (0, dim))


PAIRS = [(m, p, q) for m in ("add", "mul", "concat") for p in OPERANDS for q in OPERANDS
         if OPERANDS[p][0] == OPERANDS[q][0]]


@pytest.mark.parametrize("merge, left, right", PAIRS, ids=[f"{m}-{p}-{q}" for m, p, q in PAIRS])
def test_merges_mean_their_reference_on_every_pair(merge, left, right):
    decl, chain_a, ra, fa = OPERANDS[left]
    _, chain_b, rb, fb = OPERANDS[right]
    text = f"model M {{\n    input {decl}\n    a = {chain_a}\n    b = {chain_b}\n    {merge}(a, b)\n}}\n"
    spec = dlspec.loads(text)
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(1)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            plan = spec.plan("M")
    except DlspecError as exc:
        x = torch.randn((2,) + spec_shape(decl), generator=generator)
        assert merge_reference(merge, fa(x), fb(x), ra, rb) is None, f"refused, but documented: {exc}"
        assert exc.loc is not None and exc.loc.line == 5, exc
        return
    model = spec.build("M").eval()
    for batch in batch_sizes(plan.in_shape):
        x = torch.randn((batch,) + plan.in_shape.dims, generator=generator)
        want = merge_reference(merge, fa(x), fb(x), ra, rb)
        with torch.no_grad():
            got = model(x)
        assert want is not None, f"{merge}({left}, {right}) is planned, but the docs refuse it"
        assert tuple(got.shape) == (batch,) + plan.out_shape.dims
        torch.testing.assert_close(got, want)


def spec_shape(decl):
    return dlspec.loads(f"model M {{\n    input {decl}\n    identity\n}}\n").plan("M").in_shape.dims
