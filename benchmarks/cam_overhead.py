#!/usr/bin/env python3
"""What CAM costs on top of the forward pass it needs anyway.

    .venv/bin/python benchmarks/cam_overhead.py [--repeats 30] [--batch-sizes 1 16] [--device cpu]

ResNet18 at 224x224. For each batch size it times, as the median of --repeats
runs after a warm-up (time.perf_counter):

* a plain forward pass (torch.inference_mode),
* forward + the CAMs of all 1000 classes (forward_with_features + all_class_maps),
* forward + the top-5 CAMs, upsampled to 224x224 and min-max normalised,

and prints each time with its ratio to the plain forward pass of the same run.
The variants are timed in turn, in a shuffled order, within each repeat, so
a busy machine slows them alike. Target: all-class CAM <= 1.05x forward.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("CAM_HELPERS_OFFLINE", "1")

import torch  # noqa: E402

from timing import median_ms  # noqa: E402
from cam_helpers.cam import all_class_maps, class_activation_maps, normalize_maps, upsample_maps  # noqa: E402
from cam_helpers.explain import forward_with_features  # noqa: E402
from cam_helpers.models import load_classifier  # noqa: E402

TARGET_ALL_CLASSES = 1.05






def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)), help="default: the machine's cores")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    device = torch.device(args.device)
    torch.manual_seed(0)
    classifier = load_classifier("resnet18", pretrained=False, device=device)
    model = classifier.model
    fc_weight = classifier.fc.weight.detach()  # (1000, 512)
    print(f"torch {torch.__version__}, device {device}, torch threads: {torch.get_num_threads()}")
    print(
        "model: ResNet18 with random weights (the time does not depend on the weights: "
        "the same operations run on the same shapes)"
    )
    print(f"input {args.size}x{args.size}; median of {args.repeats} repeats after {args.warmup} warm-up rounds\n")

    failures = []
    for batch_size in args.batch_sizes:
        images = torch.randn(batch_size, 3, args.size, args.size, device=device)

        def forward():
            with torch.inference_mode():
                return model(images)  # (B, 1000)

        def all_classes():
            with torch.inference_mode():
                logits, features = forward_with_features(classifier, images)  # (B, 1000), (B, 512, 7, 7)
                return all_class_maps(features, fc_weight)  # (B, 1000, 7, 7)

        def top5_overlays():
            with torch.inference_mode():
                logits, features = forward_with_features(classifier, images)
                top = logits.topk(5, dim=-1).indices  # (B, 5)
                maps = class_activation_maps(features, fc_weight, top)  # (B, 5, 7, 7)
                return normalize_maps(upsample_maps(maps, args.size))  # (B, 5, 224, 224)

        with torch.inference_mode():  # the shapes, for the printout
            maps_shape = tuple(all_classes().shape)
        times = median_ms(
            {"forward": forward, "all": all_classes, "top5": top5_overlays}, args.repeats, args.warmup, device
        )
        base = times["forward"]
        lines = [
            ("forward pass (inference_mode)", base, ""),
            (f"forward + CAM of all 1000 classes {maps_shape}", times["all"], f"  (target <= {TARGET_ALL_CLASSES:.2f}x)"),
            ("forward + top-5 CAMs upsampled, normalised", times["top5"], ""),
        ]
        print(f"batch {batch_size}:")
        for label, ms, note in lines:
            print(f"  {label:<52} {ms:8.2f} ms  {ms / base:5.2f}x{note}")
        if times["all"] / base > TARGET_ALL_CLASSES:
            failures.append(f"batch {batch_size}: all-class CAM {times['all'] / base:.2f}x forward")
    print()
    print("target met" if not failures else "target missed: " + "; ".join(failures))


if __name__ == "__main__":
    main()
