"""Train specs/vae_digits.dlspec (seeded) and draw decoded samples into docs/vae_samples.png.

Latents drawn from N(0, 1) go through the model's `decoder` (the labelled part of the spec), and the
sigmoid of its logits is each pixel's grey level: 8 rows of 8 digits, each 8x8 pixel scaled up 4 times.
Run from the repository root: python examples/vae/samples.py [--epochs N] [--out docs/vae_samples.png]
"""
import argparse
import pathlib
import tempfile

import torch
from PIL import Image

import dlspec

ROOT = pathlib.Path(__file__).resolve().parents[2]
SPEC = ROOT / "specs" / "vae_digits.dlspec"


def decoded_samples(model, latent: int, count: int = 64, seed: int = 0) -> torch.Tensor:
    """[count, 8, 8] grey levels in [0, 1] decoded from seeded N(0, 1) latents."""
    generator = torch.Generator().manual_seed(seed)
    z = torch.randn(count, latent, generator=generator)
    with torch.no_grad():
        return torch.sigmoid(model.decoder(z)).reshape(count, 8, 8)


def grid_image(images: torch.Tensor, per_row: int = 8, scale: int = 4, gap: int = 1) -> Image.Image:
    """The images side by side on a black background, each pixel `scale` times larger."""
    rows = (len(images) + per_row - 1) // per_row
    side = 8 * scale
    canvas = torch.zeros(rows * (side + gap) + gap, per_row * (side + gap) + gap)
    for k, image in enumerate(images):
        r, c = divmod(k, per_row)
        big = image.repeat_interleave(scale, 0).repeat_interleave(scale, 1)
        canvas[gap + r * (side + gap):gap + r * (side + gap) + side, gap + c * (side + gap):gap + c * (side + gap) + side] = big
    return Image.fromarray((canvas.clamp(0, 1) * 255).round().byte().numpy(), mode="L")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=None, help="default: the spec's")
    parser.add_argument("--out", default=str(ROOT / "docs" / "vae_samples.png"))
    args = parser.parse_args()
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as runs:
        run = dlspec.fit(SPEC, out=str(pathlib.Path(runs) / "vae"), epochs=args.epochs, device="cpu",
                         progress=False)
    model = run.model.eval()
    latent = model.decoder[0].in_features
    grid_image(decoded_samples(model, latent)).save(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
