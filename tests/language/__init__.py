"""Tests of dlspec/language/: parsing, resolving lets and includes, fmt, search spaces, a spec file's encoding,
syntax recovery and the several-errors report, keyword arguments."""
