#!/usr/bin/env python3
"""Our CAM and Grad-CAM against torchcam, pytorch-grad-cam and captum, on the same work.

    .venv/bin/pip install -e ".[bench]"      # torchcam, grad-cam, captum (optional)
    .venv/bin/python benchmarks/gradcam_vs_peers.py [--repeats 7] [--batch-sizes 1 8] [--device cpu]

ResNet18 at 224x224 on the CPU (or --device cuda: timings synchronised), with the bundled sample photos. For each batch
size it times (median of --repeats runs after a warm-up, time.perf_counter;
the methods take turns in a shuffled order within each repeat, so a busy
machine slows all alike):

* a plain forward pass (torch.inference_mode): the reference, 1.00x;
* our CAM for all 1000 classes (forward_with_features + all_class_maps);
* our Grad-CAM (grad_cam(...).upsampled(): maps up to 224x224, normalised) at
  layer4 and layer3 for the top-1 and the top-5 classes of each image:
  one forward pass and one batched backward pass whatever the number of classes;
* when installed: torchcam CAM and GradCAM, pytorch-grad-cam GradCAM, captum
  LayerGradCam for the same classes, looped over the 5 classes where the
  library takes one class (per image) at a time; hooks / extractor objects are
  created inside the timed call, as their documentation does it.

Before timing a peer, its maps are compared with ours after the same
normalisation (same resolution, ReLU, min-max per map): the Pearson correlation
of every map must be >= 0.99, or the peer is reported and not timed.

Targets: our Grad-CAM for the top-5 classes at layer4 <= 2.0x forward, and
faster than every peer on the same work.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("CAM_HELPERS_OFFLINE", "1")

import torch  # noqa: E402

from timing import installed_peers, median_ms, resnet18_for_timing, sample_batch  # noqa: E402
from cam_helpers.cam import all_class_maps, class_activation_maps, normalize_maps, upsample_maps  # noqa: E402
from cam_helpers.explain import forward_with_features  # noqa: E402
from cam_helpers.gradcam import grad_cam  # noqa: E402

MIN_CORRELATION = 0.99
TARGET_TOP5_LAYER4 = 2.0
LAYERS = ("layer4", "layer3")
TOP_KS = (1, 5)


# --------------------------------------------------------------------------- #
# Timing and agreement
# --------------------------------------------------------------------------- #




def common_form(maps: torch.Tensor, size: int | None = None) -> torch.Tensor:
    """(B, n, h, w) -> ReLU, optional upsampling, min-max per map: the comparison form."""
    maps = maps.detach().float().cpu().clamp_min(0)
    if size is not None and maps.shape[-1] != size:
        maps = upsample_maps(maps, size)
    return normalize_maps(maps)


def min_correlation(ours: torch.Tensor, theirs: torch.Tensor) -> float:
    """The smallest Pearson correlation over the maps (B, n, H, W) that are not constant."""
    a = ours.flatten(2).flatten(0, 1)  # (B*n, H*W)
    b = theirs.flatten(2).flatten(0, 1)
    a = a - a.mean(dim=1, keepdim=True)
    b = b - b.mean(dim=1, keepdim=True)
    norms = a.norm(dim=1) * b.norm(dim=1)
    both_vary = norms > 1e-12
    if not both_vary.any():
        return float("nan")
    r = (a * b).sum(dim=1)[both_vary] / norms[both_vary]
    return float(r.min())


# --------------------------------------------------------------------------- #
# The peers: (maps for the agreement check, the action to time)
# --------------------------------------------------------------------------- #


def torchcam_methods(model, images, top, layer):
    """torchcam's CAM (layer4 only) and GradCAM; class_idx takes one class per image per call."""
    from torchcam.methods import CAM, GradCAM

    n = top.shape[1]
    per_call = [top[:, i].tolist() for i in range(n)]  # one class per image, n calls
    methods = {}

    if layer == "layer4":

        def cam(normalized=True):
            with CAM(model, target_layer="layer4", fc_layer="fc") as extractor, torch.no_grad():
                model(images)
                return torch.stack([extractor(class_idx=c, normalized=normalized)[0] for c in per_call], 1)

        methods["torchcam CAM"] = (lambda: cam(normalized=False), cam, "cam")

    def gradcam(normalized=True):
        with GradCAM(model, target_layer=layer) as extractor:
            scores = model(images)  # (B, K), with the graph
            maps = [
                extractor(class_idx=c, scores=scores, normalized=normalized, retain_graph=i < n - 1)[0]
                for i, c in enumerate(per_call)
            ]
        return torch.stack(maps, 1)  # (B, n, h, w)

    methods["torchcam GradCAM"] = (lambda: gradcam(normalized=False), gradcam, "gradcam")
    return methods


