"""Finding the inputs of a prediction: command-line words in, the files or sentences to predict on out.

A word is a file, a folder (searched recursively for the kinds of file the run
reads), a glob (`photos/*.jpg`, `**` allowed), or, for a text run, a sentence.
Only regular files are read: a device, pipe or socket named is an error, one
met in a folder is skipped with a warning. Every folder reached is walked, whether
named, matched by a glob or linked from inside another (a link to a folder is
followed, `**` in a glob too); a link that leads back into a folder already
being walked is a link loop, skipped with a warning. `not_utf8` locates a text
file's first bad byte. `open_image` reads an image's header and refuses one
declaring more than a cap of pixels before any is decoded; the training scan
(data/sources/images.py) opens images with it too.
Imports only the standard library (Pillow inside `open_image`): `dlspec export
--format python` copies this file into predict.py, which must run without dlspec.
"""
import errno
import glob
import os
import stat
import warnings

IMAGE_FILES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
TEXT_FILES = (".txt",)
TABLE_FILES = (".csv",)

# the files each kind of run reads from a folder or a glob
FILE_KINDS = {"image": IMAGE_FILES, "table": TABLE_FILES, "series": TABLE_FILES, "text": TEXT_FILES,
              "any": IMAGE_FILES + TABLE_FILES}


# how errors name those files
KIND_WORDS = {"image": "image", "table": "CSV", "series": "CSV", "text": ".txt", "any": "image or CSV"}


# the most pixels (width x height) an image may declare: 50 megapixels decode to 150 MB as RGB (more
# while converting); a decompression bomb of a few kilobytes declares billions. `max_pixels=` raises it.
MAX_PIXELS = 50_000_000


class InputError(ValueError):
    """An input that cannot be read; `hint` says what to do instead."""

    def __init__(self, message, hint="", where=None):
        super().__init__(message)
        # where: (path, line, column, text) of the offending spot in the input file, when known
        self.message, self.hint, self.where = message, hint, where


class TooManyPixels(InputError):
    """An image whose header declares more pixels than the cap (nothing of it was decoded)."""


class SkippedInput(UserWarning):
    """A file found in a folder or by a glob that cannot be read: skipped, the others still answered."""


class FolderFile(str):
    """A file found in a folder or by a glob (not named on its own): skipped with a warning when it
    cannot be read, where a file named on its own is an error."""


def not_regular(path):
    """None for a regular file (or a link to one); else what `path` is ("a character device", ...),
    found without opening it: reading /dev/zero or a pipe never ends."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None  # absent or unreachable: the caller's own "not found" says so
    if stat.S_ISREG(mode):
        return None
    kinds = ((stat.S_ISDIR, "a folder"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
             (stat.S_ISFIFO, "a named pipe"), (stat.S_ISSOCK, "a socket"))
    return next((word for test, word in kinds if test(mode)), "not a file")


def open_image(path, max_pixels=MAX_PIXELS):
    """`path` opened by Pillow with only its header read (the pixels decode on first use); an image
    declaring more than `max_pixels` pixels is TooManyPixels, a path that is not a regular file an
    InputError, both before anything is decoded. Pillow's own errors for unreadable files pass through."""
    from PIL import Image
    kind = not_regular(path)
    if kind:
        raise InputError(f"{path} is not a regular file ({kind})", "give image files; devices, pipes and sockets "
                                                                     "are never read")
    saved = Image.MAX_IMAGE_PIXELS
    # Pillow's own bomb check warns past its limit and raises past twice it, without the size; the cap
    # below replaces it, so that max_pixels= decides alone and the message can say how big the image is
    Image.MAX_IMAGE_PIXELS = None
    try:
        image = Image.open(path)
    finally:
        Image.MAX_IMAGE_PIXELS = saved
    width, height = image.size
    if width * height > max_pixels:
        image.close()
        raise TooManyPixels(f"{path} declares {width:,} x {height:,} = {width * height:,} pixels, more than the "
                            f"cap of {max_pixels:,} (max_pixels)")
    return image


def not_utf8(path, exc, encoding="UTF-8"):
    """An InputError for a text file that is not valid `encoding`: its first bad byte located by line
    and column (counted in characters, not bytes), the file's text kept to quote the line."""
    data = exc.object if isinstance(exc.object, bytes) else b""
    before = data[:exc.start]
    line = before.count(b"\n") + 1
    column = len(before[before.rfind(b"\n") + 1:].decode("utf-8", "replace")) + 1
    return InputError(f"{path} is not {encoding} text ({exc.reason} at line {line}, column {column})",
                      f"re-save the file as {encoding}, or leave it out", (str(path), line, column,
                                                                         data.decode("utf-8", "replace")))


def missing(path):
    """What an absent path is: "a link loop" (a link that leads back to itself), "a link to nothing
    (target)" (a dangling link) or None (nothing is there at all)."""
    try:
        os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "a link loop (following its links leads back to it)"
        if os.path.islink(path):
            return f"a link to nothing ({os.readlink(path)})"
    return None


def skip(why):
    """Warn that a file found in a folder or by a glob is left out; `why` names it and says why."""
    warnings.warn(SkippedInput(f"skipping: {why}"), stacklevel=2)


