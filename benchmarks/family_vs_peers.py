#!/usr/bin/env python3
"""The CAM family (cam_helpers.gradcam.METHODS) against torchcam and pytorch-grad-cam, on the same work.

    .venv/bin/pip install -e ".[test]"      # torchcam, grad-cam (optional: peers are skipped when missing)
    .venv/bin/python benchmarks/family_vs_peers.py [--repeats 5] [--batch-sizes 1 8] [--device cpu]

ResNet18 at 224x224 (ImageNet weights when cached, else random weights: the
time does not depend on the weights), the bundled sample photos. For each batch
size it times (median of --repeats runs after a warm-up, methods taking turns
in a shuffled order within each repeat, so a busy machine slows all alike):

* a plain forward pass (torch.inference_mode): the reference, 1.00x;
* ours, each method alone (``cam_family(..., methods=[m])`` then ``[m].upsampled()``:
  maps at 224x224, normalised) at layer4 and layer3, for the top-1 and top-5
  classes: one forward pass and one batched backward pass whatever the number
  of classes; and all five gradient methods from that one pass;
* when installed, the same methods of torchcam (maps at the layer's resolution,
  as its documentation calls them) and pytorch-grad-cam (maps upsampled and
  normalised, like ours), one call per class where the library takes one class
  per image at a time;
* Score-CAM at layer4 (512 masked forward passes per image) for the batch sizes
  in --score-cam-batch-sizes and the top-k in --score-cam-top-ks (default: batch
  1, top-1; it is slow on a CPU), with the same batch of masked images per pass
  (32) for everyone.

The maps' agreement with the peers is asserted in tests/test_gradcam.py, not here.

Targets: every gradient method of ours within 1.2x of our Grad-CAM at the same
layer and classes; our Score-CAM at least as fast as torchcam's and
pytorch-grad-cam's at the same batch size.
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
from cam_helpers.gradcam import GRADIENT_METHODS, cam_family  # noqa: E402

TARGET_VS_GRADCAM = 1.2
LAYERS = ("layer4", "layer3")
TOP_KS = (1, 5)
SCORE_CAM_BATCH = 32  # masked images per forward pass, for ours and the peers

# our method name -> (torchcam class, pytorch-grad-cam class); None where the peer lacks it
PEER_NAMES = {
    "gradcam": ("GradCAM", "GradCAM"),
    "gradcam++": ("GradCAMpp", "GradCAMPlusPlus"),
    "xgradcam": ("XGradCAM", "XGradCAM"),
    "layercam": ("LayerCAM", "LayerCAM"),
    "hirescam": (None, "HiResCAM"),
    "scorecam": ("ScoreCAM", "ScoreCAM"),
}


def torchcam_action(method: str, model, images, top, layer) -> Callable[[], object] | None:
    """torchcam: an extractor per call (as its docs do); class_idx takes one class per image, so k calls."""
    name = PEER_NAMES[method][0]
    if name is None:
        return None
    import torchcam.methods as methods

    extractor_class = getattr(methods, name)
    per_call = [top[:, i].tolist() for i in range(top.shape[1])]
    options = {"batch_size": SCORE_CAM_BATCH} if method == "scorecam" else {}

    def run():
        if method == "scorecam":
            with extractor_class(model, target_layer=layer, **options) as extractor:
                with torch.no_grad():
                    model(images)
                return [extractor(class_idx=c) for c in per_call]
        with extractor_class(model, target_layer=layer) as extractor:
            scores = model(images)  # (B, K), with the graph
            return [extractor(class_idx=c, scores=scores, retain_graph=i < len(per_call) - 1) for i, c in enumerate(per_call)]

    return run


def pytorch_grad_cam_action(method: str, model, images, top, layer) -> Callable[[], object] | None:
    """pytorch-grad-cam: one forward + backward per call (one class per image), maps upsampled and normalised."""
    import pytorch_grad_cam
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    cam_class = getattr(pytorch_grad_cam, PEER_NAMES[method][1])
    module = dict(model.named_modules())[layer]

    def run():
        with cam_class(model=model, target_layers=[module]) as cam:
            if method == "scorecam":
                cam.batch_size = SCORE_CAM_BATCH
            maps = [cam(input_tensor=images, targets=[ClassifierOutputTarget(c) for c in top[:, i].tolist()]) for i in range(top.shape[1])]
        model.zero_grad(set_to_none=True)  # it calls loss.backward(): parameters get a .grad
        return maps

    return run


PEERS = {
    "torchcam": ("torchcam", "torchcam", torchcam_action),
    "pytorch-grad-cam": ("pytorch_grad_cam", "grad-cam", pytorch_grad_cam_action),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--layers", nargs="+", default=list(LAYERS), help="default: layer4 layer3")
    parser.add_argument("--score-cam-batch-sizes", type=int, nargs="*", default=[1])
    parser.add_argument("--score-cam-top-ks", type=int, nargs="*", default=[1])
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--peers", nargs="*", default=list(PEERS), help=f"which peers to time (default: {' '.join(PEERS)})")
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)), help="default: the machine's cores")
    args = parser.parse_args()

    device = torch.device(args.device)
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    classifier, weights = resnet18_for_timing(device)
    model = classifier.model
    print(f"torch {torch.__version__}, device {device}, torch.get_num_threads() = {torch.get_num_threads()}")
    print(f"model: ResNet18 with {weights}; input 224x224, the bundled sample photos")
    print(f"median of {args.repeats} repeats after {args.warmup} warm-up round(s); ratio = time / forward pass of the same batch")

    available = installed_peers({peer: PEERS[peer] for peer in args.peers}, extra="test")

    summary = []
    for batch_size in args.batch_sizes:
        images = sample_batch(classifier, batch_size, device)  # (B, 3, 224, 224)
        with torch.no_grad():
            logits = model(images)
        tops = {k: logits.topk(k, dim=-1).indices for k in TOP_KS}  # (B, k)

        def forward():
            with torch.inference_mode():
                return model(images)

        # (label, method, layer, classes, action)
        rows: list[tuple[str, str, str, str, Callable[[], object]]] = [("forward pass (inference_mode)", "-", "-", "-", forward)]

        def ours(methods, layer, k):
            def run():
                result = cam_family(classifier, images, layer, tops[k], methods=methods, progress=False,
                                    score_cam_batch_size=SCORE_CAM_BATCH)
                return [result[m].upsampled() for m in methods]

            return run

        score_cam_here = batch_size in args.score_cam_batch_sizes
        for layer in args.layers:
            for k in TOP_KS:
                for method in GRADIENT_METHODS:
                    rows.append(("ours", method, layer, f"top-{k}", ours([method], layer, k)))
                rows.append(("ours, one call", "all 5 gradient", layer, f"top-{k}", ours(list(GRADIENT_METHODS), layer, k)))
                for peer, (factory, _) in available.items():
                    for method in GRADIENT_METHODS:
                        action = factory(method, model, images, tops[k], layer)
                        if action is not None:
                            rows.append((f"{peer} ({k} call{'s' if k > 1 else ''})", method, layer, f"top-{k}", action))
        if score_cam_here:
            for k in args.score_cam_top_ks:
                rows.append(("ours", "scorecam", "layer4", f"top-{k}", ours(["scorecam"], "layer4", k)))
                for peer, (factory, _) in available.items():
                    rows.append((f"{peer} ({k} call{'s' if k > 1 else ''})", "scorecam", "layer4", f"top-{k}",
                                 factory("scorecam", model, images, tops[k], "layer4")))

        times = median_ms({str(i): row[4] for i, row in enumerate(rows)}, args.repeats, args.warmup,
                          device if device.type == "cuda" else None)
        assert all(p.grad is None for p in model.parameters())
        base = times["0"]
        print(f"\nbatch {batch_size}:")
        print(f"  {'who':<28} {'method':<15} {'layer':<7} {'classes':<7} {'ms':>10} {'x fwd':>8} {'x our Grad-CAM':>15}")
        by_key = {(row[0], row[1], row[2], row[3]): times[str(i)] for i, row in enumerate(rows)}
        for i, (who, method, layer, classes, _) in enumerate(rows):
            ms = times[str(i)]
            reference = by_key.get(("ours", "gradcam", layer, classes))
            versus = f"{ms / reference:14.2f}x" if reference and who.startswith("ours") else ""
            print(f"  {who:<28} {method:<15} {layer:<7} {classes:<7} {ms:10.1f} {ms / base:7.2f}x {versus:>15}")

        for (who, method, layer, classes), ms in by_key.items():
            if who == "ours" and method in GRADIENT_METHODS and method != "gradcam":
                ratio = ms / by_key[("ours", "gradcam", layer, classes)]
                verdict = "meets" if ratio <= TARGET_VS_GRADCAM else "MISSES"
                summary.append(f"batch {batch_size}: {method} {layer} {classes} = {ratio:.2f}x our Grad-CAM ({verdict} <= {TARGET_VS_GRADCAM}x)")
            if not who.startswith("ours") and method == "scorecam":
                mine = by_key[("ours", "scorecam", layer, classes)]
                verdict = "faster" if mine <= ms else "SLOWER"
                summary.append(f"batch {batch_size}: our Score-CAM {classes} {mine / 1000:.1f} s vs {who} {ms / 1000:.1f} s: {ms / mine:.2f}x, ours {verdict}")
    print("\nsummary:")
    for line in summary:
        print(f"  {line}")


if __name__ == "__main__":
    main()
