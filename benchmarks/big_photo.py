#!/usr/bin/env python3
"""Time and peak memory to explain one 48-megapixel JPEG (8000x6000), as a phone photo would be.

    .venv/bin/python benchmarks/big_photo.py [--width 8000 --height 6000] [--repeats 3]

The photo is the bundled espresso cup scaled up (real photo content, so the JPEG
decodes like a real one); it is written once to a temporary folder. The
measurement runs in a fresh Python process. Memory is the growth of the
process's peak resident memory (``resource.getrusage``): once for loading the
big photo right after loading a small one, and once for explain() after a
warm-up explain() of the small photo. The small sample is timed in the same run, so the extra time of the big
photo (decoding and resizing) stands apart from the model's forward pass, which
a busy machine slows down. Target (issue 12): <= 0.3 s and <= 150 MB extra on a
2-core CPU.
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
from cam_helpers.images import preprocess, sample_path
from cam_helpers.models import load_classifier

classifier = load_classifier("efficientnet_lite0")
small = sample_path("coffee")  # 600x400: the same picture, small
preprocess(small, classifier.transform)  # warm-up of the loading path
start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # MB (Linux reports KB)
preprocess({path!r}, classifier.transform)
loading_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - start
explain(classifier, small)  # warm-up: model, allocator, imports


def run(path):
    wall, cpu = time.perf_counter(), time.process_time()
    result = explain(classifier, path)
    return time.perf_counter() - wall, time.process_time() - cpu, result


def load(path):  # decoding and resizing only: the part a big photo adds
    wall, cpu = time.perf_counter(), time.process_time()
    preprocess(path, classifier.transform)
    return time.perf_counter() - wall, time.process_time() - cpu


small_runs = [run(small)[:2] for _ in range({repeats})]
small_loads = [load(small) for _ in range({repeats})]
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # MB (Linux reports KB)
big_runs = []
for _ in range({repeats}):
    wall, cpu, result = run({path!r})
    big_runs.append((wall, cpu))
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
big_loads = [load({path!r}) for _ in range({repeats})]
name, probability = result.top(1)[0]
small_wall, small_cpu = (statistics.median(r[i] for r in small_runs) for i in (0, 1))
big_wall, big_cpu = (statistics.median(r[i] for r in big_runs) for i in (0, 1))
print(f"explain() of the {width}x{height} JPEG: wall {{big_wall:.3f}} s, CPU {{big_cpu:.3f}} s (median of {repeats})")
print(f"explain() of the 600x400 sample:     wall {{small_wall:.3f}} s, CPU {{small_cpu:.3f}} s")
print(f"extra for the big photo:             wall {{big_wall - small_wall:+.3f}} s, CPU {{big_cpu - small_cpu:+.3f}} s;"
      f" peak memory +{{after - before:.0f}} MB")
for label, runs in (("big photo", big_loads), ("600x400 sample", small_loads)):
    print(f"preprocess() alone, {{label:<15s}} wall {{statistics.median(r[0] for r in runs):.3f}} s, "
          f"CPU {{statistics.median(r[1] for r in runs):.3f}} s")
print(f"peak memory of preprocess() of the big photo, before any model run: +{{loading_peak:.0f}} MB")
print(f"top-1 on the big photo: {{name}} ({{probability:.1%}})")
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
