"""Shared pieces of the benchmarks: medians of interleaved, shuffled repeats; the model, the photos, the peers."""

from __future__ import annotations

import importlib.metadata
import random
import statistics
import time
from collections.abc import Callable

import torch

from cam_helpers.classifier import Classifier
from cam_helpers.images import SAMPLES, load_sample, preprocess
from cam_helpers.models import load_classifier
from cam_helpers.weights import WeightsUnavailableError


def resnet18_for_timing(device: torch.device) -> tuple[Classifier, str]:
    """ResNet18 with ImageNet weights when they are cached, else seeded random weights (the time is the same)."""
    try:
        return load_classifier("resnet18", device=device), "torchvision's ImageNet weights"
    except WeightsUnavailableError:
        torch.manual_seed(0)
        return load_classifier("resnet18", pretrained=False, device=device), (
            "random weights (ImageNet weights not in the cache; the time does not depend on the weights)"
        )


def sample_batch(classifier: Classifier, batch_size: int, device: torch.device) -> torch.Tensor:
    """(B, 3, H, W): the bundled sample photos in turn, preprocessed for ``classifier``, on ``device``."""
    names = list(SAMPLES)
    pictures = [load_sample(names[i % len(names)]) for i in range(batch_size)]
    return preprocess(pictures, classifier.transform).to(device)


def installed_peers(peers: dict[str, tuple[str, str, object]], extra: str) -> dict[str, tuple[object, str]]:
    """The peer libraries that import here: name -> (factory, version); says which are skipped and why.

    ``peers``: name -> (module to import, distribution name, factory); ``extra``: the pyproject extra with them.
    """
    available = {}
    for peer, (module_name, distribution, factory) in peers.items():
        try:
            __import__(module_name)
            available[peer] = (factory, importlib.metadata.version(distribution))
        except ImportError as error:
            print(f"skipped {peer}: not installed ({error}); pip install -e '.[{extra}]' to compare")
    print("peers: " + (", ".join(f"{p} {v}" for p, (_, v) in available.items()) or "none installed"))
    return available


def synchronize(device: torch.device | None) -> None:
    """Wait for queued CUDA work, so a timer measures the work and not its launch."""
    if device is not None and device.type == "cuda":
        torch.cuda.synchronize(device)


def median_ms(
    actions: dict[str, Callable[[], object]], repeats: int, warmup: int, device: torch.device | None = None
) -> dict[str, float]:
    """Median wall time in ms of each action, the actions taking turns (shuffled) within each repeat."""
    for _ in range(warmup):
        for action in actions.values():
            action()
    synchronize(device)
    times: dict[str, list[float]] = {name: [] for name in actions}
    order = list(actions)
    shuffle = random.Random(0).shuffle
    for _ in range(repeats):
        shuffle(order)  # a new order each round: no method always runs first or after a heavy one
        for name in order:
            action = actions[name]
            start = time.perf_counter()
            action()
            synchronize(device)
            times[name].append((time.perf_counter() - start) * 1000)
    return {name: statistics.median(values) for name, values in times.items()}
