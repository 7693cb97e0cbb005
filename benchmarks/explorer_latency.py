#!/usr/bin/env python3
"""How long the explorer takes from a widget change to the new picture (compute + render).

    .venv/bin/python benchmarks/explorer_latency.py [--model efficientnet_lite0] [--repeats 30]

Measures, on the CPU with a 224x224 input: a class change at the CAM layer, a
first visit to each layer (one backward for the shown class only), a class
change at a Grad-CAM layer (first time for that class: one backward; then
cached), an image change (one forward pass), and a plain forward pass for
reference. Targets: a class change <= 100 ms with no model run; a first visit
of any layer <= about 2x a forward pass. Ratios to the forward pass measured
in the same run are what matter on a busy machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("CAM_HELPERS_OFFLINE", "1")

import torch  # noqa: E402

from cam_helpers.models import load_classifier  # noqa: E402
from cam_helpers.widgets import CAMExplorer  # noqa: E402
from timing import synchronize  # noqa: E402

DEVICE = torch.device("cpu")  # set by --device


def timed(action) -> float:
    synchronize(DEVICE)
    start = time.perf_counter()
    action()
    synchronize(DEVICE)  # on CUDA: wait for the queued work, so the timer measures it
    return (time.perf_counter() - start) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="resnet18", help="resnet18 (random weights offline: same cost) or efficientnet_lite0")
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    args = parser.parse_args()
    global DEVICE
    DEVICE = torch.device(args.device)
    pretrained = args.model != "resnet18"
    classifier = load_classifier(args.model, pretrained=pretrained, device=DEVICE)
    print(f"model: {classifier.description}; torch threads: {torch.get_num_threads()}")

    explorer = CAMExplorer(classifier, images={"cat_and_coffee": "cat_and_coffee", "coffee": "coffee"})
    batch = explorer._cache["batch"]
    with torch.inference_mode():
        for _ in range(3):
            classifier.model(batch)
        forward = statistics.median(timed(lambda: classifier.model(batch)) for _ in range(args.repeats))
    classes = [v for _, v in explorer.class_picker.options]
    runs_before = explorer.forward_passes

    def class_changes() -> float:
        times = []
        for i in range(args.repeats):
            target = classes[(i % (len(classes) - 1)) + 1] if explorer.class_picker.value == classes[0] else classes[0]
            times.append(timed(lambda: setattr(explorer.class_picker, "value", target)))
        return statistics.median(times)

    cam_class = class_changes()
    layer_first = {}
    for layer in explorer.layers[:-1]:
        layer_first[layer] = timed(lambda: setattr(explorer.layer_picker, "value", layer))
    # At the last visited Grad-CAM layer: each class once (one backward each), then cached.
    backward_before = explorer.backward_passes
    new_class = statistics.median(
        timed(lambda: setattr(explorer.class_picker, "value", c)) for c in classes if c != explorer.class_picker.value
    )
    new_class_backwards = explorer.backward_passes - backward_before
    gradcam_class = class_changes()
    explorer.layer_picker.value = classifier.feature_layer
    image_change = timed(lambda: setattr(explorer.image_picker, "value", "coffee"))
    assert explorer.forward_passes == runs_before + 1, "a class or layer change ran the model"

    print(f"plain forward pass (batch 1, 224x224):     {forward:7.1f} ms  (1.00x)")
    print(f"class change at the CAM layer:             {cam_class:7.1f} ms  ({cam_class / forward:.2f}x forward)  target <= 100 ms")
    print(f"class change at a Grad-CAM layer, new class: {new_class:5.1f} ms  ({new_class / forward:.2f}x forward; "
          f"{new_class_backwards} backwards for {len(classes) - 1} classes)")
    print(f"class change at a Grad-CAM layer (cached): {gradcam_class:7.1f} ms  ({gradcam_class / forward:.2f}x forward)")
    for layer, ms in layer_first.items():
        print(f"first visit of layer {layer:<20s} {ms:7.1f} ms  ({ms / forward:.2f}x forward; one backward, the shown class)")
    print(f"image change (one forward, all stages):    {image_change:7.1f} ms  ({image_change / forward:.2f}x forward)")
    print(f"model runs during {2 * args.repeats} class changes and {len(layer_first)} layer changes: 0")


if __name__ == "__main__":
    main()
