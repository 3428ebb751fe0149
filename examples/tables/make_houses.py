"""Writes houses.csv beside this file: a synthetic table for specs/houses.dlspec (seeded: the same
file every time; nothing is downloaded).

Columns as tables come: numbers with missing cells (size_m2), a category with few levels
(condition: one-hot), one with many (district, 40 levels: a learnt embedding), and a price in
thousands written as whole numbers like 151.0. The price is made from a base, the size, rooms,
condition and a per-district premium in no order the district names have, plus noise.

    python examples/tables/make_houses.py
"""
import os
import random


def make_houses(path: str, rows: int = 1000, seed: int = 0) -> None:
    rng = random.Random(seed)
    districts = [f"district_{i:02d}" for i in range(40)]
    premium = {d: rng.uniform(-60, 90) for d in districts}  # thousands
    condition = {"poor": -25, "fair": 0, "good": 30}
    lines = ["size_m2,rooms,condition,district,year_built,price"]
    for i in range(rows):
        size, rooms = rng.uniform(35, 180), rng.randint(1, 6)
        cond, district, year = rng.choice(list(condition)), rng.choice(districts), rng.randint(1950, 2020)
        price = 80 + 1.6 * size + 8 * rooms + condition[cond] + premium[district] + 0.4 * (year - 1950)
        price += rng.gauss(0, 6)
        size_cell = "" if i % 23 == 0 else f"{size:.1f}"  # some cells are missing, as in real tables
        lines.append(f"{size_cell},{rooms},{cond},{district},{year},{round(price)}.0")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "houses.csv")
    make_houses(out)
    print(f"wrote {out}")
