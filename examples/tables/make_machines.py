"""Writes machines.csv, the multi-task table specs/multitask_table.dlspec trains on (one class, one number).

Seeded, so the same file comes out every time (`python examples/tables/make_machines.py`). Each of the 600
rows is a machine at inspection: its temperature, vibration, running hours and model (a category of three
levels). Two targets: its state (ok, worn or failing: read from vibration and hours, with some noise) and the
repair cost (a number: hours, temperature and the model's price level, plus noise).
"""
from __future__ import annotations

import os
import random

ROWS = 600
HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = {"alpha": 0.0, "beta": 120.0, "gamma": 260.0}  # what a model adds to a repair's cost


def rows(seed: int = 0) -> list:
    rng = random.Random(seed)
    lines = ["temperature,vibration,hours,model,state,cost"]
    for _ in range(ROWS):
        temperature, vibration, hours = rng.gauss(60, 8), rng.uniform(0, 10), rng.randint(100, 9000)
        model = rng.choice(list(MODELS))
        wear = vibration / 10 + hours / 9000 + rng.gauss(0, 0.15)
        state = "ok" if wear < 0.7 else "worn" if wear < 1.3 else "failing"
        cost = 150 + 0.05 * hours + 4 * (temperature - 60) + MODELS[model] + rng.gauss(0, 25)
        lines.append(f"{temperature:.1f},{vibration:.2f},{hours},{model},{state},{cost:.1f}")
    return lines


if __name__ == "__main__":
    with open(os.path.join(HERE, "machines.csv"), "w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(rows()) + "\n")
