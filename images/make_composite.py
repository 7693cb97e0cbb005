"""Build ``cat_and_coffee.jpg``: the cat and the espresso cup side by side.

A two-object photo is the classic CAM demo: the "tabby cat" map and the
"espresso" map should light up different halves of the same image.

The composite is square (448x448), so that a model's usual preprocessing
(resize the short side, centre-crop a square) keeps both objects: each photo is
centre-cropped to a square, resized to 224x224, and placed in the middle band,
the cat on the left and the cup on the right, on a light grey canvas.

Reproducible, PIL only. Run from anywhere::

    python images/make_composite.py
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageOps

HERE = Path(__file__).resolve().parent
SIDE = 224  # each photo's side in the composite
BACKGROUND = (235, 235, 235)


def _square(img: Image.Image, side: int) -> Image.Image:
    """Centre-crop ``img`` to a square and resize it to side x side."""
    return ImageOps.fit(img.convert("RGB"), (side, side), Image.Resampling.LANCZOS)


def make_composite(out: Path = HERE / "cat_and_coffee.jpg") -> Path:
    """Write the composite to ``out`` and return its path."""
    with Image.open(HERE / "cat.png") as cat_file, Image.open(HERE / "coffee.jpg") as cup_file:
        cat = _square(cat_file, SIDE)
        cup = _square(cup_file, SIDE)
    canvas = Image.new("RGB", (2 * SIDE, 2 * SIDE), BACKGROUND)
    canvas.paste(cat, (0, SIDE // 2))
    canvas.paste(cup, (SIDE, SIDE // 2))
    canvas.save(out, quality=92)
    return out


if __name__ == "__main__":
    path = make_composite()
    with Image.open(path) as done:
        print(f"wrote {path} ({done.width}x{done.height})")
