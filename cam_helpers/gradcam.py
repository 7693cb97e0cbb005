"""Grad-CAM (Selvaraju et al., ICCV 2017) and its family, for any layer of any CNN classifier.

CAM needs global average pooling -> one Linear layer, because it takes the class weights w_k^c
from that Linear layer. Grad-CAM takes them from gradients instead, so it works at any layer and
for any head. With A (B, C, h, w) the output of the chosen layer ("features", f_k in CAM's
notation, A_k in Grad-CAM's) and g_k(x, y) = d y^c / d A_k(x, y) the gradient of the logit y^c
(pre-softmax score) of class c:

    Grad-CAM    L_c = ReLU( sum_k  alpha_k^c A_k ),   alpha_k^c = mean_(x, y) g_k(x, y)

At the last conv layer of a GAP -> FC network g_k(x, y) = w_k^c / (h w) at every position, so
Grad-CAM there is exactly ReLU(CAM) / (h w).

Every other member of the family changes one thing: the channel weight, or a weight per
position. Each method is ONE ROW of :data:`METHODS`:

    method      kind      rule (from A, the gradients g, or masked forward passes)
    gradcam     channel   mean_xy(g_k)                                        (Selvaraju et al. 2017)
    gradcam++   channel   sum_xy a_k(x, y) ReLU(g_k(x, y)),                   (Chattopadhay et al. 2018, eq. 19)
                          a_k = g_k^2 / (2 g_k^2 + sum_ab(A_k(a, b)) g_k^3)
    xgradcam    channel   sum_xy(g_k A_k) / sum_xy(A_k)                       (Fu et al. 2020)
    layercam    position  sum_k ReLU(g_k(x, y)) A_k(x, y)                     (Jiang et al. 2021)
    hirescam    position  sum_k g_k(x, y) A_k(x, y)                           (Draelos & Carin 2020)
    scorecam    channel   softmax_k y^c(X * mask_k), mask_k = A_k in [0, 1]   (Wang et al. 2020: no gradient;
                          upsampled to the image                               one forward pass per channel)

A "channel" rule gives weights (B, n, C) and the map is ReLU(sum_k weight_k A_k); a "position" rule
gives the map (B, n, h, w) before the ReLU. Adding a method is one :class:`Method` row and one test.

How it is computed:

* ONE forward pass, whose graph starts at the chosen layer (:func:`cam_helpers.hooks.capture`
  with ``start_graph=True``): the backward pass stops there, no ``.grad`` is ever written,
  and frozen parameters or a surrounding ``torch.no_grad()`` do not matter.
* ONE batched backward pass for all n classes (:func:`score_gradients`): ``torch.autograd.grad``
  with n one-hot ``grad_outputs`` and ``is_grads_batched=True``. All gradient methods share it.
* Score-CAM runs the model once per channel that fires and image, in batches.

    result = grad_cam(classifier, batch, "layer3", classes=["tabby", "espresso"])
    result.maps           # (B, n, 14, 14) raw Grad-CAM at the layer's resolution
    result.upsampled()    # (B, n, 224, 224) in [0, 1], ready to overlay
    results = cam_family(classifier, batch, "layer4", methods=["gradcam", "layercam"])
    results["layercam"].maps   # one GradCAMResult per method, sharing one forward and backward pass

An explorer that switches classes keeps one :func:`forward_for_gradcam` and calls
:func:`grad_cam_from_features` for each class: only the cheap backward part runs again.

Vision Transformers: a block's output is tokens (B, N, D), not (B, C, h, w). Every function here
reads such a layer as a feature map (B, D, h, w) through ONE reshape, :class:`cam_helpers.tokens.TokenGrid`
(class token left out, the patch grid inferred from N, or given with ``tokens=(h, w)`` or
``tokens=TokenGrid(prefix=1, grid=(14, 14))``), done inside the forward hook so that the gradients are
those of the patch tokens. Everything else is unchanged: the rules above do not know they read a ViT.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property, partial

import torch
from torch import nn
from tqdm.auto import tqdm

from .cam import normalize_maps, upsample_and_normalize, upsample_maps
from .classifier import ClassSpec, Classifier, resolve_classes
from .hooks import capture
from .names import did_you_mean
from .tokens import TokenGrid, as_token_grid

__all__ = [
    "Method", "Evidence", "METHODS", "GRADIENT_METHODS", "GradCAMResult", "grad_cam", "cam_family", "fused_layer_cam",
    "forward_for_gradcam", "grad_cam_from_features", "grad_cam_from_activations", "score_gradients", "maps_from_weights",
    "grad_cam_plus_plus_weights", "xgrad_cam_weights", "layer_cam_maps", "hires_cam_maps", "score_cam_weights",
    "default_layer", "method_key", "TokenGrid",
]

LayerSpec = str | nn.Module
TokenSpec = TokenGrid | tuple[int, int] | None


# --- The rules: each takes the features A (B, C, h, w) and the gradients g (B, n, C, h, w) ---


def grad_cam_plus_plus_weights(features: torch.Tensor, gradients: torch.Tensor, *, eps: float = 0.0) -> torch.Tensor:
    """Grad-CAM++ channel weights sum_xy a_k ReLU(g_k): (B, C, h, w), (B, n, C, h, w) -> (B, n, C).

    a_k(x, y) = g^2 / (2 g^2 + sum_ab A_k(a, b) g^3 + eps), set to 0 where g = 0
    (the paper's eq. 19, with the powers of the gradient standing for the higher
    derivatives, as in pytorch-grad-cam and torchcam). ``eps=0`` is the exact
    formula; pytorch-grad-cam adds ``eps=1e-6``, which matters when the gradients
    are small (g^2 ~ 1e-6 at the last layer of an ImageNet net).
    """
    grad_2 = gradients.pow(2)  # (B, n, C, h, w)
    grad_3 = grad_2 * gradients
    feature_sums = features.detach().sum(dim=(-2, -1))[:, None, :, None, None]  # (B, 1, C, 1, 1)
    denominator = 2 * grad_2 + feature_sums * grad_3 + eps
    usable = (gradients != 0) & (denominator != 0)
    alpha = torch.where(usable, grad_2 / torch.where(usable, denominator, torch.ones_like(denominator)), 0.0)
    return (alpha * gradients.clamp_min(0)).sum(dim=(-2, -1))  # (B, n, C)


def xgrad_cam_weights(features: torch.Tensor, gradients: torch.Tensor) -> torch.Tensor:
    """XGrad-CAM channel weights: sum_xy g_k A_k / sum_xy A_k, (B, C, h, w), (B, n, C, h, w) -> (B, n, C).

    A channel whose features sum to zero gets weight 0 (the peers add 1e-7 or
    1e-8 to the denominator instead; for ReLU outputs that is the same thing).
    """
    A = features.detach()[:, None]  # (B, 1, C, h, w)
    sums = A.sum(dim=(-2, -1))  # (B, 1, C)
    weighted = (gradients * A).sum(dim=(-2, -1))  # (B, n, C)
    return torch.where(sums != 0, weighted / torch.where(sums != 0, sums, torch.ones_like(sums)), 0.0)


def layer_cam_maps(features: torch.Tensor, gradients: torch.Tensor, *, relu: bool = True) -> torch.Tensor:
    """LayerCAM maps sum_k ReLU(g_k(x, y)) A_k(x, y): (B, C, h, w), (B, n, C, h, w) -> (B, n, h, w)."""
    maps = (gradients.clamp_min(0) * features.detach()[:, None]).sum(dim=2)  # (B, n, h, w)
    return maps.clamp_min(0) if relu else maps


def hires_cam_maps(features: torch.Tensor, gradients: torch.Tensor, *, relu: bool = True) -> torch.Tensor:
    """HiResCAM maps sum_k g_k(x, y) A_k(x, y): (B, C, h, w), (B, n, C, h, w) -> (B, n, h, w)."""
    maps = (gradients * features.detach()[:, None]).sum(dim=2)  # (B, n, h, w)
    return maps.clamp_min(0) if relu else maps


def score_cam_weights(
    model: nn.Module,
    images: torch.Tensor,
    features: torch.Tensor,
    classes: torch.Tensor,
    *,
    batch_size: int = 32,
    progress: bool = True,
) -> torch.Tensor:
    """Score-CAM channel weights (B, n, C): softmax over k of the logit y^c of the image masked by A_k.

    ``images`` (B, 3, H, W) are the batch that gave ``features`` (B, C, h, w); the n ``classes``
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
    batch, channels = features.shape[:2]
    masks = normalize_maps(features.detach()).flatten(0, 1)  # (B*C, h, w) each in [0, 1]
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
class Evidence:
    """What the rules of :data:`METHODS` read: the features, their gradients (taken at the first
    use, once), and what Score-CAM's masked passes need. B images, n classes, C channels."""

    features: torch.Tensor  # (B, C, h, w), attached to the graph of the forward pass
    scores: torch.Tensor  # (B, n) the logits of the explained classes, attached to the graph
    model: nn.Module
    images: torch.Tensor  # (B, 3, H, W)
    classes: torch.Tensor  # (B, n)
    score_cam_batch_size: int = 32
    progress: bool = True

    @cached_property
    def gradients(self) -> torch.Tensor:
        """(B, n, C, h, w): d scores / d features, one batched backward pass for all n classes."""
        with torch.inference_mode(False), torch.enable_grad():
            return score_gradients(self.features, self.scores).detach()


