"""One call a learner can use: ``explain(classifier, image)`` -> predictions and CAMs.

    result = explain(classifier, "images/cat_and_coffee.jpg", classes=["tabby", "espresso"])
    result.maps          # (B, n, 7, 7)     M_c(x, y) = sum_k w_k^c f_k(x, y), at the features' resolution
    result.upsampled()   # (B, n, 224, 224) normalised to [0, 1], ready to overlay
    result.probabilities # (B, K)

``maps`` means the same thing here as in :class:`cam_helpers.gradcam.GradCAMResult`: (B, n, h, w) at
the layer's resolution; ``upsampled()`` gives both results' maps at the image's size.

The model runs once; the maps for every class come from the captured features.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch
from torch import nn

from .cam import class_activation_maps, upsample_and_normalize
from .classifier import ClassSpec, Classifier
from .hooks import capture
from .images import preprocess

__all__ = ["Explanation", "explain", "class_maps", "forward_with_features"]


@dataclass
class Explanation:
    """What :func:`explain` returns. B images, n classes each, K classes in all.

    Attributes:
        inputs: (B, 3, H, W) the preprocessed batch the model saw.
        display_images: (B, 3, H, W) the same images in [0, 1], for plotting.
        logits: (B, K); probabilities: (B, K) softmax of the logits.
        features: (B, C, h, w) the last conv output (after the model's own activation).
        classes: (B, n) the explained class indices; class_names: B lists of n names.
        class_probabilities: (B, n) probability (softmax output) of each explained class.
        maps: (B, n, h, w) CAMs at the features' resolution (bias/ReLU as asked).
        all_class_names: the K class names of the model.
        upsample_mode: "bilinear" or "nearest", the default of :meth:`upsampled`.
    """

    inputs: torch.Tensor
    display_images: torch.Tensor
    logits: torch.Tensor
    probabilities: torch.Tensor
    features: torch.Tensor
    classes: torch.Tensor
    class_names: list[list[str]]
    class_probabilities: torch.Tensor
    maps: torch.Tensor
    all_class_names: list[str]
    upsample_mode: str = "bilinear"

    def upsampled(self, size: int | tuple[int, int] | None = None, mode: str | None = None) -> torch.Tensor:
        """(B, n, H, W): the maps resized to ``size`` (default: the input's), each min-max in [0, 1]."""
        size = size or tuple(self.inputs.shape[-2:])
        return upsample_and_normalize(self.maps, size, mode=mode or self.upsample_mode)

    @property
    def raw_maps(self) -> torch.Tensor:
        """The old name of :attr:`maps` (kept for one release; ``maps`` used to be the upsampled ones)."""
        warnings.warn(
            "Explanation.raw_maps is now .maps; the upsampled maps are .upsampled()", FutureWarning, stacklevel=2
        )
        return self.maps

    def top(self, k: int = 5, image: int = 0) -> list[tuple[str, float]]:
        """The k most probable classes of one image as (name, probability)."""
        values, indices = self.probabilities[image].topk(k)
        return [(self.all_class_names[i], float(v)) for v, i in zip(values.tolist(), indices.tolist())]

    def __repr__(self) -> str:
        b, n = self.classes.shape
        shown = zip(self.class_names[0], self.class_probabilities[0].tolist())
        first = ", ".join(f"{name} {p:.1%}" for name, p in shown)
        return (
            f"Explanation({b} image(s), {n} class(es) each; maps {tuple(self.maps.shape)}, "
            f"upsampled to {tuple(self.inputs.shape[-2:])}; image 0: {first})"
        )


def forward_with_features(classifier: Classifier, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One forward pass -> ``(logits (B, K), features (B, C, h, w))``: eval mode, no graph, no hook left."""
    classifier.require_cam()
    with capture(classifier.model, classifier.feature_layer) as captured:
        logits = classifier.model(batch)  # (B, K)
    features = captured[classifier.feature_layer]  # (B, C, h, w)
    if classifier.feature_activation is not None:
        features = classifier.feature_activation(features)
    return logits, features


def explain(
    classifier: Classifier,
    images,
    classes: ClassSpec = None,
    *,
    top_k: int = 3,
    relu: bool = False,
    with_bias: bool = False,
    upsample: str = "bilinear",
) -> Explanation:
    """Predictions and class activation maps for one image or a batch.

    Args:
        classifier: from :func:`cam_helpers.load_classifier`.
        images: a path, PIL image, array, tensor, a list of these, or a
            preprocessed batch (B, 3, H, W).
        classes: a :data:`~cam_helpers.classifier.ClassSpec`, or None: the ``top_k`` predicted
            classes of each image. Names are case-insensitive; unknown names suggest close ones.
        top_k: how many predicted classes to explain when ``classes`` is None.
        relu: keep only positive evidence in the maps.
        with_bias: add b_c to raw maps so their spatial mean is the logit.
        upsample: "bilinear" or "nearest": the default of :meth:`Explanation.upsampled`.
    """
    if isinstance(images, torch.Tensor) and images.dim() == 4:
        batch = images.to(classifier.device)  # already preprocessed
    else:
        batch = preprocess(images, classifier.transform, device=classifier.device)  # (B, 3, H, W)
    logits, features = forward_with_features(classifier, batch)  # (B, K), (B, C, h, w)
    probabilities = logits.softmax(dim=-1)  # (B, K)
    top_k = min(top_k, classifier.num_classes)
    index = classifier.resolve_classes(classes, batch.shape[0], logits=logits, top_k=top_k)  # (B, n)
    maps = _cam(classifier, features, index, with_bias, relu)  # (B, n, h, w)
    if upsample not in ("bilinear", "nearest"):
        raise ValueError(f"upsample must be 'bilinear' or 'nearest'; got {upsample!r}")
    return Explanation(
        inputs=batch,
        display_images=classifier.to_display(batch),
        logits=logits,
        probabilities=probabilities,
        features=features,
        classes=index,
        class_names=[[classifier.class_names[i] for i in row] for row in index.tolist()],
        class_probabilities=probabilities.gather(1, index),
        maps=maps,
        all_class_names=classifier.class_names,
        upsample_mode=upsample,
    )


def class_maps(
    model: Classifier | nn.Module,
    images: torch.Tensor,
    classes: ClassSpec,
    *,
    relu: bool = False,
    with_bias: bool = False,
) -> torch.Tensor:
    """Raw CAMs for a preprocessed batch, from a Classifier or any GAP -> FC ``nn.Module``.

    Args:
        model: a :class:`Classifier`, or a plain module (your own trained network):
            its CAM layers are found with :func:`cam_helpers.cam_layers.find_cam_layers`.
        images: (B, 3, H, W) preprocessed.
        classes: as in :func:`explain`, but None means all K classes (n = K);
            a (B,) tensor gives each image its own class.
    Returns:
        (B, n, h, w) maps at feature resolution.
    """
    if not isinstance(model, Classifier):
        model = Classifier.from_model(model, input_size=int(images.shape[-1]))
    if isinstance(classes, torch.Tensor) and classes.dim() == 1 and classes.numel() == images.shape[0] > 1:
        classes = classes.view(-1, 1)  # one class per image
    _, features = forward_with_features(model, images.to(model.device))
    index = model.resolve_classes(classes, images.shape[0])  # (B, n), or None: every class
    return _cam(model, features, index, with_bias, relu)  # (B, n, h, w)


def _cam(
    classifier: Classifier, features: torch.Tensor, index: torch.Tensor | None, with_bias: bool, relu: bool
) -> torch.Tensor:
    """M_c = sum_k w_k^c f_k (+ b_c): features (B, C, h, w), index (B, n) or None (all K) -> (B, n, h, w)."""
    fc = classifier.fc
    bias = fc.bias.detach() if with_bias and fc.bias is not None else None
    return class_activation_maps(features, fc.weight.detach(), index, bias, relu=relu)
