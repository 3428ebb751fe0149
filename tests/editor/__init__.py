"""Tests of dlspec/editor/: the language server and highlighting."""
