"""Tests of dlspec/train/: the trainer, losses, schedules, metrics, train settings, loggers, distributed
training, transfer learning, init weights, signals, and each train block's own data."""
