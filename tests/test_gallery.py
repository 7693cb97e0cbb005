"""The README's gallery figure is current: regenerating it gives the same pixels."""

import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import make_gallery  # noqa: E402


def test_gallery_is_current(tmp_path):
    fresh = make_gallery.make_gallery(tmp_path / "gallery.png")
    committed = np.asarray(Image.open(ROOT / "images" / "gallery.png").convert("RGB"), dtype=np.int16)
    regenerated = np.asarray(Image.open(fresh).convert("RGB"), dtype=np.int16)
    assert committed.shape == regenerated.shape, "regenerate with: python tools/make_gallery.py"
    difference = np.abs(committed - regenerated)
    # Tolerance for float noise across CPUs; a changed figure differs far more.
    assert difference.mean() < 1.0 and (difference > 16).mean() < 0.005, (
        f"images/gallery.png is out of date (mean difference {difference.mean():.2f}); "
        "regenerate it with: python tools/make_gallery.py"
    )


def test_readme_shows_the_gallery():
    assert "images/gallery.png" in (ROOT / "README.md").read_text()