@dataclass(frozen=True)
class Method:
    """One row of :data:`METHODS`: a CAM method's display name and its rule.

    ``kind`` "channel": ``rule(evidence)`` gives channel weights (B, n, C), and the map is
    ReLU(sum_k weight_k A_k); "position": it gives the map (B, n, h, w) itself, before the ReLU.
    """

    label: str
    kind: str  # "channel" or "position"
    rule: Callable[[Evidence], torch.Tensor]
    uses_gradients: bool = True


#: The CAM family, one row a method (see the module docstring for the formulas).
METHODS: dict[str, Method] = {
    "gradcam": Method("Grad-CAM", "channel", lambda e: e.gradients.mean(dim=(-2, -1))),
    "gradcam++": Method("Grad-CAM++", "channel", lambda e: grad_cam_plus_plus_weights(e.features, e.gradients)),
    "xgradcam": Method("XGrad-CAM", "channel", lambda e: xgrad_cam_weights(e.features, e.gradients)),
    "layercam": Method("LayerCAM", "position", lambda e: layer_cam_maps(e.features, e.gradients, relu=False)),
    "hirescam": Method("HiResCAM", "position", lambda e: hires_cam_maps(e.features, e.gradients, relu=False)),
    "scorecam": Method(
        "Score-CAM", "channel", uses_gradients=False,
        rule=lambda e: score_cam_weights(
            e.model, e.images, e.features, e.classes, batch_size=e.score_cam_batch_size, progress=e.progress
        ),
    ),
}
#: The methods that need only one forward and one backward pass.
GRADIENT_METHODS = tuple(name for name, method in METHODS.items() if method.uses_gradients)


