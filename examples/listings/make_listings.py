"""Writes the multimodal listings table specs/listing.dlspec trains on: listings.csv and photos/*.png.

Seeded, so the same files come out every time (`python examples/listings/make_listings.py`). Each of the 200
rows is a flat or house for sale: a 32x32 photo (a wall colour with a window), a short description, its
size in square metres, its rooms and its district. The price depends on the numbers and on the photo's
colour (bright walls sell for more); the kind (flat or house) can be read from the description's words.
"""
from __future__ import annotations

import csv
import os
import random

from PIL import Image, ImageDraw

ROWS = 200
SIZE = 32
HERE = os.path.dirname(os.path.abspath(__file__))
WALLS = {"white": ((235, 235, 230), 40.0), "yellow": ((230, 200, 60), 25.0), "blue": ((60, 90, 200), 0.0),
         "grey": ((110, 110, 115), -20.0)}  # colour, and what it adds to the price (thousands)
DISTRICTS = {"centre": 60.0, "harbour": 30.0, "north": 0.0, "suburbs": -15.0}
WORDS = {"flat": ["bright flat", "flat with balcony", "top floor flat", "small flat near tram", "studio flat",
                  "flat with lift"],
         "house": ["family house with garden", "house with garage", "detached house", "terraced house",
                   "house near school", "old house with garden"]}
EXTRAS = ["", " quiet street", " renovated", " needs work", " sunny", " close to shops"]


def photo(wall: tuple, rng: random.Random) -> Image.Image:
    """A wall of one colour (with a little noise) and a dark window."""
    img = Image.new("RGB", (SIZE, SIZE), wall)
    pixels = img.load()
    for x in range(SIZE):
        for y in range(SIZE):
            r, g, b = pixels[x, y]
            d = rng.randint(-12, 12)
            pixels[x, y] = (max(0, min(255, r + d)), max(0, min(255, g + d)), max(0, min(255, b + d)))
    left, top = rng.randint(4, 14), rng.randint(4, 14)
    ImageDraw.Draw(img).rectangle([left, top, left + 10, top + 10], fill=(30, 40, 50))
    return img


def row(i: int, rng: random.Random) -> dict:
    kind = "house" if rng.random() < 0.45 else "flat"
    wall = rng.choice(list(WALLS))
    district = rng.choice(list(DISTRICTS))
    sqm = rng.randint(60, 180) if kind == "house" else rng.randint(25, 110)
    rooms = max(1, min(7, round(sqm / 25 + rng.uniform(-0.6, 0.6))))
    price = 50 + 2.0 * sqm + 8 * rooms + DISTRICTS[district] + WALLS[wall][1] + rng.gauss(0, 8)
    name = f"photos/{i:03d}.png"
    photo(WALLS[wall][0], rng).save(os.path.join(HERE, name), optimize=True)
    return {"photo": name, "description": rng.choice(WORDS[kind]) + rng.choice(EXTRAS), "sqm": sqm,
            "rooms": rooms, "district": district, "price": round(price, 1), "kind": kind}


def main() -> None:
    rng = random.Random(25)
    os.makedirs(os.path.join(HERE, "photos"), exist_ok=True)
    rows = [row(i, rng) for i in range(ROWS)]
    with open(os.path.join(HERE, "listings.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


if __name__ == "__main__":
    main()
