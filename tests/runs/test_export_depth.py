"""Python export of deeply nested blocks: model.py stays valid Python at the language's nesting limit
(Python refuses source with more than 200 open brackets), and keeps the state_dict's key names."""
import io
import tokenize

import pytest
import torch

import dlspec
from dlspec.language.limits import MAX_DEPTH
from dlspec.runs.python_source import MAX_INLINE_DEPTH, PythonWriter


def nested_chain(depth: int, graph_every: int = 0) -> str:
    """Block B0 calls B1 ... calls B{depth-1}; with graph_every=k every k-th block is a graph body."""
    def body(i, inner):
        if graph_every and i % graph_every == 0:
            return f"y = input -> linear(4) -> {inner}; add(y, input)"
        return f"linear(4) -> {inner}"
    blocks = [f"block B{i} {{ {body(i, f'B{i + 1}')} }}\n" for i in range(depth - 1)]
    blocks.append(f"block B{depth - 1} {{ {body(depth - 1, 'relu')} }}\n")
    return "".join(blocks) + "model M { input vector(4); B0 -> linear(5) }\n"


def bracket_depth(source: str) -> int:
    depth = deepest = 0
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.OP and token.string in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif token.type == tokenize.OP and token.string in ")]}":
            depth -= 1
    return deepest


def exported(spec):
    built = spec.build().eval()
    source = PythonWriter(spec.plan(), built).source()
    namespace: dict = {}
    exec(compile(source, "model.py", "exec"), namespace)  # our own generated source, as `import model` would
    model = namespace["build"]()
    model.load_state_dict(built.state_dict())  # strict: every key named as dlspec names it
    return source, model.eval(), built


@pytest.mark.parametrize("graph_every", [0, 3])
def test_blocks_nested_to_the_language_limit_export_and_answer_alike(graph_every):
    source, model, built = exported(dlspec.loads(nested_chain(MAX_DEPTH, graph_every)))
    assert bracket_depth(source) <= 4 * MAX_INLINE_DEPTH + 8, "nesting must not grow with the spec's"
    x = torch.randn(3, 4)
    with torch.no_grad():
        assert torch.equal(model(x), built(x))


def test_each_nested_chain_block_is_its_own_function_and_one_written_twice_is_one_function():
    text = ("block Pair(n) { linear(n) -> relu }\n"
            "model M { input vector(4); Pair(4) -> Pair(4) -> Pair(3) -> linear(2) }\n")
    source, model, built = exported(dlspec.loads(text))
    assert source.count("def make_Pair():") == 1 and source.count("def make_Pair2():") == 1, source
    assert source.count("make_Pair()") == 3  # its def, then one call per use
    assert set(model.state_dict()) == set(built.state_dict())


def test_two_blocks_with_the_same_body_keep_their_own_names():
    text = "block Eval { relu }\nblock Cuda { relu }\nmodel M { input vector(4); Eval -> Cuda -> linear(2) }\n"
    source, model, built = exported(dlspec.loads(text))
    assert "def make_Eval():" in source and "def make_Cuda():" in source
    assert "('cuda_1', make_Cuda())" in source  # cuda is a Module method: the part is cuda_1
