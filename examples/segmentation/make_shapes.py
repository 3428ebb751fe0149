"""Make the shapes segmentation data set: a folder in, OUT/images/*.png and OUT/masks/*.png out.

Each image is SIZE x SIZE RGB: a noisy background of a random grey, and one or two filled circles
and squares of random colours, sizes and places (a later shape covers an earlier one). Its mask, of
the same file name, is a greyscale PNG holding each pixel's class: 0 background, 1 circle, 2 square.
The colours say nothing about the class: only the outline tells a circle from a square.
Seeded: the same arguments give the same files, byte for byte.

    python examples/segmentation/make_shapes.py examples/segmentation/shapes --count 200 --size 32 --seed 0
"""
import argparse
import os

import numpy as np
from PIL import Image

CLASSES = ("background", "circle", "square")


def draw(rng: np.random.Generator, size: int) -> tuple:
    """One (image uint8 [size, size, 3], mask uint8 [size, size])."""
    grey = rng.uniform(40, 215)
    image = np.clip(grey + rng.normal(0, 20, (size, size, 1)), 0, 255).repeat(3, axis=2)  # grey noise
    mask = np.zeros((size, size), dtype=np.uint8)
    rows, cols = np.mgrid[0:size, 0:size]
    for _ in range(rng.integers(1, 3)):
        kind = int(rng.integers(1, 3))
        half = rng.uniform(size * 0.18, size * 0.3)
        cy, cx = rng.uniform(half, size - half, 2)
        if kind == 1:
            inside = (rows - cy) ** 2 + (cols - cx) ** 2 <= half ** 2
        else:
            inside = (np.abs(rows - cy) <= half * 0.9) & (np.abs(cols - cx) <= half * 0.9)  # about a circle's area
        colour = rng.uniform(0, 255, 3)
        while np.abs(colour.mean() - grey) < 50:  # stands out from the background
            colour = rng.uniform(0, 255, 3)
        image[inside] = np.clip(colour + rng.normal(0, 10, (int(inside.sum()), 1)), 0, 255)
        mask[inside] = kind
    return image.astype(np.uint8), mask


def make_shapes(out: str, count: int = 200, size: int = 32, seed: int = 0) -> None:
    """Write `count` image/mask pairs under out/images and out/masks."""
    rng = np.random.default_rng(seed)
    for folder in ("images", "masks"):
        os.makedirs(os.path.join(out, folder), exist_ok=True)
    for i in range(count):
        image, mask = draw(rng, size)
        name = f"shape_{i:04d}.png"
        Image.fromarray(image, "RGB").save(os.path.join(out, "images", name), optimize=True)
        Image.fromarray(mask, "L").save(os.path.join(out, "masks", name), optimize=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", nargs="?", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "shapes"))
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    make_shapes(args.out, args.count, args.size, args.seed)
    print(f"wrote {args.count} images and masks under {args.out}")


if __name__ == "__main__":
    main()
