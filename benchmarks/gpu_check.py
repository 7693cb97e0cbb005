#!/usr/bin/env python3
"""One command for a GPU machine: the CUDA tests, CPU/CUDA parity and the cost ratios, in one table.

    python benchmarks/gpu_check.py                  # cuda when there is one, else cpu
    python benchmarks/gpu_check.py --device cpu --quick

What it does, in order:

1. the CUDA tests (`pytest -m cuda tests/`), when the device is cuda;
2. CPU/CUDA parity, computed here with TF32 off (full float32 on both sides), ResNet18 with
   seeded random weights on a batch of the bundled photos: the max abs difference of the
   all-class CAMs, of top-5 Grad-CAM maps at layer4 and layer3, and of the normalised
   localization maps at image size (plus whether the CAM boxes are the same);
3. the ratios to a forward pass of the same batch (medians of shuffled, interleaved repeats,
   synchronised on CUDA: benchmarks/timing.py): all-class CAM at batch 1, 16 and 64, top-5
   Grad-CAM at layer4 and layer3 (upsampled and normalised, as benchmarks/gradcam_vs_peers.py);
4. the three benchmarks with --device (their own output goes to a log file, named in the table).

It ends with ONE table, the targets marked met / not met: all-class CAM <= 1.05x a forward pass
at batch 64; top-5 Grad-CAM at layer3 <= 2.0x. Without CUDA it says so, runs on the CPU, and the
CUDA lines read "skipped (no CUDA)". --quick: batches 1, 4 and 8 and fewer repeats (minutes on a
laptop CPU); the targets are then judged at the largest batch measured, and the table says so.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))
os.environ.setdefault("CAM_HELPERS_OFFLINE", "1")

import torch  # noqa: E402

from timing import median_ms, synchronize  # noqa: E402
from cam_helpers import load_classifier  # noqa: E402
from cam_helpers.cam import all_class_maps, normalize_maps, upsample_maps  # noqa: E402
from cam_helpers.explain import forward_with_features  # noqa: E402
from cam_helpers.gradcam import grad_cam  # noqa: E402
from cam_helpers.images import SAMPLES, load_sample, preprocess  # noqa: E402
from cam_helpers.localization import boxes_from_maps  # noqa: E402

TARGET_ALL_CLASSES = 1.05  # x forward, at batch 64
TARGET_TOP5_LAYER3 = 2.0   # x forward
PARITY_TOLERANCE = 1e-4    # as tests/test_cuda.py
BENCHMARKS = ("cam_overhead.py", "gradcam_vs_peers.py", "explorer_latency.py")


def photo_batch(classifier, batch_size: int) -> torch.Tensor:
    """(B, 3, 224, 224): the bundled photos, repeated to fill the batch."""
    names = list(SAMPLES)
    return preprocess([load_sample(names[i % len(names)]) for i in range(batch_size)], classifier.transform)


def exact_float32() -> None:
    """TF32 (a 10-bit mantissa) would make CUDA differ from the CPU by ~1e-3 for reasons unrelated to us."""
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False


def maps_on(classifier, images: torch.Tensor) -> dict[str, torch.Tensor]:
    """The maps compared across devices, all moved to the CPU."""
    with torch.inference_mode():
        _, features = forward_with_features(classifier, images)  # (B, 512, 7, 7)
        cam = all_class_maps(features, classifier.fc.weight)  # (B, 1000, 7, 7)
        top1 = cam.mean(dim=(2, 3)).argmax(dim=1)  # (B,)
        localization = normalize_maps(upsample_maps(cam[torch.arange(len(cam)), top1][:, None], images.shape[-1]))
    return {
        "CAM, all 1000 classes": cam.cpu(),
        "Grad-CAM top-5, layer4": grad_cam(classifier, images, "layer4", top_k=5).maps.cpu(),
        "Grad-CAM top-5, layer3": grad_cam(classifier, images, "layer3", top_k=5).maps.cpu(),
        "localization map (top-1 CAM, 224x224)": localization[:, 0].cpu(),
    }


def parity(device: torch.device) -> list[tuple[str, str, str]]:
    """Rows (what, value, verdict) for CPU vs this device."""
    names = ["CAM, all 1000 classes", "Grad-CAM top-5, layer4", "Grad-CAM top-5, layer3",
             "localization map (top-1 CAM, 224x224)", "CAM boxes (20% threshold)"]
    if device.type != "cuda":
        return [(f"parity CPU/CUDA: {name}", "-", "skipped (no CUDA)") for name in names]
    exact_float32()
    torch.manual_seed(0)
    classifier = load_classifier("resnet18", pretrained=False, device="cpu")
    images = photo_batch(classifier, 4)
    cpu = maps_on(classifier, images)
    classifier.to(device)
    gpu = maps_on(classifier, images.to(device))
    rows = []
    for name in names[:-1]:
        difference = (gpu[name] - cpu[name]).abs().max().item()
        rows.append((f"parity CPU/CUDA: {name}", f"max |diff| {difference:.1e}",
                     "met" if difference <= PARITY_TOLERANCE else f"NOT met (> {PARITY_TOLERANCE:g})"))
    same_boxes = torch.equal(boxes_from_maps(cpu[names[3]]), boxes_from_maps(gpu[names[3]]))
    rows.append((f"parity CPU/CUDA: {names[-1]}", "identical" if same_boxes else "differ", "met" if same_boxes else "NOT met"))
    return rows


def ratios(device: torch.device, batch_sizes: list[int], repeats: int, warmup: int, note: str) -> list[tuple[str, str, str]]:
    """Rows for the cost of CAM and Grad-CAM relative to a forward pass of the same batch."""
    torch.manual_seed(0)
    classifier = load_classifier("resnet18", pretrained=False, device=device)
    model, fc_weight = classifier.model, classifier.fc.weight.detach()
    rows = []
    for batch_size in batch_sizes:
        images = photo_batch(classifier, batch_size).to(device)

        def forward():
            with torch.inference_mode():
                return model(images)  # (B, 1000)

        def all_classes():
            with torch.inference_mode():
                _, features = forward_with_features(classifier, images)  # (B, 512, 7, 7)
                return all_class_maps(features, fc_weight)  # (B, 1000, 7, 7)

        actions = {"forward": forward, "all": all_classes}
        if batch_size == batch_sizes[-1] or batch_size == 1:
            for layer in ("layer4", "layer3"):
                actions[layer] = lambda layer=layer: grad_cam(classifier, images, layer, top_k=5).upsampled()
        times = median_ms(actions, repeats, warmup, device)
        base = times["forward"]
        is_target_batch = batch_size == batch_sizes[-1]
        verdict = ""
        if is_target_batch:
            met = times["all"] / base <= TARGET_ALL_CLASSES
            verdict = f"{'met' if met else 'NOT met'} (target <= {TARGET_ALL_CLASSES:.2f}x{note})"
        rows.append((f"all-class CAM / forward, batch {batch_size}",
                     f"{times['all'] / base:.2f}x ({times['all']:.1f} / {base:.1f} ms)", verdict))
        for layer in ("layer4", "layer3"):
            if layer not in times:
                continue
            verdict = ""
            if layer == "layer3" and is_target_batch:
                met = times[layer] / base <= TARGET_TOP5_LAYER3
                verdict = f"{'met' if met else 'NOT met'} (target <= {TARGET_TOP5_LAYER3:.1f}x{note})"
            rows.append((f"top-5 Grad-CAM {layer} / forward, batch {batch_size}",
                         f"{times[layer] / base:.2f}x ({times[layer]:.1f} / {base:.1f} ms)", verdict))
        del images
    return rows


def run(command: list[str], log: Path) -> tuple[int, float, str]:
    """Run a command with its output into log; (exit code, seconds, last non-empty line)."""
    start = time.perf_counter()
    with open(log, "w") as out:
        done = subprocess.run(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                              env=dict(os.environ, CAM_HELPERS_OFFLINE="1"))
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    return done.returncode, time.perf_counter() - start, (lines[-1].strip() if lines else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default=None, help="cuda (default when available) or cpu")
    parser.add_argument("--quick", action="store_true", help="small batches, few repeats: a quick look on a CPU")
    parser.add_argument("--repeats", type=int, default=None, help="timing repeats (default 20; --quick: 3)")
    parser.add_argument("--no-benchmarks", action="store_true", help="skip running the three benchmark scripts")
    parser.add_argument("--logs", default=None, help="folder for the logs of the tests and benchmarks (default: a temp folder)")
    args = parser.parse_args(argv)

    requested = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if requested.startswith("cuda") and not torch.cuda.is_available():
        print("No CUDA device here (torch.cuda.is_available() is False): running on the CPU; CUDA lines are skipped.")
        requested = "cpu"
    device = torch.device(requested)
    logs = Path(args.logs or tempfile.mkdtemp(prefix="gpu_check_"))
    logs.mkdir(parents=True, exist_ok=True)
    batch_sizes = [1, 4, 8] if args.quick else [1, 16, 64]
    repeats = args.repeats or (3 if args.quick else 20)
    warmup = 1 if args.quick else 3
    note = f", judged at batch {batch_sizes[-1]}: --quick" if args.quick else ""
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"torch {torch.__version__}, device {device} ({name}); logs in {logs}", flush=True)

    rows: list[tuple[str, str, str]] = []
    if device.type == "cuda":
        code, seconds, last = run([sys.executable, "-m", "pytest", "-m", "cuda", "-q", "-p", "no:cacheprovider",
                                   "tests/"], logs / "cuda_tests.log")
        rows.append(("CUDA tests (pytest -m cuda tests/)", f"{last} ({seconds:.0f} s)", "passed" if code == 0 else "FAILED: see the log"))
    else:
        rows.append(("CUDA tests (pytest -m cuda tests/)", "-", "skipped (no CUDA)"))
    print("parity ...", flush=True)
    rows += parity(device)
    print("ratios ...", flush=True)
    rows += ratios(device, batch_sizes, repeats, warmup, note)
    synchronize(device)
    if not args.no_benchmarks:
        quick = {"cam_overhead.py": ["--repeats", "3", "--batch-sizes", "1"],
                 "gradcam_vs_peers.py": ["--repeats", "1", "--warmup", "0", "--batch-sizes", "1"],
                 "explorer_latency.py": ["--repeats", "3"]}
        for script in BENCHMARKS:
            print(f"benchmark {script} ...", flush=True)
            extra = quick[script] if args.quick else []
            log = logs / script.replace(".py", ".log")
            code, seconds, _ = run([sys.executable, str(HERE / script), "--device", str(device), *extra], log)
            rows.append((f"benchmark {script} --device {device}", f"exit {code} ({seconds:.0f} s), log {log.name}",
                         "ran" if code == 0 else "FAILED: see the log"))

    width = max(len(r[0]) for r in rows)
    value_width = max(len(r[1]) for r in rows)
    print(f"\n{'check':<{width}}  {'value':<{value_width}}  verdict")
    print(f"{'-' * width}  {'-' * value_width}  {'-' * 7}")
    for what, value, verdict in rows:
        print(f"{what:<{width}}  {value:<{value_width}}  {verdict}")
    missed = [r for r in rows if r[2].startswith("NOT") and "target" in r[2]]
    failed = [r for r in rows if r[2].startswith("FAILED") or (r[2].startswith("NOT") and "target" not in r[2])]
    print(f"\nperformance targets missed: {len(missed)}; failures (tests, parity, benchmark runs): {len(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
