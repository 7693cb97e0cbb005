#!/usr/bin/env python3
"""Does a seeded training depend on the CPU thread count, and what do the fixed threads and the cache cost?

    .venv/bin/python benchmarks/train_threads.py [--threads 1 2 4] [--epochs 6]
    taskset -c 0 .venv/bin/python benchmarks/train_threads.py      # the same on one core

Notebook 08's training: GAPNet(4, channels=(8, 16, 32, 64), seed=0) on make_splits(0, 1500, 250),
6 epochs, batch 64, lr 3e-3, seed 0; the test accuracy on its 150 test images.

1. ``TRAINING_THREADS`` set to each count in turn (what training did before the count was fixed,
   with ``torch.set_num_threads(n)``): a hash of the trained weights, the test accuracy, the time and
   its ratio to the fixed count's time.
2. The fixed count, under each ``torch.set_num_threads``: the weights must not change.
3. The cache (a temporary folder): the first call (training + key + save), the second call
   (key + load), and their ratio; the loaded weights compared with the trained ones.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("CAM_HELPERS_OFFLINE", "1")

import torch  # noqa: E402

from cam_helpers import train as training  # noqa: E402
from cam_helpers.synthetic import make_splits  # noqa: E402


def weights_hash(model: torch.nn.Module) -> str:
    digest = hashlib.sha256()
    for tensor in model.state_dict().values():
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:12]


def run(train, test, epochs: int, cache: bool = False) -> tuple[torch.nn.Module, float, str]:
    """(trained model, wall seconds of train_model, printed text)."""
    model = training.GAPNet(4, channels=(8, 16, 32, 64), seed=0)
    printed = io.StringIO()
    start = time.perf_counter()
    with contextlib.redirect_stdout(printed):
        training.train_model(
            model, train, epochs=epochs, batch_size=64, lr=3e-3, seed=0, progress=False, cache=cache
        )
    return model, time.perf_counter() - start, printed.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--epochs", type=int, default=6)
    args = parser.parse_args()
    train, held_out = make_splits(0, num_train=1500, num_test=250)
    test = held_out.subset(slice(100, 250))
    fixed = training.TRAINING_THREADS
    print(f"torch {torch.__version__}, CPU {torch.backends.cpu.get_cpu_capability()}, "
          f"{os.cpu_count()} CPUs ({len(os.sched_getaffinity(0))} usable), load {os.getloadavg()[0]:.2f}")

    print(f"\n1. training with n threads (the result before TRAINING_THREADS = {fixed} was fixed)")
    results = {}
    for n in [fixed] + [n for n in args.threads if n != fixed]:
        training.TRAINING_THREADS = n
        model, seconds, _ = run(train, test, args.epochs)
        results[n] = seconds
        print(f"  {n} threads: weights {weights_hash(model)}, "
              f"test accuracy {training.accuracy(model, test):.3f}, "
              f"{seconds:.1f} s = {seconds / results[fixed]:.2f}x the {fixed}-thread time")
    training.TRAINING_THREADS = fixed

    print(f"\n2. TRAINING_THREADS = {fixed}, under torch.set_num_threads(n)")
    before = torch.get_num_threads()
    for n in args.threads:
        torch.set_num_threads(n)
        model, seconds, _ = run(train, test, args.epochs)
        print(f"  set_num_threads({n}): weights {weights_hash(model)}, {seconds:.1f} s; "
              f"threads after the call: {torch.get_num_threads()}")
    torch.set_num_threads(before)

    print("\n3. the trained-weights cache (a temporary folder)")
    with tempfile.TemporaryDirectory() as folder:
        os.environ["CAM_HELPERS_CACHE"] = folder
        trained, first, _ = run(train, test, args.epochs, cache=True)
        loaded, second, printed = run(train, test, args.epochs, cache=True)
        pairs = zip(trained.state_dict().values(), loaded.state_dict().values())
        same = all(torch.equal(a, b) for a, b in pairs)
        size = sum(f.stat().st_size for f in Path(folder).rglob("*.pt"))
        print(f"  first call (train + key + save): {first:.2f} s; second call (key + load): {second:.3f} s; "
              f"ratio {first / second:.0f}x; file {size / 1e3:.0f} kB; loaded == trained: {same}")
        print(f"  it printed: {printed.strip()}")


if __name__ == "__main__":
    main()