def pytorch_grad_cam_methods(model, images, top, layer):
    """pytorch-grad-cam's GradCAM: one forward + backward per call, maps upsampled and normalised (NumPy)."""
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    module = dict(model.named_modules())[layer]
    n = top.shape[1]

    def run():
        with GradCAM(model=model, target_layers=[module]) as cam:
            maps = [cam(input_tensor=images, targets=[ClassifierOutputTarget(c) for c in top[:, i].tolist()]) for i in range(n)]
        model.zero_grad(set_to_none=True)  # it calls loss.backward(): parameters get a .grad
        return torch.from_numpy(__import__("numpy").stack(maps, 1))  # (B, n, 224, 224)

    return {"pytorch-grad-cam GradCAM": (run, run, "gradcam")}


def captum_methods(model, images, top, layer):
    """captum's LayerGradCam: one forward + backward per call, maps at the layer's resolution."""
    from captum.attr import LayerGradCam

    module = dict(model.named_modules())[layer]
    n = top.shape[1]

    def run():
        explainer = LayerGradCam(model, module)
        maps = [explainer.attribute(images, target=top[:, i], relu_attributions=True) for i in range(n)]
        return torch.cat(maps, 1).detach()  # (B, n, h, w)

    return {"captum LayerGradCam": (run, run, "gradcam")}


# peer -> (module to import, distribution name on PyPI, factory)
PEERS = {
    "torchcam": ("torchcam", "torchcam", torchcam_methods),
    "pytorch-grad-cam": ("pytorch_grad_cam", "grad-cam", pytorch_grad_cam_methods),
    "captum": ("captum", "captum", captum_methods),
}


