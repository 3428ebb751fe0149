"""Data: sources, splits, transforms and loaders for `data` blocks.

- config.py: a data block checked without loading data -> `DataConfig`; ordered.py: a `pipeline { }` block;
  model_inputs.py: the named inputs and outputs of the model a train block feeds
- route.py: which route a data block takes (cached or per sample), chosen without data or torch
- step_checks.py: whether the transform / augment steps suit the samples (image steps need images)
- sources/: the source registry and the built-in families; bundled/: the data sets shipped in the package
- pipeline.py: load, split, scale, transform and normalise -> a `DataBundle` of loaders per split
- named_pipeline.py: the same for dict samples (named inputs, several targets); dense.py: masks moved with
  their images; padding.py: token batches cut to their longest sentence, `bucket`
- splits.py: reproducible stratified splits; split_lists.py: splits the data gives (list files, a split column)
- encoding.py: a csv table's columns as features, row-wise; columns.py, column_encoding.py: column-wise
- transforms.py: the transform registry -> torchvision v2 pipelines
- loaders.py: the per-sample route's loaders (`TensorLoader`, `EpochDataLoader`)
- cache.py: the cached route (splits held on the device, batches sliced there); batch_augment.py,
  batch_affine.py (its geometric steps) and batch_mixing.py: augmentation and mixup/cutmix over whole batches
- fingerprint.py: a digest of what a data block read, so a run notices changed data
- record.py: what a run keeps of its data (`DataRecord`: classes, normalisation, vocabulary, table encoding, ...);
  named_rows.py: how a run's named inputs are read from new csv rows
"""
