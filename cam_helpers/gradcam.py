"""Grad-CAM (Selvaraju et al., ICCV 2017) for any layer of any CNN classifier.

CAM needs global average pooling -> one Linear layer, because it takes the
class weights w_k^c from that Linear layer. Grad-CAM takes them from gradients
instead, so it works at any layer and for any head:

    alpha_k^c = mean_(x, y) d y^c / d A_k(x, y)        (one weight per channel k)
    L_c(x, y) = ReLU( sum_k alpha_k^c A_k(x, y) )

with A (B, C, h, w) the output of the chosen layer and y^c the logit
(pre-softmax score) of class c.

At the last conv layer of a GAP -> FC network, d y^c / d A_k(x, y) = w_k^c / (h w)
at every position, so Grad-CAM there is exactly ReLU(CAM) / (h w).

How this module computes it:

* ONE forward pass, whose graph starts at the chosen layer (:func:`cam_helpers.hooks.capture`
  with ``start_graph=True``): the backward pass stops there, no ``.grad`` is ever written,
  and frozen parameters or a surrounding ``torch.no_grad()`` do not matter.
* ONE batched backward pass for all n classes: ``torch.autograd.grad`` with n
  one-hot ``grad_outputs`` and ``is_grads_batched=True`` (vmap over the n vectors).

    result = grad_cam(classifier, batch, "layer3", classes=["tabby", "espresso"])
    result.maps           # (B, n, 14, 14) raw Grad-CAM at the layer's resolution
    result.upsampled()    # (B, n, 224, 224) in [0, 1], ready to overlay

An explorer that switches classes keeps one :func:`forward_for_gradcam` and calls
:func:`grad_cam_from_activations` for each class: only the cheap backward part runs again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

import torch
from torch import nn

from .cam import as_class_index_tensor, upsample_and_normalize
from .classifier import ClassSpec, Classifier
from .hooks import capture, resolve_layer

__all__ = [
    "GradCAMResult", "grad_cam", "forward_for_gradcam", "grad_cam_from_activations",
    "score_gradients", "maps_from_weights",
]

LayerSpec = str | nn.Module


@dataclass
class GradCAMResult:
    """What :func:`grad_cam` returns. B images, n classes each, K classes, C channels.

    Attributes:
        maps: (B, n, h, w) Grad-CAM at the layer's own resolution (ReLU'd unless relu=False).
        classes: (B, n) the explained class indices.
        logits: (B, K) the model's output for the batch.
        activations: (B, C, h, w) the layer's output A (detached).
        weights: (B, n, C) the channel weights alpha_k^c (spatially averaged gradients).
        layer: the dotted name of the layer, e.g. "layer4".
        input_size: (H, W) of the images, the default size for :meth:`upsampled`.
        class_names: B lists of n names when a Classifier was given, else None.
    """

    maps: torch.Tensor
    classes: torch.Tensor
    logits: torch.Tensor
    activations: torch.Tensor
    weights: torch.Tensor
    layer: str
    input_size: tuple[int, int]
    class_names: list[list[str]] | None = None

    def upsampled(self, size: int | tuple[int, int] | None = None) -> torch.Tensor:
        """(B, n, H, W): the maps resized (bilinear) to ``size``, default the input's, min-max in [0, 1]."""
        return upsample_and_normalize(self.maps, size or self.input_size)

    def __repr__(self) -> str:
        b, n, h, w = self.maps.shape
        return (
            f"GradCAMResult({b} image(s), {n} class(es) each, layer {self.layer!r}: "
            f"maps {tuple(self.maps.shape)}, activations {tuple(self.activations.shape)})"
        )


