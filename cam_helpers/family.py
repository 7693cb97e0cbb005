"""The CAM family: Grad-CAM++, XGrad-CAM, LayerCAM, HiResCAM and Score-CAM.

Every method here is Grad-CAM with one small change. Grad-CAM weighs the
feature maps A_k (B, C, h, w) of a layer with the spatial mean of the gradient
g_k(x, y) = d y^c / d A_k(x, y) (y^c: the logit of class c):

    Grad-CAM    L = ReLU( sum_k  mean_xy(g_k) A_k )
    Grad-CAM++  L = ReLU( sum_k  sum_xy(a_k(x, y) ReLU(g_k(x, y))) A_k ),
                a_k = g_k^2 / (2 g_k^2 + sum_ab(A_k(a, b)) g_k^3)      (Chattopadhay et al. 2018, eq. 19)
    XGrad-CAM   L = ReLU( sum_k  sum_xy(g_k A_k) / sum_xy(A_k)  A_k )  (Fu et al. 2020)
    LayerCAM    L = ReLU( sum_k  ReLU(g_k(x, y)) A_k(x, y) )           (Jiang et al. 2021: per position)
    HiResCAM    L = ReLU( sum_k  g_k(x, y) A_k(x, y) )                 (Draelos & Carin 2020: no averaging)
    Score-CAM   L = ReLU( sum_k  softmax_k(y^c(X * mask_k)) A_k )      (Wang et al. 2020: no gradient at all)

with mask_k the map A_k min-max normalised to [0, 1] and upsampled to the
image. The four gradient methods need the same two things as Grad-CAM, so
:func:`cam_family` computes all of them from ONE forward pass and ONE batched
backward pass (:func:`cam_helpers.gradcam.forward_for_gradcam` and
:func:`~cam_helpers.gradcam.score_gradients`). Score-CAM instead runs the
model once per channel and image (C masked images each, in batches, with a
progress bar); the logits of every class come out of the same passes, so
n classes cost no more than one.

What holds exactly at the last conv layer of a GAP -> FC network, where
g_k(x, y) = w_k^c / (h w) at every position (w: the FC weight):

    HiResCAM (relu=False) = CAM / (h w)              (CAM without the bias)
    HiResCAM = Grad-CAM = XGrad-CAM = ReLU(CAM) / (h w)
    LayerCAM = ReLU( sum_k ReLU(w_k^c) A_k ) / (h w)  (negative class weights dropped)
    Grad-CAM++ = ReLU( sum_k ReLU(w_k^c) / (2 + w_k^c mean_xy(A_k)) A_k )

Shapes used throughout: images (B, 3, H, W); activations A (B, C, h, w);
gradients (B, n, C, h, w) for n classes per image; weights (B, n, C);
maps (B, n, h, w).

    result = cam_family(classifier, batch, "layer4", classes=["tabby"])
    result.maps["gradcam++"]             # (B, 1, 7, 7)
    result.upsampled("layercam")         # (B, 1, 224, 224) in [0, 1]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn
from tqdm.auto import tqdm

from .cam import normalize_maps, upsample_and_normalize, upsample_maps
from .classifier import ClassSpec, Classifier
from .gradcam import (  # the layer and class rules are Grad-CAM's: the family takes the same requests
    LayerSpec, _class_names, _final_classes, _request, forward_for_gradcam, maps_from_weights,
    score_gradients,
)
from .hooks import capture
from .names import did_you_mean

__all__ = [
    "METHODS", "GRADIENT_METHODS", "FamilyResult", "cam_family", "grad_cam_plus_plus_weights",
    "xgrad_cam_weights", "layer_cam_maps", "hires_cam_maps", "score_cam_weights", "fused_layer_cam",
]

GRADIENT_METHODS = ("gradcam", "gradcam++", "xgradcam", "layercam", "hirescam")
METHODS = GRADIENT_METHODS + ("scorecam",)


def grad_cam_plus_plus_weights(
    activations: torch.Tensor, gradients: torch.Tensor, *, eps: float = 0.0
) -> torch.Tensor:
    """Grad-CAM++ channel weights sum_xy a_k ReLU(g_k): (B, C, h, w), (B, n, C, h, w) -> (B, n, C).

    a_k(x, y) = g^2 / (2 g^2 + sum_ab A_k(a, b) g^3 + eps), set to 0 where g = 0
    (the paper's eq. 19, with the powers of the gradient standing for the higher
    derivatives, as in pytorch-grad-cam and torchcam). ``eps=0`` is the exact
    formula; pytorch-grad-cam adds ``eps=1e-6``, which matters when the gradients
    are small (g^2 ~ 1e-6 at the last layer of an ImageNet net).
    """
    grad_2 = gradients.pow(2)  # (B, n, C, h, w)
    grad_3 = grad_2 * gradients
    activation_sums = activations.detach().sum(dim=(-2, -1))[:, None, :, None, None]  # (B, 1, C, 1, 1)
    denominator = 2 * grad_2 + activation_sums * grad_3 + eps
    usable = (gradients != 0) & (denominator != 0)
    alpha = torch.where(usable, grad_2 / torch.where(usable, denominator, torch.ones_like(denominator)), 0.0)
    return (alpha * gradients.clamp_min(0)).sum(dim=(-2, -1))  # (B, n, C)


def xgrad_cam_weights(activations: torch.Tensor, gradients: torch.Tensor) -> torch.Tensor:
    """XGrad-CAM channel weights: sum_xy g_k A_k / sum_xy A_k, (B, C, h, w), (B, n, C, h, w) -> (B, n, C).

    A channel whose activations sum to zero gets weight 0 (the peers add 1e-7 or
    1e-8 to the denominator instead; for ReLU outputs that is the same thing).
    """
    features = activations.detach()[:, None]  # (B, 1, C, h, w)
    sums = features.sum(dim=(-2, -1))  # (B, 1, C)
    weighted = (gradients * features).sum(dim=(-2, -1))  # (B, n, C)
    return torch.where(sums != 0, weighted / torch.where(sums != 0, sums, torch.ones_like(sums)), 0.0)


def layer_cam_maps(activations: torch.Tensor, gradients: torch.Tensor, *, relu: bool = True) -> torch.Tensor:
    """LayerCAM maps sum_k ReLU(g_k(x, y)) A_k(x, y): (B, C, h, w), (B, n, C, h, w) -> (B, n, h, w)."""
    maps = (gradients.clamp_min(0) * activations.detach()[:, None]).sum(dim=2)  # (B, n, h, w)
    return maps.clamp_min(0) if relu else maps


def hires_cam_maps(activations: torch.Tensor, gradients: torch.Tensor, *, relu: bool = True) -> torch.Tensor:
    """HiResCAM maps sum_k g_k(x, y) A_k(x, y): (B, C, h, w), (B, n, C, h, w) -> (B, n, h, w)."""
    maps = (gradients * activations.detach()[:, None]).sum(dim=2)  # (B, n, h, w)
    return maps.clamp_min(0) if relu else maps


def score_cam_weights(
    model: nn.Module,
    images: torch.Tensor,
    activations: torch.Tensor,
    classes: torch.Tensor,
    *,
    batch_size: int = 32,
    progress: bool = True,
) -> torch.Tensor:
    """Score-CAM channel weights (B, n, C): softmax over k of the logit y^c of the image masked by A_k.

    ``images`` (B, 3, H, W) are the batch that gave ``activations`` (B, C, h, w); the n ``classes``
    (B, n) all come from the same masked passes, ``batch_size`` masked images per forward pass, in
    eval mode (the model's mode is restored), with a tqdm bar unless ``progress=False``.

    Each mask is A_k min-max normalised to [0, 1] at the layer's resolution, then upsampled
    (bilinear) to (H, W), as torchcam does. Subtracting the unmasked image's logit (the paper's
    baseline) would not change a softmax over k, so it is skipped.

    A channel that never fires on an image (a constant map, common after a
    ReLU: a third to two thirds of EfficientNet-Lite0's 1280 head channels)
    normalises to an all-zero mask, and every such mask turns every image into
    the same black image. One forward pass of that black image gives all of
    their scores, so only the channels that fire cost a masked pass each.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1; got {batch_size}")
    batch, channels = activations.shape[:2]
    masks = normalize_maps(activations.detach()).flatten(0, 1)  # (B*C, h, w) each in [0, 1]
    owner = torch.arange(batch, device=images.device).repeat_interleave(channels)  # (B*C,) image of each mask
    firing = masks.flatten(1).amax(dim=1) > 0  # (B*C,) False: an all-zero mask
    live = firing.nonzero().squeeze(1)  # (L,) the masks that need a pass of their own
    scores = images.new_empty(batch * channels, classes.shape[1])  # (B*C, n)
    size = (int(images.shape[-2]), int(images.shape[-1]))
    # Channels-last (NHWC) is the layout the CPU's convolution kernels (oneDNN) prefer: the same logits up
    # to float rounding, and about 1.3x faster for ResNet18 and EfficientNet-Lite0 on a 2-core CPU.
    layout = torch.channels_last if images.device.type == "cpu" else torch.contiguous_format
    # capture() with no layers: only its eval mode (restored on exit) and its no_grad.
    with capture(model, []), torch.inference_mode(), tqdm(
        total=len(live), desc="Score-CAM masked passes", unit="image", disable=not progress, leave=False
    ) as bar:
        if not firing.all():
            black = model(torch.zeros_like(images[:1]))  # (1, K): the image under any all-zero mask
            silent = (~firing).nonzero().squeeze(1)
            scores[silent] = black[0][classes[owner[silent]]]  # (S, n)
        for start in range(0, len(live), batch_size):
            chunk = live[start : start + batch_size]  # (b,) mask indices
            chunk_masks = upsample_maps(masks[chunk, None], size)  # (b, 1, H, W)
            masked = (images[owner[chunk]] * chunk_masks).contiguous(memory_format=layout)  # (b, 3, H, W)
            logits = model(masked)  # (b, K)
            scores[chunk] = logits.gather(1, classes[owner[chunk]])  # (b, n)
            bar.update(len(chunk))
    return scores.view(batch, channels, -1).transpose(1, 2).softmax(dim=-1)  # (B, n, C)


@dataclass
class FamilyResult:
    """What :func:`cam_family` returns: the attributes of :class:`cam_helpers.gradcam.GradCAMResult`
    except ``weights``, and ``maps`` is a dict.

    Attributes:
        maps: method name -> (B, n, h, w) at the layer's resolution.
        classes: (B, n); logits: (B, K); activations: (B, C, h, w), the layer's output A.
    """

    maps: dict[str, torch.Tensor]
    classes: torch.Tensor
    logits: torch.Tensor
    activations: torch.Tensor
    layer: str
    input_size: tuple[int, int]
    class_names: list[list[str]] | None = None

    def upsampled(self, method: str, size: int | tuple[int, int] | None = None) -> torch.Tensor:
        """One method's maps as :meth:`cam_helpers.gradcam.GradCAMResult.upsampled` gives them."""
        method = _check_methods([method], allowed=tuple(self.maps))[0]
        return upsample_and_normalize(self.maps[method], size or self.input_size)  # (B, n, H, W)

    def __repr__(self) -> str:
        b, _, h, w = self.activations.shape
        n = self.classes.shape[1]
        return (
            f"FamilyResult({b} image(s), {n} class(es) each, layer {self.layer!r} at {h}x{w}: "
            f"methods {', '.join(self.maps)})"
        )


def cam_family(
    model: Classifier | nn.Module,
    images: torch.Tensor,
    layer: LayerSpec | None = None,
    classes: ClassSpec = None,
    *,
    methods: Sequence[str] = GRADIENT_METHODS,
    top_k: int = 1,
    relu: bool = True,
    score_cam_batch_size: int = 32,
    progress: bool = True,
) -> FamilyResult:
    """Maps of several CAM methods for a batch, at one layer, for chosen classes or the top-k.

    ``model``, ``images``, ``layer``, ``classes``, ``top_k`` and ``relu`` are those of
    :func:`cam_helpers.gradcam.grad_cam`.

    Args:
        methods: any of :data:`METHODS`. The default, the gradient methods, costs one forward
            and one batched backward pass; "scorecam" adds B * C masked forward passes,
            ``score_cam_batch_size`` at a time, with a progress bar unless ``progress=False``.

    Returns:
        a :class:`FamilyResult`; ``.maps[method]`` is (B, n, h, w).

    The model is left as it was: no hooks, the same train/eval mode, no ``.grad``.
    """
    methods = _check_methods(methods)
    classifier, network, [name], index = _request(model, images, [layer], classes)  # index: (B, n) or None
    logits, captured = forward_for_gradcam(model, images, [name])  # (B, K), {name: (B, C, h, w)}
    index = _final_classes(index, logits, top_k)  # (B, n)
    features = captured[name].detach()  # (B, C, h, w)
    if any(m in GRADIENT_METHODS for m in methods):
        with torch.inference_mode(False), torch.enable_grad():
            gradients = score_gradients(captured[name], logits.gather(1, index)).detach()  # (B, n, C, h, w)
    maps = {}  # method -> (B, n, h, w)
    for method in methods:
        if method == "gradcam":
            maps[method] = maps_from_weights(features, gradients.mean(dim=(-2, -1)), relu=relu)
        elif method == "gradcam++":
            weights = grad_cam_plus_plus_weights(features, gradients)  # (B, n, C)
            maps[method] = maps_from_weights(features, weights, relu=relu)
        elif method == "xgradcam":
            maps[method] = maps_from_weights(features, xgrad_cam_weights(features, gradients), relu=relu)
        elif method == "layercam":
            maps[method] = layer_cam_maps(features, gradients, relu=relu)
        elif method == "hirescam":
            maps[method] = hires_cam_maps(features, gradients, relu=relu)
        else:  # "scorecam"
            weights = score_cam_weights(
                network, images, features, index, batch_size=score_cam_batch_size, progress=progress
            )  # (B, n, C)
            maps[method] = maps_from_weights(features, weights, relu=relu)
    return FamilyResult(
        maps=maps,
        classes=index,
        logits=logits.detach(),
        activations=features,
        layer=name,
        input_size=(int(images.shape[-2]), int(images.shape[-1])),
        class_names=_class_names(classifier, index),
    )


def fused_layer_cam(
    model: Classifier | nn.Module,
    images: torch.Tensor,
    layers: Sequence[LayerSpec],
    classes: ClassSpec = None,
    *,
    top_k: int = 1,
    gamma: float = 2.0,
    size: int | tuple[int, int] | None = None,
) -> torch.Tensor:
    """LayerCAM fused over several layers (Jiang et al. 2021, eq. 9), from ONE forward pass.

    Each layer's LayerCAM map is min-max normalised, scaled with tanh(gamma * map) (so that
    the weaker maps of shallow layers count), upsampled to ``size`` (default: the largest
    layer resolution), and the layers are fused by the element-wise maximum, as torchcam's
    ``LayerCAM.fuse_cams`` does. The other arguments are those of :func:`cam_family`.

    Returns:
        (B, n, H', W') in [0, tanh(gamma)].
    """
    if isinstance(layers, (str, nn.Module)) or len(layers) == 0:
        raise ValueError("layers must be a list of one or more layer names, e.g. ['layer3', 'layer4']")
    _, _, names, index = _request(model, images, layers, classes)  # index: (B, n) or None
    logits, captured = forward_for_gradcam(model, images, names)  # {name: (B, C, h, w)}
    index = _final_classes(index, logits, top_k)  # (B, n)
    per_layer = []
    with torch.inference_mode(False), torch.enable_grad():
        scores = logits.gather(1, index)  # (B, n)
        for name in names:
            gradients = score_gradients(captured[name], scores).detach()  # (B, n, C, h, w)
            per_layer.append(layer_cam_maps(captured[name].detach(), gradients))  # (B, n, h, w)
    if size is None:
        size = (max(m.shape[-2] for m in per_layer), max(m.shape[-1] for m in per_layer))
    scaled = [upsample_maps(torch.tanh(gamma * normalize_maps(m)), size) for m in per_layer]
    return torch.stack(scaled).amax(dim=0)  # (B, n, H', W')


def _check_methods(methods: Sequence[str], allowed: Sequence[str] = METHODS) -> list[str]:
    """The methods as :data:`METHODS` names them, each once; "Grad-CAM++" or "score_cam" count too."""
    if isinstance(methods, str):
        methods = [methods]
    chosen = []
    for method in methods:
        key = str(method).lower().replace("-", "").replace("_", "")
        if key not in allowed:
            hint = did_you_mean(str(method), list(allowed))
            raise ValueError(f"unknown CAM method {method!r}.{hint} Choose from: {', '.join(allowed)}.")
        if key not in chosen:
            chosen.append(key)
    if not chosen:
        raise ValueError(f"choose at least one method from: {', '.join(allowed)}")
    return chosen
