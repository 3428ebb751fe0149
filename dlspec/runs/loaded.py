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

from ..train.checkpoint import load_record, select_checkpoint
from ..train.checkpoint_fields import check_weights, damaged
from ..train.config import fitted_to_task, read_train
from ..train.loop import select_device
from ..train.measure import Measurements
from ..train.trust import load_run_spec


class LoadedRun:
    """A run directory's spec, settings and trained model, ready to use.

    `checkpoint` picks the weights: best (best.ckpt, the epoch with the best monitored
    value) or last (last.ckpt, the final epoch); None (the default) means best, or last
    with a warning in a run without best.ckpt. `self.checkpoint` and `self.epoch` say
    which weights were loaded; `self.record` is that checkpoint (train/record.py's RunRecord).
    """

    def __init__(self, run_dir: str, device: str = "cpu", trust: bool = False, checkpoint: Optional[str] = None):
        load_record(run_dir)  # a folder without last.ckpt is refused with the usual message
        self.checkpoint, path = select_checkpoint(run_dir, checkpoint)
        self.record = record = load_record(path)
        self.epoch = record.progress.epoch
        self.spec = load_run_spec(record.spec, run_dir, trust)  # refuses to run code unless trusted
        settings = record.spec.settings
        self.facts = record.data.facts()  # the vocabulary, the vector(auto) width the run was trained with
        given = {settings["model"]: self.facts} if record.data.sample_shape else {}
        measurements = Measurements(self.spec, given)  # without a sample shape: measured on the data
        self.cfg = fitted_to_task(read_train(self.spec, settings["train"], epochs=settings["epochs"],
                                             measurements=measurements), record.data.task)
        if not given:
            self.facts = replace(measurements.facts(self.cfg.model, self.cfg.name), vocab=self.facts.vocab)
        if record.data.vocab and not self.spec.plan(self.cfg.model, self.facts).in_shape.integer:
            raise damaged(path, "vocab", "is set, but the model its spec builds takes no tokens")
        self.device = select_device(device)
        self.model = self.spec.build(self.cfg.model, self.facts)
        check_weights(self.model, record.progress.model, path)  # names and shapes, as one line
        self.model.load_state_dict(record.progress.model)
        self.model.to(self.device).eval()
        self.classes = record.data.classes
