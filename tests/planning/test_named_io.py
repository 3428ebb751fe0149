"""Several named inputs and outputs (`input photo: image(...)`, `output price = ...`) and the `matmul` merge:
parsing, planning (each input's and output's shape, located errors), and the built module against
hand-written torch with the same weights, at batch sizes 1 and 3."""
import pytest
import torch
import torch.nn.functional as F

import dlspec
from dlspec.errors import DlspecError, ShapeError, UnknownNameError
from dlspec.language import ir
from dlspec.language.parser import parse_text

LISTING = """
model Listing {
    input photo: image(3, 16, 16)
    input words: tokens(12, vocab=50)
    input facts: vector(8)
    p = photo -> conv(4, 3) -> relu -> global_avgpool -> flatten
    w = words -> embedding(6) -> mean_time
    h = concat(p, w, facts -> linear(5)) -> linear(16) -> relu
    output price = h -> linear(1)
    output kind = h -> linear(5)
}
"""


def loads(text):
    return dlspec.loads(text, "m.dlspec")


def error_of(text, kind=DlspecError):
    with pytest.raises(kind) as caught:
        loads(text).plan()
    return caught.value


def body(lines: str, inputs="input a: vector(4)\n    input b: vector(4)") -> str:
    return f"model M {{\n    {inputs}\n{lines}\n}}\n"


# ---- parsing ------------------------------------------------------------------------


def test_named_inputs_and_outputs_parse_to_their_declarations():
    statements = parse_text(LISTING, "m.dlspec").decls[0].body.statements
    inputs = [s for s in statements if isinstance(s, ir.InputDecl)]
    outputs = [s for s in statements if isinstance(s, ir.OutputDecl)]
    assert [(i.name, i.kind) for i in inputs] == [("photo", "image"), ("words", "tokens"), ("facts", "vector")]
    assert [o.name for o in outputs] == ["price", "kind"]
    assert (outputs[0].loc.line, outputs[0].loc.column) == (9, 12)


def test_an_unnamed_input_still_parses_without_a_name():
    decl = parse_text("model M {\n input vector(4)\n linear(2)\n}", "m.dlspec").decls[0].body.statements[0]
    assert decl.name is None and decl.kind == "vector"


# ---- planning -------------------------------------------------------------------------


def test_each_input_and_output_has_its_shape_in_declaration_order():
    plan = loads(LISTING).plan()
    assert {n: s.dims for n, s in plan.inputs.items()} == {"photo": (3, 16, 16), "words": (12,), "facts": (8,)}
    assert list(plan.inputs) == ["photo", "words", "facts"]
    assert {n: s.dims for n, s in plan.outputs.items()} == {"price": (1,), "kind": (5,)}
    assert plan.inputs["words"].integer and plan.inputs["photo"].roles == ("C", "H", "W")


def test_a_misspelt_input_name_is_an_error_with_the_nearest_names():
    exc = error_of(body("    x = a -> linear(2)\n    y = bb -> linear(2)\n    add(x, y)"), UnknownNameError)
    assert "'bb' is not an input, binding or layer of this model" in exc.message
    assert "did you mean 'b'" in exc.message.lower() or "'b'" in exc.message
    assert exc.loc.line == 5


def test_a_misspelt_input_inside_a_merge_names_the_inputs():
    exc = error_of(body("    add(a, bb) -> linear(2)"), UnknownNameError)
    assert "'bb' is not a bound name, param or input" in exc.message and "'b'" in exc.message


def test_an_unused_named_input_is_an_error_at_its_line():
    exc = error_of(body("    a -> linear(2)"))
    assert exc.message.startswith("input 'b' is never used") and exc.loc.line == 3


def test_a_duplicated_output_name_is_an_error_at_the_second():
    exc = error_of(body("    output y = add(a, b)\n    output y = a -> linear(4)"))
    assert exc.message == "output 'y' is declared twice (first at line 4)" and exc.loc.line == 5


def test_a_duplicated_input_name_is_an_error():
    exc = error_of(body("    add(a, b)", inputs="input a: vector(4)\n    input a: vector(4)"))
    assert "input 'a' is declared twice (first at line 2)" in exc.message and exc.loc.line == 3


def test_several_inputs_each_need_a_name():
    exc = error_of(body("    linear(2)", inputs="input a: vector(4)\n    input vector(4)"))
    assert "this model has 2 inputs, so each needs a name" in exc.message and exc.loc.line == 3


def test_input_as_a_step_is_ambiguous_with_several_inputs():
    exc = error_of(body("    add(a, b)\n    input -> linear(2)"))
    assert "this model has 2 inputs (a, b): `input` does not say which" in exc.message and exc.loc.line == 5


