"""Tests of the command line (dlspec/cli/) through click's runner."""
