"""A spec saved as UTF-16 or UTF-32 (with or without a byte-order mark), or a binary file, is named as
such, as a syntax error of the spec (not a data error), by the API and by every command that reads it."""
import pytest
from click.testing import CliRunner

import dlspec
from dlspec.cli import main
from dlspec.errors import SpecSyntaxError

SPEC = "model M {\n    input vector(4)\n    linear(2)\n}\n"
MARK = "a byte-order mark at its start"

# (codec that writes the file, name in the message, how the message says it was told)
ENCODINGS = [
    ("utf-16", "UTF-16", MARK),
    ("utf-16-le", "UTF-16", "no byte-order mark, but every other byte is NUL"),
    ("utf-16-be", "UTF-16", "no byte-order mark, but every other byte is NUL"),
    ("utf-32", "UTF-32", MARK),
    ("utf-32-le", "UTF-32", "no byte-order mark, but three of every four bytes are NUL"),
    ("utf-32-be", "UTF-32", "no byte-order mark, but three of every four bytes are NUL"),
]


@pytest.mark.parametrize("codec, name, how", ENCODINGS)
def test_a_wide_encoding_is_named_with_the_fix(tmp_path, codec, name, how):
    path = tmp_path / "wide.dlspec"
    path.write_bytes(SPEC.encode(codec))
    with pytest.raises(SpecSyntaxError) as info:
        dlspec.load(path)
    assert info.value.message == f"{path} is {name} ({how}): save it as UTF-8"
    assert (info.value.line, info.value.column) == (1, 1)
    report = info.value.report()
    assert report.startswith(f"{path}:1:1: syntax error: ") and "\n    model M {\n" in report  # the line, decoded
    assert f"iconv -f {name} -t UTF-8" in info.value.hint


@pytest.mark.parametrize("command", [["compile"], ["fmt", "--check"], ["explain"], ["fit"]])
def test_every_command_says_utf16_as_a_syntax_error(tmp_path, command):
    path = tmp_path / "wide.dlspec"
    path.write_bytes(SPEC.encode("utf-16"))
    result = CliRunner().invoke(main, [*command, str(path)])
    assert result.exit_code != 0 and "internal error" not in result.output
    assert f"{path}:1:1: syntax error: {path} is UTF-16 ({MARK}): save it as UTF-8" in result.output, result.output
    assert "data error" not in result.output and "not UTF-8" not in result.output


def test_an_included_utf16_file_is_named_at_the_include(tmp_path):
    (tmp_path / "part.dlspec").write_bytes("block B { relu }\n".encode("utf-16"))
    main_spec = tmp_path / "main.dlspec"
    main_spec.write_text('let a = 1\ninclude "part.dlspec"\n' + SPEC)
    with pytest.raises(SpecSyntaxError) as info:
        dlspec.load(main_spec)
    assert info.value.line == 2 and f"{tmp_path / 'part.dlspec'} is UTF-16 ({MARK})" in info.value.message


def test_a_nul_heavy_binary_file_is_not_text(tmp_path):
    path = tmp_path / "data.dlspec"
    chunk = bytes([0, 0, 7, 0, 0, 0, 200, 1])  # neither UTF-16's nor UTF-32's pattern
    path.write_bytes(b"model M\n" + chunk * 64)
    with pytest.raises(SpecSyntaxError) as info:
        dlspec.load(path)
    assert info.value.message == (f"{path} is not text: {5 * 64} of its first {8 + 8 * 64} bytes are NUL "
                                  "(the first at line 2, column 1)")
    assert (info.value.line, info.value.column) == (2, 1)


def test_other_bytes_still_name_the_first_byte_that_is_not_utf8(tmp_path):
    path = tmp_path / "latin1.dlspec"
    path.write_bytes("model M {\n    input vector(4) # caf\u00e9\n}\n".encode("latin-1"))
    with pytest.raises(SpecSyntaxError) as info:
        dlspec.load(path)
    assert info.value.message.endswith("is not UTF-8 text (invalid continuation byte at line 2, column 26)")


@pytest.mark.parametrize("codec, name", [("utf-16", "UTF-16"), ("utf-16-le", "UTF-16"), ("utf-32-be", "UTF-32")])
def test_text_read_one_byte_per_character_is_named_by_loads(codec, name):
    """loads() of a UTF-16 file read as Latin-1 said "unexpected 'm'"."""
    with pytest.raises(SpecSyntaxError) as info:
        dlspec.loads(SPEC.encode(codec).decode("latin-1"))
    assert info.value.message.startswith(f"<string> holds {name} text read as single bytes (")
    assert "save it as UTF-8 and read it as UTF-8" in info.value.message
    assert "\n    model M {\n" in info.value.report()


def test_utf8_with_its_byte_order_mark_and_a_lone_nul_keep_their_meaning(tmp_path):
    path = tmp_path / "bom.dlspec"
    path.write_bytes(SPEC.encode("utf-8-sig"))
    assert dlspec.load(path).plan().out_shape.dims == (2,)
    with pytest.raises(SpecSyntaxError, match="stray control character U\\+0000"):
        dlspec.loads(SPEC.replace("linear(2)", "linear(2)\x00"))
