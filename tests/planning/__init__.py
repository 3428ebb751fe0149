"""Tests of dlspec/planning/ and the build from a plan (dlspec/compiler.py): shapes, labels, repeats, axis roles,
padding lengths, submodule names."""
