"""Finding the inputs of a prediction: command-line words in, the files or sentences to predict on out.

A word is a file, a folder (searched recursively for the kinds of file the run
reads), a glob (`photos/*.jpg`, `**` allowed), or, for a text run, a sentence.
Imports only the standard library: `dlspec export --format python` copies this
file into predict.py, which must run without dlspec.
"""
import glob
import os

IMAGE_FILES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
TEXT_FILES = (".txt",)
TABLE_FILES = (".csv",)

# the files each kind of run reads from a folder or a glob
FILE_KINDS = {"image": IMAGE_FILES, "table": TABLE_FILES, "series": TABLE_FILES, "text": TEXT_FILES,
              "any": IMAGE_FILES + TABLE_FILES}


# how errors name those files
KIND_WORDS = {"image": "image", "table": "CSV", "series": "CSV", "text": ".txt", "any": "image or CSV"}


class InputError(ValueError):
    """An input that cannot be read; `hint` says what to do instead."""

    def __init__(self, message, hint=""):
        super().__init__(message)
        self.message, self.hint = message, hint


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
        elif glob.has_magic(word):
            matches = sorted(glob.glob(word, recursive=True))
            files = [m for m in matches if os.path.isfile(m) and m.lower().endswith(wanted)]
            for folder in (m for m in matches if os.path.isdir(m)):
                files.extend(_folder_files(folder, wanted, what))
            if not files:
                raise InputError(f"no {what} file matches {word}", hint=f"files read: {', '.join(wanted)}")
            found.extend(files)
        elif kind == "text":
            found.append(Sentence(word))
        else:
            raise InputError(f"file not found: {word}", hint=f"give {what} files, folders or globs")
    return found


class Sentence(str):
    """A sentence typed on the command line (not a file name)."""


def _folder_files(folder, wanted, what):
    files = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        files.extend(os.path.join(root, n) for n in sorted(names)
                     if n.lower().endswith(wanted) and not n.startswith("."))
    if not files:
        raise InputError(f"{folder} holds no {what} file", hint=f"files read: {', '.join(wanted)}")
    return files
