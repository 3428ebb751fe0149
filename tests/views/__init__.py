"""Tests of dlspec/views/ and the compile --show summary: explain, graph, preview, summary."""