# --------------------------------------------------------------------------- #


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)), help="default: the machine's cores")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (timings then synchronise the GPU)")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", module="captum")
    device = torch.device(args.device)
    classifier, weights = resnet18_for_timing(device)
    model = classifier.model
    fc_weight = classifier.fc.weight.detach()
    print(f"torch {torch.__version__}, device {device}, torch.get_num_threads() = {torch.get_num_threads()}")
    print(f"model: ResNet18 with {weights}; input 224x224, the bundled sample photos")
    print(f"median of {args.repeats} repeats after {args.warmup} warm-up round(s); ratio = time / forward pass of the same batch")

    available = installed_peers(PEERS, extra="bench")

    summary = []
    for batch_size in args.batch_sizes:
        images = sample_batch(classifier, batch_size, device)  # (B, 3, 224, 224)
        with torch.no_grad():
            logits = model(images)
        tops = {k: logits.topk(k, dim=-1).indices for k in TOP_KS}  # (B, k)

        def forward():
            with torch.inference_mode():
                return model(images)

        def our_cam():
            with torch.inference_mode():
                _, features = forward_with_features(classifier, images)
                return all_class_maps(features, fc_weight)  # (B, 1000, 7, 7)

        rows: list[tuple[str, str, str, Callable[[], object], str]] = [
            ("forward pass (inference_mode)", "-", "-", forward, ""),
            ("ours: CAM, all 1000 classes", "layer4", "all", our_cam, ""),
        ]
        for layer in LAYERS:
            for k in TOP_KS:
                rows.append(
                    (
                        "ours: Grad-CAM (+ upsampled, normalised)",
                        layer,
                        f"top-{k}",
                        lambda layer=layer, k=k: grad_cam(classifier, images, layer, top_k=k).upsampled(),
                        "",
                    )
                )
                # The same work as torchcam and captum time: maps at the layer's resolution.
                rows.append(
                    (
                        "ours: Grad-CAM (layer resolution)",
                        layer,
                        f"top-{k}",
                        lambda layer=layer, k=k: grad_cam(classifier, images, layer, top_k=k).maps,
                        "",
                    )
                )

        # Our maps for the agreement checks, for the same classes the peers get.
        with torch.no_grad():
            _, features = forward_with_features(classifier, images)
        ours_cam = {k: class_activation_maps(features, fc_weight, tops[k]) for k in TOP_KS}
        ours_grad = {(layer, k): grad_cam(classifier, images, layer, tops[k]).maps for layer in LAYERS for k in TOP_KS}

        skipped = []
        for peer, (factory, _) in available.items():
            for layer in LAYERS:
                for k in TOP_KS:
                    try:
                        methods = factory(model, images, tops[k], layer)
                    except (ImportError, AttributeError, TypeError) as error:
                        skipped.append(f"{peer}: API not as expected ({type(error).__name__}: {error})")
                        break
                    for label, (check, action, kind) in methods.items():
                        try:
                            theirs = check()
                        except (ImportError, AttributeError, TypeError, ValueError, RuntimeError) as error:
                            skipped.append(f"{label} {layer} top-{k}: call failed ({type(error).__name__}: {error})")
                            continue
                        ours = ours_cam[k] if kind == "cam" else ours_grad[(layer, k)]
                        size = theirs.shape[-1]
                        r = min_correlation(common_form(ours, size), common_form(theirs, size))
                        if not r >= MIN_CORRELATION:
                            skipped.append(f"{label} {layer} top-{k}: maps disagree with ours (min r = {r:.4f}), not timed")
                            continue
                        calls = "1 call" if k == 1 else f"{k} calls"
                        rows.append((f"{label} ({calls})", layer, f"top-{k}", action, f"{r:.5f}"))
        assert all(p.grad is None for p in model.parameters())

        times = median_ms({f"{i}": row[3] for i, row in enumerate(rows)}, args.repeats, args.warmup, device)
        base = times["0"]
        print(f"\nbatch {batch_size}:")
        print(f"  {'method':<46} {'layer':<7} {'classes':<7} {'ms':>9} {'x fwd':>7}  {'min r vs ours':>13}")
        for i, (label, layer, classes, _, r) in enumerate(rows):
            ms = times[str(i)]
            print(f"  {label:<46} {layer:<7} {classes:<7} {ms:9.1f} {ms / base:6.2f}x  {r:>13}")
        for reason in skipped:
            print(f"  skipped {reason}")

        # Targets, from this run's numbers.
        by_key = {(row[0].split(" (")[0] if not row[0].startswith("ours") else row[0], row[1], row[2]): times[str(i)] for i, row in enumerate(rows)}
        ours_top5 = by_key[("ours: Grad-CAM (+ upsampled, normalised)", "layer4", "top-5")]
        summary.append(
            f"batch {batch_size}: Grad-CAM top-5 at layer4 = {ours_top5 / base:.2f}x forward "
            f"({'meets' if ours_top5 / base <= TARGET_TOP5_LAYER4 else 'MISSES'} the target <= {TARGET_TOP5_LAYER4:.1f}x)"
        )
        for (label, layer, classes), ms in by_key.items():
            if label.startswith("ours") or label.startswith("forward"):
                continue
            if label == "torchcam CAM":
                mine = times["1"]
                what = "our all-class CAM"
            else:
                # Like for like: pytorch-grad-cam upsamples and normalises, torchcam and captum do not.
                ours = "ours: Grad-CAM (+ upsampled, normalised)" if label.startswith("pytorch-grad-cam") else "ours: Grad-CAM (layer resolution)"
                mine = by_key[(ours, layer, classes)]
                what = f"our Grad-CAM {layer} {classes}"
            verdict = "faster" if mine < ms else "SLOWER"
            summary.append(f"batch {batch_size}: {what} {mine:.1f} ms vs {label} {layer} {classes} {ms:.1f} ms: {ms / mine:.1f}x {verdict}")
    print("\nsummary:")
    for line in summary:
        print(f"  {line}")


if __name__ == "__main__":
    main()
