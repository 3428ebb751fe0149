"""Data: sources, splits, transforms and loaders for `data` blocks.

- config.py: a data block checked without loading data -> `DataConfig`
- route.py: which route a data block takes (cached or per sample), chosen without data or torch
- step_checks.py: whether the transform / augment steps suit the samples (image steps need images)
- sources/: the source registry and the built-in families; bundled/: the data sets shipped in the package
- pipeline.py: load, split, scale, transform and normalise -> a `DataBundle` of loaders per split
- splits.py: reproducible stratified splits; encoding.py: a csv table's columns as features
- transforms.py: the transform registry -> torchvision v2 pipelines
- loaders.py: the per-sample route's loaders (`TensorLoader`, `EpochDataLoader`)
- cache.py: the cached route (splits held on the device, batches sliced there); batch_augment.py and
  batch_mixing.py: augmentation and mixup/cutmix over whole batches
- fingerprint.py: a digest of what a data block read, so a run notices changed data
- record.py: what a run keeps of its data (`DataRecord`: classes, normalisation, vocabulary, table encoding, ...)
"""
