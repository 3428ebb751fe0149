"""Tiny runs of four data kinds (image folder, text (lstm, gru), table, series) for the predict and export tests.

Each trains one epoch on data made here (no ../shared), in a second or two.
"""
import random

import dlspec


def make_images(root, per_class=6, size=12):
    """Two classes of small RGB PNGs (bright and dark squares) in class folders."""
    from PIL import Image
    rng = random.Random(0)
    for cls, level in (("bright", 200), ("dark", 40)):
        (root / cls).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            pixels = [tuple(max(0, min(255, level + rng.randint(-30, 30))) for _ in range(3))
                      for _ in range(size * size)]
            image = Image.new("RGB", (size, size))
            image.putdata(pixels)
            image.save(root / cls / f"{i}.png")
    return root


def make_sentences(path):
    words = ["good", "great", "fine", "bad", "awful", "poor", "film", "plot", "very", "not", "acting", "story"]
    path.write_text("".join(f"{' '.join(words[(i * 7 + k) % 12] for k in range(3 + i % 5))}\t{i % 2}\n"
                            for i in range(120)))
    return path


def make_table(path, rows=160):
    """Houses: size (some cells missing), city (a category, some missing), rooms; price written as
    whole numbers like 151.0."""
    rng = random.Random(1)
    lines = ["size,city,rooms,price"]
    for i in range(rows):
        size, city, rooms = rng.uniform(30, 150), rng.choice(["paris", "lyon", "nice"]), rng.randint(1, 5)
        price = round(100 + size + {"paris": 50, "lyon": 20, "nice": 30}[city] + 5 * rooms)
        lines.append(f"{'' if i % 17 == 0 else f'{size:.1f}'},{'' if i % 13 == 0 else city},{rooms},{price}.0")
    path.write_text("\n".join(lines) + "\n")
    return path


SPECS = {
    "image": """
model Net { input image(3, 8, 8); flatten -> linear(2) }
data d { source image_folder("images"); split train=0.75 val=0.25; batch 4
         transform { resize(10) -> center_crop(8) -> normalize(auto) } }
train { optimizer adam(lr=0.01); epochs 1 }
""",
    "text": """
model Net { input tokens(10); embedding(8) -> lstm(6) -> hidden; linear(2) }
data d { source text("sentences.tsv", max_len=10) }
train { epochs 1 }
""",
    "text_gru": """
model Net { input tokens(10); embedding(8) -> gru(6, layers=2, bidirectional=true) -> mean_time; linear(2) }
data d { source text("sentences.tsv", max_len=10) }
train { epochs 1 }
""",
    "table": """
model Net { input vector(auto); linear(8) -> relu -> linear(1) }
data d { source csv("houses.csv", target="price", missing=median); split train=0.8 test=0.2; scale standard
         transform { normalize(auto) } }
train { loss mse; optimizer adam(lr=0.02); epochs 1 }
""",
    "categories": """
model Net { input vector(auto); linear(8) -> relu -> linear(1) }
data d { source csv("houses.csv", target="price", missing=median, onehot_max=2, embedding_dim=3)
         split train=0.8 test=0.2; scale standard; transform { normalize(auto) } }
train { loss mse; optimizer adam(lr=0.02); epochs 1 }
""",
    "series": """
model Net { input sequence(10, 1); flatten -> linear(1) }
data d { source sine(length=120, window=10); scale standard }
train { loss mse; epochs 1 }
""",
}


def make_run(base, kind):
    """Train the `kind` run in `base` (its data made there); returns the run directory."""
    if kind == "image":
        make_images(base / "images")
    elif kind in ("text", "text_gru"):
        make_sentences(base / "sentences.tsv")
    elif kind in ("table", "categories"):
        make_table(base / "houses.csv")
    (base / f"{kind}.dlspec").write_text(SPECS[kind])
    dlspec.fit(base / f"{kind}.dlspec", out=str(base / kind), log=lambda *a: None, progress=False)
    return base / kind