def test_a_first_chain_that_starts_with_a_layer_has_nothing_to_continue():
    exc = error_of(body("    linear(2)"))
    assert "there is none yet: the model has several inputs (a, b)" in exc.message
    assert "a -> ..." in exc.hint


@pytest.mark.parametrize("kind, words", [("vector(auto)", "its width"), ("tokens(10)", "its vocabulary size")])
def test_sizes_from_the_data_need_linked_data_with_several_inputs(kind, words):
    exc = error_of(body("    add(a, b)", inputs=f"input a: vector(4)\n    input b: {kind}"))
    assert exc.message == f"input 'b' takes {words} from the data, and no train block links this model to a data block"
    assert exc.loc.line == 3 and "or write the size" in exc.hint


def test_output_inside_a_block_is_refused():
    text = "block B { output y = input -> relu }\nmodel M {\n input vector(4)\n B\n}"
    exc = error_of(text)
    assert "`output` declares what a model returns" in exc.message and exc.loc.line == 1


def test_an_output_cannot_take_an_input_name():
    exc = error_of(body("    output a = add(a, b)"))
    assert "output 'a' is already the name of an input" in exc.message


def test_a_single_named_input_plans_like_an_unnamed_one():
    named = loads("model M {\n input x: vector(4)\n linear(3) -> relu\n linear(2)\n}").build()
    plain = loads("model M {\n input vector(4)\n linear(3) -> relu\n linear(2)\n}").build()
    assert list(named.state_dict()) == list(plain.state_dict())
    named.load_state_dict(plain.state_dict())
    x = torch.randn(3, 4)
    assert torch.equal(named(x), plain(x))


# ---- matmul ---------------------------------------------------------------------------


def test_matmul_multiplies_one_samples_last_two_axes():
    plan = loads(body("    output y = matmul(a, b)", inputs="input a: tensor(2, 5, 3)\n    input b: tensor(2, 3, 7)")).plan()
    assert plan.outputs["y"].dims == (2, 5, 7)


def test_a_matmul_shape_mismatch_names_both_shapes_and_the_axes():
    exc = error_of(body("    output y = matmul(a, b)", inputs="input a: tensor(5, 3)\n    input b: tensor(4, 7)"),
                   ShapeError)
    assert exc.message == ("matmul of a [C=5, L=3] and b [C=4, L=7]: the last axis of a (3) must equal the "
                           "second-to-last of b (4)")
    assert (exc.loc.line, exc.loc.column) == (4, 16)


def test_matmul_refuses_vectors_and_mixed_ranks():
    exc = error_of(body("    output y = matmul(a, b)"), ShapeError)
    assert "each sample must be a matrix (two axes or more); a has 1" in exc.message
    exc = error_of(body("    output y = matmul(a, b)", inputs="input a: tensor(5, 3)\n    input b: tensor(2, 3, 7)"),
                   ShapeError)
    assert "both need the same number of axes per sample (2 against 3)" in exc.message


def test_matmul_takes_exactly_two_tensors():
    exc = error_of(body("    output y = matmul(a, b, a)", inputs="input a: tensor(3, 3)\n    input b: tensor(3, 3)"))
    assert "matmul multiplies exactly two tensors, received 3 operands" in exc.message


def test_a_matmul_in_a_chain_takes_the_chain_first():
    spec = loads("model M {\n input x: tensor(5, 3)\n param w(3, 2) = normal(std=1)\n output y = x -> matmul(w)\n}")
    model, x = spec.build(), torch.randn(3, 5, 3)
    assert torch.allclose(model(x), x @ model.w)


# ---- the built module against plain torch ------------------------------------------------


def reference_listing(m, photo, words, facts):
    """Listing written by hand with the built module's weights."""
    p = F.relu(F.conv2d(photo, m.conv.weight, m.conv.bias)).mean((2, 3))
    embedded = F.embedding(words, m.embedding.weight)
    real = (words != 0).float().unsqueeze(-1)
    w = (embedded * real).sum(1) / real.sum(1)  # the mean over the real (unpadded) steps
    f = F.linear(facts, m.linear.weight, m.linear.bias)
    h = F.relu(F.linear(torch.cat([p, w, f], 1), m.linear_1.weight, m.linear_1.bias))
    return {"price": F.linear(h, m.linear_2.weight, m.linear_2.bias),
            "kind": F.linear(h, m.linear_3.weight, m.linear_3.bias)}


