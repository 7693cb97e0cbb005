"""Shared timing for the benchmarks: medians of interleaved, shuffled repeats."""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable

import torch


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
