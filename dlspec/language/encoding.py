"""A spec file's bytes in, its text out (UTF-8, newlines as text mode reads them), or a located
`SpecSyntaxError` saying what the bytes are instead: UTF-16 or UTF-32 (told by a byte-order mark, or
by the NUL bytes that fill every other byte of plain text written so), binary, or text in some other
encoding (the first byte that is not UTF-8, by line and column).

`misread_text` tells the same of text that fails to parse (`loads()` of a file read as Latin-1).
An encoding mistake is the spec file's own fault, not the data's: it is a syntax error, not a data error.
"""
from __future__ import annotations

from typing import Optional

from ..errors import Loc, SpecSyntaxError

# longest first: UTF-32 LE's mark starts with UTF-16 LE's
BYTE_ORDER_MARKS = ((b"\xff\xfe\x00\x00", "UTF-32", "utf-32"), (b"\x00\x00\xfe\xff", "UTF-32", "utf-32"),
                    (b"\xff\xfe", "UTF-16", "utf-16"), (b"\xfe\xff", "UTF-16", "utf-16"))
_NUL_SHARE = {2: "every other byte is NUL", 4: "three of every four bytes are NUL"}
_SAMPLE = 4096  # bytes looked at for NULs: enough to tell, cheap on a 16 MiB file
_HINT = ("a spec is a UTF-8 text file: in the editor, save it with the encoding UTF-8 "
         "(or: iconv -f {name} -t UTF-8 IN > OUT)")


def decode_spec(data: bytes, path: str, loc: Optional[Loc]) -> str:
    """`data` as text, or the error; `loc` (an include's) is where the error points, else the file's start."""
    wrong = _wide_encoding(data)
    if wrong is not None:
        name, codec, how = wrong
        shown = data.decode(codec, "replace").replace("\ufeff", "", 1)
        raise SpecSyntaxError(f"{path} is {name} ({how}): save it as UTF-8", loc or Loc(path, 1, 1, shown),
                              hint=_HINT.format(name=name))
    nuls = data[:_SAMPLE].count(0)
    if nuls * 10 >= min(len(data), _SAMPLE) > 0:
        first = data.index(0)
        raise SpecSyntaxError(f"{path} is not text: {nuls} of its first {min(len(data), _SAMPLE)} bytes are NUL "
                              f"(the first at {_where(data, first)})", loc or _byte_loc(path, data, first),
                              hint="a spec is a UTF-8 text file; is this the file you meant?")
    try:
        return data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").decode("utf-8")  # newlines as text mode reads
    except UnicodeDecodeError as exc:
        raise _not_utf8(path, exc, loc) from None


def misread_text(text: str, filename: str) -> Optional[SpecSyntaxError]:
    """For text that fails to parse: the error saying it is UTF-16 or UTF-32 bytes read one byte per
    character (or NULs kept by a lenient decoder), else None (the parser's own error stands)."""
    try:
        raw = text[:_SAMPLE].encode("latin-1")
    except UnicodeEncodeError:  # a character past U+00FF: not bytes read one by one
        return None
    wrong = _wide_encoding(raw)
    if wrong is None:
        return None
    name, codec, how = wrong
    shown = text.encode("latin-1", "replace").decode(codec, "replace").replace("\ufeff", "", 1)
    return SpecSyntaxError(f"{filename} holds {name} text read as single bytes ({how}): save it as UTF-8 and "
                           "read it as UTF-8", Loc(filename, 1, 1, shown), hint=_HINT.format(name=name))


def _wide_encoding(data: bytes) -> Optional[tuple]:
    """(name, codec, how it shows) for UTF-16 or UTF-32 text, else None."""
    for mark, name, codec in BYTE_ORDER_MARKS:
        if data.startswith(mark):
            return name, codec, "a byte-order mark at its start"
    sample = data[:_SAMPLE - _SAMPLE % 4]
    if len(sample) < 4:
        return None
    for name, width in (("UTF-32", 4), ("UTF-16", 2)):
        for keep, order in ((0, "le"), (width - 1, "be")):  # the non-NUL byte first: little-endian
            if _mostly_nul(sample, width, keep):
                return name, f"{name.lower()}-{order}", f"no byte-order mark, but {_NUL_SHARE[width]}"
    return None


def _mostly_nul(sample: bytes, width: int, keep: int) -> bool:
    """Whether, in nine of ten `width`-byte characters, every byte but the one at `keep` is NUL (ASCII
    written as UTF-16 or UTF-32)."""
    chars = len(sample) // width
    wide = sum(all(sample[i * width + j] == 0 for j in range(width) if j != keep) and sample[i * width + keep] != 0
               for i in range(chars))
    return wide * 10 >= chars * 9


def _not_utf8(path: str, exc: UnicodeDecodeError, loc: Optional[Loc]) -> SpecSyntaxError:
    """A spec that is not UTF-8, located at its first bad byte by line and column (not a byte offset).

    Read from the top of the file the error is in, the error points at that byte
    (the line quoted with the byte shown as \ufffd); from an `include`, it points
    at the include and its message names the line and column in the included file."""
    return SpecSyntaxError(f"{path} is not UTF-8 text ({exc.reason} at {_where(exc.object, exc.start)})",
                           loc or _byte_loc(path, exc.object, exc.start),
                           hint="a spec is a UTF-8 text file; is this the file you meant? (re-save it as UTF-8)")


def _line_column(data: bytes, offset: int) -> tuple:
    before = data[:offset]
    return before.count(b"\n") + 1, len(before[before.rfind(b"\n") + 1:].decode("utf-8", "replace")) + 1


def _where(data: bytes, offset: int) -> str:
    line, column = _line_column(data, offset)
    return f"line {line}, column {column}"


def _byte_loc(path: str, data: bytes, offset: int) -> Loc:
    line, column = _line_column(data, offset)
    return Loc(path, line, column, data.decode("utf-8", "replace"))
