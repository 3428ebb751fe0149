"""Tests of dlspec/tuning/: dlspec tune, its study and its faults."""
