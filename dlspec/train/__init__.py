"""Training: train-block checks, the device-aware loop, checkpoints and run directories."""
