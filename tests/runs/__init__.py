"""Tests of dlspec/runs/ and the run directory: predict, export (python, torchscript, onnx), the runs table,
which checkpoint a run uses, and run directories that are damaged, unsafe, interrupted or on a full disk."""
