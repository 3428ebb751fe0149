"""Training with several processes (docs/distributed.md); one process never needs more than `Dist()`.

- distributed.py: the process group. The torchrun / srun / `fit --nproc` environment in, a `Dist` out:
  what the trainer asks of torch.distributed (wrap the model in DDP, shard the loaders, sum losses and
  metric states over ranks, barriers), a no-op when alone
- sharding.py: a source of global batches and a rank in, this rank's share of each batch out, and the
  `StepPlan` that weighs each micro-batch's loss; pure bookkeeping, no collectives
- launch.py: `fit --nproc N`, N workers started by torch's elastic launcher, one `Run` out
"""
