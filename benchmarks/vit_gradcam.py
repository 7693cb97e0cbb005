#!/usr/bin/env python3
"""Grad-CAM at a Vision Transformer's block: ours (one reshape inside the hook) against pytorch-grad-cam and torchcam.

    .venv/bin/python benchmarks/vit_gradcam.py [--repeats 5] [--batch-sizes 1 4] [--device cpu]

torchvision's ViT-B/16 at 224x224 (seeded random weights with a random head: the time does not depend on
the weights; torchvision starts the head at zero, which would make every gradient 0), the bundled photos.
For each batch size it times (median of --repeats runs, the actions taking turns in a shuffled order):

* a plain forward pass (torch.inference_mode): the reference, 1.00x;
* our Grad-CAM at block 11 (``encoder.layers.encoder_layer_10``: the last block's gradient is zero for
  this class-token head) for the top-1 and top-5 classes, maps upsampled to 224x224 and normalised;
* pytorch-grad-cam's ``GradCAM`` with the ``reshape_transform`` of its ViT tutorial, and torchcam's
  ``GradCAM`` with the same ``reshape_transform`` (without one it reads tokens (B, N, D) as (B, C, L)), the
  same classes, one call per class (each takes one class per image), after checking that their maps equal
  ours (Pearson r >= 0.99 per map after the same normalisation), else reported and not timed.
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
from torch import nn  # noqa: E402

from gradcam_vs_peers import common_form, min_correlation  # noqa: E402
from timing import median_ms, sample_batch  # noqa: E402
from cam_helpers.gradcam import grad_cam  # noqa: E402
from cam_helpers.models import load_classifier  # noqa: E402

LAYER = "encoder.layers.encoder_layer_10"
TOP_KS = (1, 5)
MIN_CORRELATION = 0.99


def reshape_transform(tokens: torch.Tensor, h: int = 14, w: int = 14) -> torch.Tensor:
    """The peers' documented ViT reshape: drop the class token, tokens (B, 1 + h*w, D) -> (B, D, h, w)."""
    return tokens[:, 1:, :].reshape(tokens.size(0), h, w, tokens.size(2)).permute(0, 3, 1, 2)


def pytorch_grad_cam_run(model: nn.Module, images: torch.Tensor, top: torch.Tensor):
    """pytorch-grad-cam's GradCAM with its ViT reshape_transform: (B, n, 224, 224), one call per class."""
    import numpy as np
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    module = dict(model.named_modules())[LAYER]

    def run():
        with GradCAM(model=model, target_layers=[module], reshape_transform=reshape_transform) as cam:
            maps = [cam(input_tensor=images, targets=[ClassifierOutputTarget(c) for c in column.tolist()])
                    for column in top.T]
        model.zero_grad(set_to_none=True)  # it calls loss.backward(): parameters get a .grad
        return torch.from_numpy(np.stack(maps, 1))  # (B, n, 224, 224)

    return run


def torchcam_run(model: nn.Module, images: torch.Tensor, top: torch.Tensor):
    """torchcam's GradCAM with the same reshape_transform: (B, n, 14, 14), one class per image per call."""
    from torchcam.methods import GradCAM

    n = top.shape[1]

    def run():
        with GradCAM(model, target_layer=LAYER, reshape_transform=reshape_transform) as extractor:
            scores = model(images)  # (B, K), with the graph
            maps = [extractor(class_idx=column.tolist(), scores=scores, normalized=False, retain_graph=i < n - 1)[0]
                    for i, column in enumerate(top.T)]
        model.zero_grad(set_to_none=True)
        return torch.stack(maps, 1)  # (B, n, 14, 14)

    return run


PEERS = {"pytorch-grad-cam": ("pytorch_grad_cam", pytorch_grad_cam_run), "torchcam": ("torchcam", torchcam_run)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--device", default="cpu", help="cpu or cuda (timings then synchronise the GPU)")
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    classifier = load_classifier("vit_b_16", pretrained=False, device=device)
    nn.init.normal_(classifier.model.heads.head.weight, std=0.02)
    model = classifier.model
    print(f"torch {torch.__version__}, device {device}, threads {torch.get_num_threads()}")
    print(f"model: {classifier.description}; Grad-CAM at {LAYER} (block 11)")
    peers = {}
    for peer, (module_name, factory) in PEERS.items():
        try:
            __import__(module_name)
            peers[peer] = factory
        except ImportError as error:
            print(f"skipped {peer}: not installed ({error}); pip install -e '.[bench]' to compare")

    for batch_size in args.batch_sizes:
        images = sample_batch(classifier, batch_size, device)  # (B, 3, 224, 224)
        with torch.no_grad():
            logits = model(images)  # (B, 1000)

        def forward():
            with torch.inference_mode():
                return model(images)

        actions = {"forward pass (inference_mode)": forward}
        notes = {}
        for k in TOP_KS:
            top = logits.topk(k, dim=-1).indices  # (B, k)
            actions[f"ours: Grad-CAM top-{k}"] = lambda top=top: grad_cam(classifier, images, LAYER, top).upsampled()
            ours = grad_cam(classifier, images, LAYER, top).maps  # (B, k, 14, 14)
            for peer, factory in peers.items():
                run = factory(model, images, top)
                r = min_correlation(common_form(ours, 224), common_form(run(), 224))
                label = peer_label(peer, k)
                if r >= MIN_CORRELATION:
                    actions[label], notes[label] = run, f"min r {r:.5f}"
                else:
                    print(f"  {label}: maps disagree with ours (min r = {r:.4f}), not timed")
        times = median_ms(actions, args.repeats, args.warmup, device)
        base = times["forward pass (inference_mode)"]
        print(f"\nbatch {batch_size}:")
        print(f"  {'method':<44} {'ms':>9} {'x fwd':>7}  {'agreement':>12}")
        for label, ms in times.items():
            print(f"  {label:<44} {ms:>9.1f} {ms / base:>7.2f}  {notes.get(label, ''):>12}")
        for k in TOP_KS:
            for peer in peers:
                if peer_label(peer, k) in times:
                    ratio = times[peer_label(peer, k)] / times[f"ours: Grad-CAM top-{k}"]
                    print(f"  top-{k}: {peer} / ours = {ratio:.2f}x")


def peer_label(peer: str, k: int) -> str:
    return f"{peer} GradCAM top-{k} ({k} call{'s' if k > 1 else ''})"


if __name__ == "__main__":
    main()
