"""Tests of the command line (dlspec/cli.py) through click's runner."""