@dataclass
class GradCAMResult:
    """The maps of ONE method (Grad-CAM or another row of :data:`METHODS`). B images, n classes
    each, K classes, C channels.

    Attributes:
        maps: (B, n, h, w) at the layer's own resolution (ReLU'd unless relu=False), as every
            ``maps`` in this package; :meth:`upsampled` gives them at the image's size in [0, 1].
        classes: (B, n) the explained class indices.
        logits: (B, K) the model's output for the batch.
        features: (B, C, h, w) the layer's output A (detached).
        weights: (B, n, C) the channel weights (alpha_k^c for Grad-CAM); None for a method with a
            weight per position (LayerCAM, HiResCAM).
        layer: the dotted name of the layer, e.g. "layer4".
        input_size: (H, W) of the images, the default size for :meth:`upsampled`.
        class_names: B lists of n names when a Classifier was given, else None.
        method: the :data:`METHODS` key, e.g. "gradcam".
        tokens: for a transformer layer, the :class:`~cam_helpers.tokens.TokenGrid` that read its
            tokens (B, N, D) as ``features`` (B, D, h, w); None for a CNN layer.
    """

    maps: torch.Tensor
    classes: torch.Tensor
    logits: torch.Tensor
    features: torch.Tensor
    weights: torch.Tensor | None
    layer: str
    input_size: tuple[int, int]
    class_names: list[list[str]] | None = None
    method: str = "gradcam"
    tokens: TokenGrid | None = None

    def upsampled(self, size: int | tuple[int, int] | None = None, mode: str = "bilinear") -> torch.Tensor:
        """(B, n, H, W): the maps resized to ``size`` (default the input's), min-max in [0, 1]."""
        return upsample_and_normalize(self.maps, size or self.input_size, mode=mode)

    @property
    def activations(self) -> torch.Tensor:
        """The old name of :attr:`features` (kept for one release)."""
        warnings.warn("GradCAMResult.activations is now .features", FutureWarning, stacklevel=2)
        return self.features

    def __repr__(self) -> str:
        b, n, h, w = self.maps.shape
        return (
            f"GradCAMResult({METHODS[self.method].label}, {b} image(s), {n} class(es) each, layer "
            f"{self.layer!r}: maps {tuple(self.maps.shape)}, features {tuple(self.features.shape)})"
        )


