"""Training: train-block checks, the device-aware loop, checkpoints and run directories.

- fit.py: `dlspec fit`, a spec (or a run to resume) in, a trained `Run` out; trainer.py: the trainer;
  fit_data.py: its data, the plan for it and the checks of one against the other; vectors.py: word vectors
- config.py: a train block checked without data -> `TrainConfig`; task_checks.py: do the loss, metrics,
  last layer and data go together; target_checks.py: `target input` and add_loss columns
- objective.py, output_losses.py, targets.py: several outputs (per-output losses, weights, metrics and
  targets); added_losses.py: a model's add_loss terms in each step; dice.py: the dice loss
- measure.py: the facts a model's input asks of its linked data (`DataFacts`), measured once
- entries.py: the entry type of the loss, optimizer and schedule registries; losses.py,
  optimizers.py, schedules.py, metrics.py: the registries
- loop.py: the inner loops; presets.py: GPU presets and `compile`; finetune.py: what trains, at which
  rate, from which weights; devices.py: device names
- best.py: the monitor of best.ckpt and early_stop; record.py: the checkpoint as a typed `RunRecord`;
  checkpoint.py, checkpoint_fields.py: checkpoints written and checked; rundir.py, safe_write.py: the
  run directory's files; progress.py, loggers/: where the numbers go
- interrupt.py, faults.py: Ctrl-C / SIGTERM and failures a user can cause, as messages
- trust.py: whether a stored spec may run code
- parallel/: several processes (distributed.py, sharding.py, launch.py)
"""