def skip_or_raise(item, exc):
    """A file found in a folder or by a glob that cannot be read is skipped with a warning; one named
    on its own is the user's error, raised."""
    if not isinstance(item, FolderFile):
        raise exc
    skip(exc.message)


def expand_inputs(words, kind):
    """The files (and, for text, sentences) named by `words`, in the order given; folders and globs
    sorted. A word that names nothing is an error, except a sentence for a text run."""
    wanted, what = FILE_KINDS.get(kind, FILE_KINDS["any"]), KIND_WORDS.get(kind, KIND_WORDS["any"])
    found = []
    for word in words:
        word = str(word)
        if os.path.isdir(word):
            found.extend(_folder_files(word, wanted, what))
        elif os.path.isfile(word):
            found.append(word)
        elif os.path.exists(word):
            raise InputError(f"{word} is not a regular file ({not_regular(word)}); devices, pipes and sockets "
                             "are never read",
                             hint=f"give {what} files, folders or globs")
        elif glob.has_magic(word):
            matches = sorted(_glob(word))
            files = _regular([m for m in matches if not os.path.isdir(m) and m.lower().endswith(wanted)])
            for folder in (m for m in matches if os.path.isdir(m)):  # walked as a folder named is
                files.extend(_files_under(folder, wanted))
            files = list(dict.fromkeys(files))  # `**/*.png` matches `a.png/` and the files walking it finds
            if not files:
                raise InputError(f"no {what} file matches {word}", hint=f"files read: {', '.join(wanted)}")
            found.extend(files)
        elif missing(word):
            raise InputError(f"{word} is {missing(word)}", hint=f"give {what} files, folders or globs")
        elif kind == "text":
            found.append(Sentence(word))
        else:
            raise InputError(f"file not found: {word}", hint=f"give {what} files, folders or globs")
    return found


class Sentence(str):
    """A sentence typed on the command line (not a file name)."""


def _folder_files(folder, wanted, what):
    """The wanted files under a folder named on the command line; none is an error."""
    files = _files_under(folder, wanted)
    if not files:
        raise InputError(f"{folder} holds no {what} file", hint=f"files read: {', '.join(wanted)}")
    return files


def _files_under(folder, wanted):
    """The wanted files under `folder`, sorted, links to folders followed (see `_walk`)."""
    files = []
    for root, names in _walk(folder):
        files.extend(_regular([os.path.join(root, n) for n in names if n.lower().endswith(wanted)]))
    return files


def _walk(folder):
    """(folder, sorted file names) of `folder` and every folder under it, hidden ones left out, links
    to folders followed; a link back into a folder on the way down (a loop) or to one already walked
    is skipped with a warning, so the walk ends and reads each folder once."""
    walked, above = {}, {}  # walked: real folder -> where first walked; above: the folders above root
    for root, dirs, names in os.walk(folder, followlinks=True):
        above = {path: real for path, real in above.items() if _inside(root, path)}
        above[root] = os.path.realpath(root)
        walked.setdefault(above[root], root)
        loops = {real: path for path, real in above.items()}
        kept = []
        for d in sorted(d for d in dirs if not d.startswith(".")):
            path, target = os.path.join(root, d), os.path.realpath(os.path.join(root, d))
            if target in loops:
                skip(f"{path} is a link loop (it leads back to {loops[target]})")
            elif target in walked:
                skip(f"{path} leads to {walked[target]}, already read")
            else:
                walked[target] = path
                kept.append(d)
        dirs[:] = kept
        yield root, sorted(n for n in names if not n.startswith("."))


def _glob(word):
    """glob.glob(word, recursive=True), except that `**` walks folders as `_walk` does: Python's own
    follows a link loop until paths grow too long (it never seems to end)."""
    before, _, rest = word.partition("**")
    if "**" not in word or (rest and not rest.startswith(os.sep)) or (before and not before.endswith(os.sep)):
        return glob.glob(word)  # no `**`, or `a**b`: no recursion, an ordinary `*`
    bases = glob.glob(before) if glob.has_magic(before) else [before or os.curdir]
    rest = rest.lstrip(os.sep)
    found = []
    for base in (b for b in bases if os.path.isdir(b)):
        for root, names in _walk(base.rstrip(os.sep) or base):
            folder = root if before else os.path.relpath(root).removeprefix(os.curdir)  # as glob names them
            if not rest:
                found.extend(([folder] if folder else []) + [os.path.join(folder, n) for n in names])
            else:
                found.extend(_glob(os.path.join(glob.escape(folder), rest)))
    return list(dict.fromkeys(found))


def _inside(path, folder):
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _regular(paths):
    """The regular files among `paths`, as FolderFiles; the others (a link to a device, a pipe) are
    skipped with a warning, never opened."""
    kept = []
    for path in paths:
        kind = not_regular(path)
        if kind:
            skip(f"{path} is not a regular file ({kind})")
        elif os.path.exists(path):  # a dangling link is no file either
            kept.append(FolderFile(path))
        else:
            skip(f"{path} is {missing(path) or 'gone'}")
    return kept