def forward_for_gradcam(
    model: nn.Module | Classifier, images: torch.Tensor, layers: LayerSpec | Sequence[LayerSpec]
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Run the model ONCE and keep what Grad-CAM needs for any class at these layers.

    Args:
        model: an ``nn.Module`` classifier, or a :class:`Classifier` (its errors name its stages).
        images: (B, 3, H, W) a preprocessed batch.
        layers: one layer name / module or several, e.g. ["layer2", "layer3", "layer4"].

    Returns:
        logits (B, K) and {layer name: activation (B, C, h, w)}, both attached to
        the graph. Pass ``logits[:, classes]`` and an activation to
        :func:`grad_cam_from_activations`, as often as you like.
    """
    classifier = model if isinstance(model, Classifier) else None
    network = classifier.model if classifier is not None else model
    _check_images(images)
    with capture(network, layers, start_graph=True) as captured:
        logits = network(images)  # (B, K)
    if not isinstance(logits, torch.Tensor) or logits.dim() != 2:
        raise TypeError(
            f"the model must return logits (B, K); got "
            f"{tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__}"
        )
    requested = [layers] if isinstance(layers, (str, nn.Module)) else layers
    names = [resolve_layer(network, layer)[0] for layer in requested]
    missing = [name for name in names if name not in captured]
    if missing:
        raise ValueError(f"the forward pass did not run the layer(s) {missing}; choose layers the model uses")
    flat = [name for name in names if captured[name].dim() != 4]
    if flat:
        choices = ", ".join(map(repr, classifier.stages.values() if classifier else [])) or "e.g. 'layer3'"
        raise ValueError(
            f"Grad-CAM needs feature maps (B, C, h, w), but layer {flat[0]!r} gives "
            f"{tuple(captured[flat[0]].shape)}. Choose a convolutional layer or block ({choices})."
        )
    if not logits.requires_grad:
        raise ValueError("the logits do not depend on the chosen layers; does the model use them?")
    return logits, dict(captured)


def score_gradients(activations: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
    """d scores[b, i] / d activations[b], for all n scores in ONE batched backward pass.

    Args:
        activations: (B, C, h, w) from :func:`forward_for_gradcam` (attached to the graph).
        scores: (B, n) e.g. ``logits.gather(1, classes)``: the logit of each chosen class.

    Returns:
        (B, n, C, h, w). Each image gets the gradient of its own scores (a model
        in eval mode treats the images of a batch independently).

    The graph is kept, so this can be called again for other classes or layers.
    """
    if activations.dim() != 4:  # captured by hand; forward_for_gradcam names the layer
        raise ValueError(f"Grad-CAM needs feature maps (B, C, h, w); got {tuple(activations.shape)}")
    if not activations.requires_grad:
        raise ValueError(
            "these activations carry no graph, so no gradient can be taken; capture them with "
            "forward_for_gradcam(model, images, layers) (not with detached features)"
        )
    if scores.dim() != 2 or scores.shape[0] != activations.shape[0]:
        raise ValueError(
            f"scores must be (B, n) with B = {activations.shape[0]} images; got {tuple(scores.shape)}"
        )
    if not scores.requires_grad:
        raise ValueError(
            "the scores carry no graph: take them from the logits of forward_for_gradcam, "
            "outside torch.no_grad() (or inside `with torch.enable_grad():`)"
        )
    batch, n = scores.shape
    with torch.inference_mode(False):
        # Row i of grad_outputs selects score i of every image: n one-hot vectors (n, B, n).
        one_hot = torch.eye(n, dtype=scores.dtype, device=scores.device)[:, None, :].expand(n, batch, n)
        gradient_of = partial(torch.autograd.grad, scores, activations, retain_graph=True, allow_unused=True)
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
        raise ValueError("the scores do not depend on these activations: is the layer used before the head?")
    return grads.transpose(0, 1)  # (B, n, C, h, w)


def maps_from_weights(activations: torch.Tensor, weights: torch.Tensor, *, relu: bool = True) -> torch.Tensor:
    """L_c(x, y) = ReLU(sum_k alpha_k^c A_k(x, y)): (B, C, h, w), (B, n, C) -> (B, n, h, w)."""
    maps = torch.einsum("bnc,bchw->bnhw", weights, activations.detach())  # (B, n, h, w)
    return maps.clamp_min(0) if relu else maps


def grad_cam_from_activations(
    activations: torch.Tensor, scores: torch.Tensor, *, relu: bool = True
) -> torch.Tensor:
    """Grad-CAM maps (B, n, h, w), detached, from a kept forward pass, without running the model again.

    ``activations`` (B, C, h, w) come from :func:`forward_for_gradcam`; ``scores`` (B, n) are the
    logits of the classes to explain, e.g. ``logits[:, [281, 967]]``; ``relu`` as in :func:`grad_cam`.
    """
    weights = score_gradients(activations, scores).mean(dim=(-2, -1))  # (B, n, C): alpha_k^c
    return maps_from_weights(activations, weights, relu=relu).detach()


def grad_cam(
    model: Classifier | nn.Module,
    images: torch.Tensor,
    layer: LayerSpec | None = None,
    classes: ClassSpec = None,
    *,
    top_k: int = 1,
    relu: bool = True,
) -> GradCAMResult:
    """Grad-CAM maps for a batch, at any layer, for chosen classes or the top-k.

    Args:
        model: a :class:`Classifier` (class names allowed) or any ``nn.Module``
            that returns logits (B, K).
        images: (B, 3, H, W) a preprocessed batch.
        layer: a layer name ("layer3", "_blocks.10") or module. None: the
            Classifier's CAM layer (or its last stage when CAM does not apply).
        classes: a :data:`cam_helpers.classifier.ClassSpec` (an index or name, a list of them,
            one list per image, or a (B, n) tensor); None: the ``top_k`` predicted classes.
        top_k: how many predicted classes to explain when ``classes`` is None.
        relu: keep only positive evidence (the paper's choice).

    Returns:
        a :class:`GradCAMResult`; ``.maps`` is (B, n, h, w) at the layer's resolution.

    One forward pass and one batched backward pass, whatever n is. The model is
    left as it was: no hooks, same train/eval mode, no ``.grad`` on any parameter.
    """
    classifier, _, [name], index = _request(model, images, [layer], classes)  # index: (B, n) or None
    logits, activations = forward_for_gradcam(model, images, [name])  # (B, K), {name: (B, C, h, w)}
    features = activations[name]  # (B, C, h, w)
    index = _final_classes(index, logits, top_k)  # (B, n)
    # Ordinary tensors with gradient recording, also inside the caller's no_grad() or inference_mode().
    with torch.inference_mode(False), torch.enable_grad():
        scores = logits.gather(1, index)  # (B, n): y^c for each image and class
        weights = score_gradients(features, scores).mean(dim=(-2, -1))  # (B, n, C): alpha_k^c
        maps = maps_from_weights(features, weights, relu=relu)  # (B, n, h, w)
    return GradCAMResult(
        maps=maps.detach(),
        classes=index,
        logits=logits.detach(),
        activations=features.detach(),
        weights=weights.detach(),
        layer=name,
        input_size=(int(images.shape[-2]), int(images.shape[-1])),
        class_names=_class_names(classifier, index),
    )


# The checks of a request, shared with cam_helpers.family: clear errors before the model runs.


def _request(
    model: Classifier | nn.Module, images: torch.Tensor, layers: Sequence[LayerSpec | None],
    classes: ClassSpec,
) -> tuple[Classifier | None, nn.Module, list[str], torch.Tensor | None]:
    """Check a request before the model runs: a bad batch, layer or class name fails here.

    Returns the Classifier (None for a plain module), the network, the layers'
    dotted names (None: the default layer) and the class indices (B, n), or None for the top-k.
    """
    classifier = model if isinstance(model, Classifier) else None
    network = classifier.model if classifier is not None else model
    _check_images(images)
    layers = [_default_layer(classifier) if layer is None else layer for layer in layers]
    names = [resolve_layer(network, layer)[0] for layer in layers]
    return classifier, network, names, _resolve_classes(classifier, classes, images.shape[0])


def _final_classes(index: torch.Tensor | None, logits: torch.Tensor, top_k: int) -> torch.Tensor:
    """The requested classes, or the ``top_k`` predicted ones: (B, n), range-checked."""
    batch, num_classes = logits.shape
    if index is None:
        if not 1 <= top_k <= num_classes:
            raise ValueError(
                f"top_k must lie in 1..{num_classes} (the model has {num_classes} classes); got {top_k}"
            )
        index = logits.detach().topk(top_k, dim=-1).indices  # (B, n)
    with torch.inference_mode(False):  # a clone outside inference mode: autograd may save it (gather's index)
        return as_class_index_tensor(index, batch, num_classes, logits.device).clone()  # (B, n)


def _class_names(classifier: Classifier | None, index: torch.Tensor) -> list[list[str]] | None:
    """B lists of n class names (None without a Classifier, which knows the names)."""
    if classifier is None:
        return None
    return [[classifier.class_names[i] for i in row] for row in index.tolist()]


def _default_layer(classifier: Classifier | None) -> str:
    if classifier is None:
        raise ValueError(
            "name the layer, e.g. grad_cam(model, images, 'layer4'); "
            "list the names with [name for name, _ in model.named_modules()]"
        )
    if classifier.feature_layer is not None:
        return classifier.feature_layer
    if classifier.stages:
        return list(classifier.stages.values())[-1]
    raise ValueError(f"{classifier.name} has no known feature layer; name the layer for Grad-CAM")


def _resolve_classes(classifier: Classifier | None, classes: ClassSpec, batch: int) -> torch.Tensor | None:
    if classifier is not None:
        return classifier.resolve_classes(classes, batch)  # names checked before the model runs
    if classes is None:
        return None
    if _has_strings(classes):
        raise ValueError(
            f"class names ({classes!r}) need a Classifier, which knows the names; with a plain "
            "nn.Module give class indices, or wrap it: Classifier.from_model(model, class_names=...)"
        )
    return torch.as_tensor(classes, dtype=torch.long)


def _has_strings(classes: ClassSpec) -> bool:
    if isinstance(classes, (list, tuple)):
        return any(_has_strings(c) for c in classes)
    return isinstance(classes, str)


def _check_images(images: torch.Tensor) -> None:
    if not isinstance(images, torch.Tensor) or images.dim() != 4:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(
            f"images must be a preprocessed batch (B, 3, H, W); got {shape}. "
            "A single image (3, H, W) becomes a batch with .unsqueeze(0)."
        )

