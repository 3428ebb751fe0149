"""A finished run loaded for use: a run directory in, its spec, settings and trained model out.

The model is rebuilt from the spec text stored in the checkpoint (never from
a pickled module), after checking that spec runs no code unless trusted, and
its weights are loaded with weights_only=True; the checkpoint's fields and
weights are checked first (train/checkpoint_fields.py), so a damaged run is a
one-line error naming the field.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Optional

from ..train.checkpoint import load_checkpoint, select_checkpoint
from ..train.checkpoint_fields import check_weights, damaged
from ..train.config import fitted_to_task, read_train
from ..train.loop import select_device
from ..train.measure import Measurements, facts_of_run
from ..train.trust import load_run_spec


class LoadedRun:
    """A run directory's spec, settings and trained model, ready to use.

    `checkpoint` picks the weights: best (best.ckpt, the epoch with the best monitored
    value) or last (last.ckpt, the final epoch); None (the default) means best, or last
    with a warning in a run without best.ckpt. `self.checkpoint` and `self.epoch` say
    which weights were loaded.
    """

    def __init__(self, run_dir: str, device: str = "cpu", trust: bool = False, checkpoint: Optional[str] = None):
        load_checkpoint(run_dir)  # a folder without last.ckpt is refused with the usual message
        self.checkpoint, path = select_checkpoint(run_dir, checkpoint)
        self.state = load_checkpoint(path)
        self.epoch = self.state.get("epoch")
        self.spec = load_run_spec(self.state, run_dir, trust)  # refuses to run code unless trusted
        self.facts = facts_of_run(self.state)  # the vocabulary, the vector(auto) width the run was trained with
        given = {self.state["settings"]["model"]: self.facts} if self.state.get("sample_shape") else {}
        measurements = Measurements(self.spec, given)  # without a sample shape: measured on the data
        self.cfg = fitted_to_task(read_train(self.spec, self.state["settings"]["train"],
                                             epochs=self.state["settings"]["epochs"], measurements=measurements),
                                  self.state.get("task"))
        if not given:
            self.facts = replace(measurements.facts(self.cfg.model, self.cfg.name), vocab=self.facts.vocab)
        if self.state.get("vocab") and not self.spec.plan(self.cfg.model, self.facts).in_shape.integer:
            raise damaged(path, "vocab", "is set, but the model its spec builds takes no tokens")
        self.device = select_device(device)
        self.model = self.spec.build(self.cfg.model, self.facts)
        check_weights(self.model, self.state["model"], path)  # names and shapes, as one line
        self.model.load_state_dict(self.state["model"])
        self.model.to(self.device).eval()
        self.classes = self.state.get("classes")
