"""Tests of dlspec/data/: sources, splits, transforms, batched augmentation, the cached path, tables, sequences,
bundled sets, fingerprints, and data files that are broken or hostile."""
