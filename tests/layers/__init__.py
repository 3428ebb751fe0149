"""Tests of dlspec/layers/ (and their runtime modules): every layer against torch, arguments refused at compile."""