# --- The one forward pass, and the one backward pass ---


def forward_for_gradcam(
    model: nn.Module | Classifier,
    images: torch.Tensor,
    layers: LayerSpec | Sequence[LayerSpec],
    *,
    tokens: TokenSpec = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Run the model ONCE and keep what Grad-CAM needs for any class at these layers.

    Args:
        model: an ``nn.Module`` classifier, or a :class:`Classifier` (its errors name its stages).
        images: (B, 3, H, W) a preprocessed batch.
        layers: one layer name / module or several, e.g. ["layer2", "layer3", "layer4"].
        tokens: how a transformer layer's tokens (B, N, D) become features (B, D, h, w): None infers
            the patch grid (and a class token), (h, w) or a :class:`~cam_helpers.tokens.TokenGrid` says it.

    Returns:
        logits (B, K) and {layer name: features (B, C, h, w)}, both attached to the graph. Pass
        ``logits[:, classes]`` and a layer's features to :func:`grad_cam_from_features`, as
        often as you like.
    """
    _check_images(images)
    logits, features, _ = _forward(model, images, layers, tokens)
    return logits, features


def _forward(
    model: nn.Module | Classifier, images: torch.Tensor, layers: LayerSpec | Sequence[LayerSpec], tokens: TokenSpec
) -> tuple[torch.Tensor, dict[str, torch.Tensor], dict[str, TokenGrid]]:
    """:func:`forward_for_gradcam` without the check of ``images`` (its callers made it); also
    returns the :class:`TokenGrid` of each token layer."""
    classifier = model if isinstance(model, Classifier) else None
    network = classifier.model if classifier is not None else model
    if tokens is None and classifier is not None:
        tokens = classifier.tokens  # a known ViT's layout (class token, patch grid), or None: inferred
    grid = as_token_grid(tokens)
    with capture(network, layers, start_graph=True, tokens=grid) as captured:  # resolves the names, once
        logits = network(images)  # (B, K)
    if not isinstance(logits, torch.Tensor) or logits.dim() != 2:
        got = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise TypeError(f"the model must return logits (B, K); got {got}")
    for name in captured.layers:
        if name in captured.not_tensors:
            raise ValueError(
                f"layer {name!r} returns a {captured.not_tensors[name]}, not a tensor; Grad-CAM needs a "
                "layer whose output is a feature map (B, C, h, w)"
            )
        if name not in captured:
            raise ValueError(f"the forward pass did not run the layer {name!r}; choose layers the model uses")
        if captured[name].dim() != 4:
            choices = ", ".join(map(repr, classifier.stages.values() if classifier else [])) or "e.g. 'layer3'"
            raise ValueError(
                f"Grad-CAM needs feature maps (B, C, h, w) or transformer tokens (B, N, D), but layer "
                f"{name!r} gives {tuple(captured[name].shape)}. Choose a convolutional layer, a "
                f"transformer block, or a stage ({choices})."
            )
    if not logits.requires_grad:
        raise ValueError("the logits do not depend on the chosen layers; does the model use them?")
    return logits, {name: captured[name] for name in captured.layers}, dict(captured.token_grids)


def score_gradients(features: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
    """d scores[b, i] / d features[b], for all n scores in ONE batched backward pass.

    Args:
        features: (B, C, h, w) from :func:`forward_for_gradcam` (attached to the graph).
        scores: (B, n) e.g. ``logits.gather(1, classes)``: the logit of each chosen class.

    Returns:
        (B, n, C, h, w). Each image gets the gradient of its own scores (a model
        in eval mode treats the images of a batch independently).

    The graph is kept, so this can be called again for other classes or layers.
    """
    if features.dim() != 4:  # captured by hand; forward_for_gradcam names the layer
        raise ValueError(f"Grad-CAM needs feature maps (B, C, h, w); got {tuple(features.shape)}")
    if not features.requires_grad:
        raise ValueError(
            "these features carry no graph, so no gradient can be taken; capture them with "
            "forward_for_gradcam(model, images, layers) (not with detached features)"
        )
    if scores.dim() != 2 or scores.shape[0] != features.shape[0]:
        raise ValueError(f"scores must be (B, n) with B = {features.shape[0]} images; got {tuple(scores.shape)}")
    if not scores.requires_grad:
        raise ValueError(
            "the scores carry no graph: take them from the logits of forward_for_gradcam, "
            "outside torch.no_grad() (or inside `with torch.enable_grad():`)"
        )
    batch, n = scores.shape
    with torch.inference_mode(False):
        # Row i of grad_outputs selects score i of every image: n one-hot vectors (n, B, n).
        one_hot = torch.eye(n, dtype=scores.dtype, device=scores.device)[:, None, :].expand(n, batch, n)
        gradient_of = partial(torch.autograd.grad, scores, features, retain_graph=True, allow_unused=True)
        grads = None
        if n > 1:  # for one class, vmap over one vector is slower than a plain backward pass (up to 1.5x)
            try:  # vmap over the n one-hot vectors: one backward pass
                (grads,) = gradient_of(grad_outputs=one_hot, is_grads_batched=True)  # (n, B, C, h, w)
            except RuntimeError:
                pass  # an operation between the layer and the logits without a vmap batching rule
        if grads is None:  # one class, or no vmap: one backward pass per class, the same numbers
            parts = [gradient_of(grad_outputs=row)[0] for row in one_hot]  # n x (B, C, h, w)
            grads = None if parts[0] is None else torch.stack(parts)  # (n, B, C, h, w)
    if grads is None:
        raise ValueError("the scores do not depend on these features: is the layer used before the head?")
    return grads.transpose(0, 1)  # (B, n, C, h, w)


def maps_from_weights(features: torch.Tensor, weights: torch.Tensor, *, relu: bool = True) -> torch.Tensor:
    """L_c(x, y) = ReLU(sum_k alpha_k^c A_k(x, y)): (B, C, h, w), (B, n, C) -> (B, n, h, w)."""
    maps = torch.einsum("bnc,bchw->bnhw", weights, features.detach())  # (B, n, h, w)
    return maps.clamp_min(0) if relu else maps


def grad_cam_from_features(features: torch.Tensor, scores: torch.Tensor, *, relu: bool = True) -> torch.Tensor:
    """Grad-CAM maps (B, n, h, w), detached, from a kept forward pass, without running the model again.

    ``features`` (B, C, h, w) come from :func:`forward_for_gradcam`; ``scores`` (B, n) are the
    logits of the classes to explain, e.g. ``logits[:, [281, 967]]``; ``relu`` as in :func:`grad_cam`.
    """
    weights = score_gradients(features, scores).mean(dim=(-2, -1))  # (B, n, C): alpha_k^c
    return maps_from_weights(features, weights, relu=relu).detach()


grad_cam_from_activations = grad_cam_from_features  # the old name, kept for one release


# --- The calls a learner makes ---


def cam_family(
    model: Classifier | nn.Module,
    images: torch.Tensor,
    layer: LayerSpec | None = None,
    classes: ClassSpec = None,
    *,
    methods: str | Sequence[str] = GRADIENT_METHODS,
    top_k: int = 1,
    relu: bool = True,
    tokens: TokenSpec = None,
    score_cam_batch_size: int = 32,
    progress: bool = True,
) -> dict[str, GradCAMResult]:
    """Maps of one or several CAM methods for a batch, at one layer, for chosen classes or the top-k.

    Args:
        model: a :class:`Classifier` (class names allowed) or any ``nn.Module`` that returns logits (B, K).
        images: (B, 3, H, W) a preprocessed batch.
        layer: a layer name ("layer3", "_blocks.10") or module. None: the Classifier's CAM layer
            (or its last stage when CAM does not apply; for a class-token ViT the block before the last).
        classes: a :data:`cam_helpers.classifier.ClassSpec`; None: the ``top_k`` predicted classes.
        methods: keys of :data:`METHODS` ("Grad-CAM++" and "score_cam" are understood too). The
            gradient methods together cost one forward and one batched backward pass; "scorecam"
            adds up to B * C masked forward passes, ``score_cam_batch_size`` at a time, with a progress
            bar unless ``progress=False``.
        relu: keep only positive evidence (the papers' choice).
        tokens: for a transformer block (tokens (B, N, D)): None infers the patch grid and a class
            token (a known ViT Classifier says its own), (h, w) or a :class:`~cam_helpers.tokens.TokenGrid`
            gives them. Ignored for a CNN layer.

    Returns:
        a dict: method -> its :class:`GradCAMResult`, in the order asked; all share one ``features``
        and ``logits`` tensor.

    The model is left as it was: no hooks, the same train/eval mode, no ``.grad`` on any parameter.
    """
    chosen = _check_methods(methods)
    classifier, network, index = _check_request(model, images, classes)  # index: (B, n) or None
    logits, captured, grids = _forward(model, images, [_layer_name(classifier, network, layer)], tokens)  # (B, K), {name: A}
    index = _resolve(classifier, index, logits, top_k)  # (B, n)
    ((name, features),) = captured.items()  # the layer's dotted name; A (B, C, h, w), attached to the graph
    with torch.inference_mode(False), torch.enable_grad():  # also inside the caller's no_grad()
        evidence = Evidence(
            features, logits.gather(1, index), network, images, index, score_cam_batch_size, progress
        )
        if any(METHODS[method].uses_gradients for method in chosen):
            _warn_if_no_gradient(evidence.gradients, name, grids.get(name))
        results = {}
        for method in chosen:
            row = METHODS[method]
            made = row.rule(evidence).detach()  # (B, n, C) weights or (B, n, h, w) maps
            if row.kind == "channel":
                weights, maps = made, maps_from_weights(features, made, relu=relu)  # (B, n, h, w)
            else:
                weights, maps = None, made.clamp_min(0) if relu else made
            results[method] = GradCAMResult(
                maps=maps.detach(),
                classes=index,
                logits=logits.detach(),
                features=features.detach(),
                weights=weights,
                layer=name,
                input_size=(int(images.shape[-2]), int(images.shape[-1])),
                class_names=_names(classifier, index),
                method=method,
                tokens=grids.get(name),
            )
    return results


def grad_cam(
    model: Classifier | nn.Module,
    images: torch.Tensor,
    layer: LayerSpec | None = None,
    classes: ClassSpec = None,
    *,
    top_k: int = 1,
    relu: bool = True,
    tokens: TokenSpec = None,
) -> GradCAMResult:
    """Grad-CAM maps for a batch, at any layer, for chosen classes or the top-k: the first row of
    :data:`METHODS`. The arguments are those of :func:`cam_family`.

    Returns:
        a :class:`GradCAMResult`; ``.maps`` is (B, n, h, w) at the layer's resolution.

    One forward pass and one batched backward pass, whatever n is. The model is left as it was:
    no hooks, same train/eval mode, no ``.grad`` on any parameter.
    """
    return cam_family(model, images, layer, classes, methods=["gradcam"], top_k=top_k, relu=relu, tokens=tokens)[
        "gradcam"
    ]


def fused_layer_cam(
    model: Classifier | nn.Module,
    images: torch.Tensor,
    layers: Sequence[LayerSpec],
    classes: ClassSpec = None,
    *,
    top_k: int = 1,
    gamma: float = 2.0,
    size: int | tuple[int, int] | None = None,
    tokens: TokenSpec = None,
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
    classifier, _, index = _check_request(model, images, classes)  # index: (B, n) or None
    logits, captured, _ = _forward(model, images, layers, tokens)  # {name: (B, C, h, w)}
    index = _resolve(classifier, index, logits, top_k)  # (B, n)
    per_layer = []
    with torch.inference_mode(False), torch.enable_grad():
        scores = logits.gather(1, index)  # (B, n)
        for features in captured.values():
            gradients = score_gradients(features, scores).detach()  # (B, n, C, h, w)
            per_layer.append(layer_cam_maps(features, gradients))  # (B, n, h, w)
    if size is None:
        size = (max(m.shape[-2] for m in per_layer), max(m.shape[-1] for m in per_layer))
    scaled = [upsample_maps(torch.tanh(gamma * normalize_maps(m)), size) for m in per_layer]
    return torch.stack(scaled).amax(dim=0)  # (B, n, H', W')


# --- The one check of a request: clear errors before the model runs ---


def _check_request(
    model: Classifier | nn.Module, images: torch.Tensor, classes: ClassSpec
) -> tuple[Classifier | None, nn.Module, torch.Tensor | None]:
    """Check the batch and the classes before the model runs (a class name with a typo fails here).

    Returns the Classifier (None for a plain module), the network, and the class indices (B, n), or
    None when the top-k are to be chosen after the forward pass. The layer is checked by
    :func:`cam_helpers.hooks.capture`, also before the model runs.
    """
    classifier = model if isinstance(model, Classifier) else None
    network = classifier.model if classifier is not None else model
    _check_images(images)
    if classifier is not None:
        return classifier, network, classifier.resolve_classes(classes, images.shape[0])
    # A plain module: indices only, range-checked once its logits say K (in _resolve).
    return None, network, resolve_classes(classes, images.shape[0], None)


def _resolve(
    classifier: Classifier | None, index: torch.Tensor | None, logits: torch.Tensor, top_k: int
) -> torch.Tensor:
    """The checked request on the logits' device, or the ``top_k`` predicted classes: (B, n)."""
    batch, num_classes = logits.shape
    index = resolve_classes(index, batch, num_classes, logits=logits, top_k=top_k)  # (B, n), range-checked
    # A clone outside inference mode: autograd may save it (gather's index).
    with torch.inference_mode(False):
        return index.clone()


def _layer_name(classifier: Classifier | None, network: nn.Module, layer: LayerSpec | None) -> LayerSpec:
    """The layer asked for, or :func:`default_layer`."""
    if layer is not None:
        return layer
    if classifier is None:
        raise ValueError(
            "name the layer, e.g. grad_cam(model, images, 'layer4'); "
            "list the names with [name for name, _ in model.named_modules()]"
        )
    return default_layer(classifier)


def default_layer(classifier: Classifier) -> str:
    """The layer Grad-CAM uses when none is named: the CAM layer, else the last stage (for a
    class-token ViT the block before the last, whose patch tokens still reach the head)."""
    if classifier.feature_layer is not None:
        return classifier.feature_layer
    stages = list(classifier.stages.values())
    if classifier.tokens is not None and classifier.tokens.prefix and len(stages) > 1:
        return stages[-2]  # the last block's patch tokens never reach the head: zero gradient
    if stages:
        return stages[-1]
    raise ValueError(f"{classifier.name} has no known feature layer; name the layer for Grad-CAM")


def _warn_if_no_gradient(gradients: torch.Tensor, layer: str, tokens: TokenGrid | None) -> None:
    """Say it when every gradient is exactly 0: the maps would be blank, and that is no finding."""
    if gradients.any():
        return
    why = (
        "at the last block of a class-token ViT the patch tokens never reach the head, which reads only "
        "the class token: choose an earlier block"
        if tokens is not None and tokens.prefix
        else "the chosen scores do not change with this layer's output here: choose another layer"
    )
    warnings.warn(f"every gradient at layer {layer!r} is exactly 0, so the maps are blank: {why}.", stacklevel=3)


def _names(classifier: Classifier | None, index: torch.Tensor) -> list[list[str]] | None:
    """B lists of n class names (None without a Classifier, which knows the names)."""
    if classifier is None:
        return None
    return [[classifier.class_names[i] for i in row] for row in index.tolist()]


def method_key(method: str) -> str:
    """The :data:`METHODS` key of one method name: "Grad-CAM++" -> "gradcam++", "score_cam" -> "scorecam";
    an unknown name raises a ValueError with the closest names and the choices."""
    allowed = tuple(METHODS)  # read at the call: a row added to METHODS is a method at once
    if not isinstance(method, str):
        raise ValueError(f"a CAM method is one name, e.g. 'gradcam'; got {method!r}. Choose from: {', '.join(allowed)}.")
    key = method.lower().replace("-", "").replace("_", "")
    if key not in allowed:
        hint = did_you_mean(method, list(allowed))
        raise ValueError(f"unknown CAM method {method!r}.{hint} Choose from: {', '.join(allowed)}.")
    return key


def _check_methods(methods: str | Sequence[str]) -> list[str]:
    """The methods as :data:`METHODS` names them (:func:`method_key`), each once."""
    keys = [method_key(methods)] if isinstance(methods, str) else [method_key(str(m)) for m in methods]
    if not keys:
        raise ValueError(f"choose at least one method from: {', '.join(METHODS)}")
    return list(dict.fromkeys(keys))  # each once, in the order asked


def _check_images(images: torch.Tensor) -> None:
    if not isinstance(images, torch.Tensor) or images.dim() != 4:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(
            f"images must be a preprocessed batch (B, 3, H, W); got {shape}. "
            "A single image (3, H, W) becomes a batch with .unsqueeze(0)."
        )