@pytest.mark.parametrize("batch", [1, 2, 3])
def test_the_module_returns_a_dict_equal_to_hand_written_torch(batch):
    torch.manual_seed(0)
    model = loads(LISTING).build().eval()
    photo, facts = torch.randn(batch, 3, 16, 16), torch.randn(batch, 8)
    words = torch.randint(1, 50, (batch, 12))
    words[0, 7:] = 0  # padding on the right
    want = reference_listing(model, photo, words, facts)
    for got in (model(photo, words, facts), model(photo, facts=facts, words=words)):
        assert list(got) == ["price", "kind"]
        for name in want:
            assert got[name].shape == (batch,) + loads(LISTING).plan().outputs[name].dims
            assert torch.allclose(got[name], want[name], atol=1e-5), name


def test_calling_with_a_missing_or_unknown_input_says_which():
    model = loads(LISTING).build()
    with pytest.raises(TypeError, match="missing input\\(s\\) facts; this model takes photo, words, facts"):
        model(torch.randn(1, 3, 16, 16), torch.ones(1, 12, dtype=torch.long))
    with pytest.raises(TypeError, match="this model has no input 'fact'"):
        model(torch.randn(1, 3, 16, 16), torch.ones(1, 12, dtype=torch.long), fact=torch.randn(1, 8))


def test_one_named_output_returns_the_tensor():
    model = loads("model M {\n input vector(4)\n output score = linear(1)\n}").build()
    assert model(torch.randn(2, 4)).shape == (2, 1)


def test_a_merge_operand_may_be_a_chain():
    plan = loads(LISTING).plan()
    concat = next(op for op in plan.ops if op.kind == "concat")
    assert concat.inputs[:2] == ("p", "w") and plan.shapes[concat.inputs[2]].dims == (5,)
    assert plan.shapes[concat.target].dims == (4 + 6 + 5,)


@pytest.mark.parametrize("text, column", [
    ("model M {\n input vector(4)\n linear(input -> relu)\n}", 9),
    ("let q = foo(a -> b)\nmodel M {\n input vector(4)\n linear(q)\n}", 13),
])
def test_a_chain_anywhere_but_a_merge_operand_is_a_located_error(text, column):
    with pytest.raises(DlspecError) as caught:
        loads(text).plan()
    exc = caught.value
    assert exc.message == "a chain (a -> b) can only be an operand of a merge: add, mul, concat or matmul"
    assert exc.loc.column == column


def test_a_matmul_of_unnamed_chains_names_them_by_position():
    exc = error_of(body("    output y = matmul(a -> reshape(1, 4), b -> reshape(2, 2))"), ShapeError)
    assert exc.message == ("matmul of the first operand [C=1, L=4] and the second operand [C=2, L=2]: the last axis "
                           "of the first operand (4) must equal the second-to-last of the second operand (2)")


@pytest.mark.parametrize("repeat_body", ["h = input -> linear(4)\n        add(h, input)",
                                         "output o = add(a, b)"])
def test_a_graph_repeat_first_in_a_model_with_several_inputs_is_an_error_not_a_crash(repeat_body):
    # a repeat whose body is a graph continues from the previous result: there is none yet (was a KeyError)
    exc = error_of(f"model M {{\n    input a: vector(4)\n    input b: vector(4)\n    repeat 2 {{\n"
                   f"        {repeat_body}\n    }}\n}}\n")
    assert exc.message.startswith("this repeat continues from the previous line's result, and there is none yet")
    assert exc.loc.line == 4 and "h = a -> ..." in exc.hint


def test_binding_an_output_name_again_is_an_error_at_the_binding():
    # it used to pass, and the module returned the later binding's value under the output's name
    exc = error_of("model M {\n    input x: vector(4)\n    output y = x -> linear(2)\n    y = x -> linear(3)\n}\n")
    assert exc.message == "'y' is an output (line 3); binding it again would change what the model returns"
    assert (exc.loc.line, exc.loc.column) == (4, 5)


@pytest.mark.parametrize("text", [
    "model M {\n    input relu: vector(4)\n    input b: vector(4)\n    concat(relu, b) -> relu -> linear(2)\n}\n",
    "model M {\n    input vector(4)\n    relu = input -> linear(4)\n    add(relu, input) -> relu -> linear(2)\n}\n",
])
def test_a_name_that_hides_a_layer_is_explained_where_the_layer_is_meant(text):
    # the step `relu` read as the input or binding named relu: "a name can only start a chain" alone puzzled
    exc = error_of(text)
    assert exc.message.startswith("'relu' here is the input, binding or param 'relu', which hides the layer relu")
    assert exc.loc.line == 4 and "rename" in exc.hint


def test_an_input_named_self_is_refused_since_it_could_not_be_passed_by_name():
    # model(a, self=b) gives `self` twice to nn.Module.__call__: a TypeError that names no input
    exc = error_of(body("    concat(self, b) -> linear(2)", inputs="input self: vector(4)\n    input b: vector(4)"))
    assert exc.message == "an input cannot be named 'self': the module could not take it by name"
    assert exc.loc.line == 2
