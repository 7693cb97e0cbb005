#!/usr/bin/env python3
"""Draw the README's gallery figure with the project's own code, from the bundled photos.

    .venv/bin/python tools/make_gallery.py            # writes images/gallery.png
    .venv/bin/python tools/make_gallery.py --out x.png

Row 1: the composite photo, then the CAM overlays of its cat class and of "espresso".
Row 2: the cat class at four stages of the network (Grad-CAM, then exact CAM at the last
layer), each labelled with its resolution. Always made with the offline model, so the
figure is the same on every machine; tests/test_gallery.py checks it is current.
Drawn with PIL only (no fonts from the system), so the pixels do not depend on matplotlib.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("CAM_HELPERS_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

TILE = 224
LABEL = 18  # pixels under each tile for its label
OUT = ROOT / "images" / "gallery.png"


def tile(picture: np.ndarray, label: str) -> Image.Image:
    """(H, W, 3) floats in [0, 1] -> a labelled PIL tile."""
    canvas = Image.new("RGB", (TILE, TILE + LABEL), (255, 255, 255))
    canvas.paste(Image.fromarray((picture * 255).round().astype(np.uint8)), (0, 0))
    ImageDraw.Draw(canvas).text((4, TILE + 3), label, fill=(0, 0, 0))
    return canvas


def make_gallery(out: Path = OUT) -> Path:
    from cam_helpers.explain import explain
    from cam_helpers.gradcam import grad_cam
    from cam_helpers.images import sample_path
    from cam_helpers.models import load_classifier
    from cam_helpers.viz import overlay

    torch.manual_seed(0)
    classifier = load_classifier("efficientnet_lite0")
    top = explain(classifier, sample_path("cat_and_coffee"), top_k=10)
    cat_class = next(int(c) for c in top.classes[0] if 281 <= int(c) <= 285)
    result = explain(classifier, top.inputs, classes=[cat_class, "espresso"], relu=True)
    picture = result.display_images[0].permute(1, 2, 0).numpy()  # (224, 224, 3)

    row1 = [tile(picture, "cat_and_coffee.jpg")]
    for i, name in enumerate(result.class_names[0]):
        prob = float(result.scores[0, i])
        row1.append(tile(overlay(picture, result.maps[0, i]), f"CAM: {name} ({prob:.0%})"))
    row2 = []
    stages = ["_blocks.4", "_blocks.10", "_blocks.15", classifier.feature_layer]
    for layer in stages:
        cam = grad_cam(classifier, result.inputs, layer, classes=[cat_class])  # one forward, one backward
        h, w = cam.maps.shape[-2:]
        method = "CAM" if layer == classifier.feature_layer else "Grad-CAM"
        row2.append(tile(overlay(picture, cam.upsampled()[0, 0]), f"{method} {layer} {h}x{w}"))

    width = TILE * 4
    figure = Image.new("RGB", (width, 2 * (TILE + LABEL)), (255, 255, 255))
    offset = (width - 3 * TILE) // 2
    for i, t in enumerate(row1):
        figure.paste(t, (offset + i * TILE, 0))
    for i, t in enumerate(row2):
        figure.paste(t, (i * TILE, TILE + LABEL))
    figure.save(out, optimize=True)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(OUT))
    args = parser.parse_args(argv)
    print(f"wrote {make_gallery(Path(args.out))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
