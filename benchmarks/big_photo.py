#!/usr/bin/env python3
"""Time and peak memory to explain one 48-megapixel JPEG (8000x6000), as a phone photo would be.

    .venv/bin/python benchmarks/big_photo.py [--width 8000 --height 6000] [--repeats 3]

The photo is the bundled espresso cup scaled up (real photo content, so the JPEG
decodes like a real one); it is written once to a temporary folder. The
measurement runs in a fresh Python process: the offline model is loaded and
warmed up on a small image first, so "extra memory" is the growth of the
process's peak resident memory (``resource.getrusage``) caused by the big photo
alone. Target (issue 12): <= 0.3 s and <= 150 MB extra on a 2-core CPU.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

MEASURE = r"""
import os, resource, statistics, sys, time
sys.path.insert(0, {root!r})
os.environ.setdefault("CAM_HELPERS_OFFLINE", "1")
import torch
from cam_helpers.explain import explain
from cam_helpers.images import sample_path
from cam_helpers.models import load_classifier

torch.set_grad_enabled(True)
classifier = load_classifier("efficientnet_lite0")
explain(classifier, sample_path("coffee"))  # warm-up: model, allocator, imports
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # MB (Linux: KB)
times = []
for _ in range({repeats}):
    start = time.perf_counter()
    result = explain(classifier, {path!r})
    times.append(time.perf_counter() - start)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
name, probability = result.top(1)[0]
print(f"explain() of a {width}x{height} JPEG: median {{statistics.median(times):.3f}} s "
      f"(runs: {{', '.join(f'{{t:.3f}}' for t in times)}}); peak memory +{{after - before:.0f}} MB; "
      f"top-1 {{name}} ({{probability:.1%}})")
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--width", type=int, default=8000)
    parser.add_argument("--height", type=int, default=6000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from PIL import Image

    path = Path(tempfile.gettempdir()) / f"cam_big_photo_{args.width}x{args.height}.jpg"
    if not path.exists():
        sys.path.insert(0, str(ROOT))
        from cam_helpers.images import load_sample

        load_sample("coffee").resize((args.width, args.height), Image.Resampling.BILINEAR).save(path, quality=90)
    print(f"photo: {path} ({path.stat().st_size / 1e6:.1f} MB on disk, {args.width * args.height / 1e6:.0f} MP)")
    code = MEASURE.format(root=str(ROOT), path=str(path), repeats=args.repeats, width=args.width, height=args.height)
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})


if __name__ == "__main__":
    main()
