"""The Python API end to end: load a spec, inspect it, train, evaluate, predict, export.

Run from the repository root:  python examples/quickstart.py [--epochs N]
"""
import argparse
import os
import tempfile

import dlspec

HERE = os.path.dirname(os.path.abspath(__file__))
SPEC = os.path.join(HERE, "..", "specs", "digits.dlspec")


def main(epochs: int) -> dict:
    spec = dlspec.load(SPEC)
    print("models:", spec.model_names)
    plan = spec.plan("DigitsCNN")                      # shapes, before any weight exists
    print("input", plan.in_shape, "-> output", plan.out_shape)
    model = spec.build("DigitsCNN")                    # a plain torch.nn.Module
    print(f"{sum(p.numel() for p in model.parameters()):,} parameters")

    out = os.path.join(tempfile.mkdtemp(), "run")
    run = dlspec.fit(spec, epochs=epochs, out=out)     # the spec's train block
    print("test:", run.results["test"])
    print("evaluate again:", dlspec.evaluate(out))

    from PIL import Image
    from sklearn.datasets import load_digits
    image = os.path.join(out, "three.png")
    Image.fromarray((load_digits().images[3] / 16 * 255).astype("uint8")).save(image)
    print("predict:", dlspec.predict(out, [image], top=3)[0])
    print("exported:", dlspec.export(out, "python"))
    return run.results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=None)
    main(parser.parse_args().epochs)
