"""The argument and registry kernel every stage shares: `Arg`/`bind_args` and `Registry`."""
