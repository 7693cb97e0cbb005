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
    from cam_helpers.cam import class_activation_maps, upsample_and_normalize
    from cam_helpers.gradcam import forward_for_gradcam, grad_cam_from_features
    from cam_helpers.images import load_sample
    from cam_helpers.models import load_classifier
    from cam_helpers.viz import overlay

    torch.manual_seed(0)
    classifier = load_classifier("efficientnet_lite0")
    batch = classifier.transform(load_sample("cat_and_coffee")).unsqueeze(0)  # (1, 3, 224, 224)
    stages = ["_blocks.4", "_blocks.10", "_blocks.15", classifier.feature_layer]
    # One forward pass serves every map below: both CAMs and the four stages.
    logits, stage_features = forward_for_gradcam(classifier, batch, stages)  # (1, 1000), {layer: (1, C, h, w)}
    probabilities = logits.detach().softmax(-1)[0]  # (1000,)
    top10 = probabilities.topk(10).indices.tolist()
    cat_class = next(c for c in top10 if 281 <= c <= 285)
    classes = [cat_class, classifier.class_index("espresso")]
    picture = classifier.to_display(batch)[0].permute(1, 2, 0).numpy()  # (224, 224, 3)

    features = stage_features[classifier.feature_layer].detach()  # (1, 1280, 7, 7)
    cams = class_activation_maps(features, classifier.fc.weight.detach(), classes, relu=True)  # (1, 2, 7, 7)
    cams = upsample_and_normalize(cams, 224)  # (1, 2, 224, 224)
    row1 = [tile(picture, "cat_and_coffee.jpg")]
    for i, c in enumerate(classes):
        label = f"CAM: {classifier.class_names[c]} ({float(probabilities[c]):.0%})"
        row1.append(tile(overlay(picture, cams[0, i]), label))
    row2 = []
    with torch.enable_grad():
        cat_score = logits[:, [cat_class]]  # (1, 1)
        for layer in stages:
            maps = grad_cam_from_features(stage_features[layer], cat_score)  # (1, 1, h, w): one backward
            h, w = maps.shape[-2:]
            method = "CAM" if layer == classifier.feature_layer else "Grad-CAM"
            row2.append(tile(overlay(picture, upsample_and_normalize(maps, 224)[0, 0]), f"{method} {layer} {h}x{w}"))

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
