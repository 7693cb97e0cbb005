"""A model ready for CAM and everything a notebook needs to explain it: the :class:`Classifier`.

It holds the network, its preprocessing, its class names and the names of the
two layers CAM needs (the feature maps and the final Linear layer), and turns
what a learner types for a class ("tabby", 281, ["tabby", "espresso"]) into
class indices. :func:`cam_helpers.models.load_classifier` builds one for a
known model; ``Classifier.from_model(model, ...)`` wraps your own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
import torchvision.transforms as T
from torch import nn

from .cam import as_class_index_tensor
from .cam_layers import CAMNotApplicableError, find_cam_layers, last_linear_name
from .hooks import resolve_layer
from .names import did_you_mean

__all__ = ["Classifier", "ClassSpec", "imagenet_transform", "IMAGENET_MEAN", "IMAGENET_STD"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# A class index or name, a list of them (the same for every image), one list per image, or a (B, n) tensor.
ClassSpec = int | str | Sequence[int | str] | Sequence[Sequence[int | str]] | torch.Tensor | None


def imagenet_transform(
    size: int = 224,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    interpolation: T.InterpolationMode = T.InterpolationMode.BILINEAR,
    resize: int | None = None,
) -> T.Compose:
    """Resize the short side to ``resize`` (default size/0.875), centre-crop size x size, to tensor, normalise."""
    return T.Compose(
        [
            T.Resize(resize or int(round(size / 0.875)), interpolation=interpolation),
            T.CenterCrop(size),
            T.ToTensor(),  # (3, size, size) in [0, 1]
            T.Normalize(mean, std),
        ]
    )


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
        cam_unavailable_reason: why CAM does not apply ("" when it does).
        mean, std: the input normalisation, undone by :meth:`to_display`.
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

        An unknown name raises a ``ValueError`` suggesting the closest valid names.
        """
        if isinstance(name_or_index, int) or (isinstance(name_or_index, torch.Tensor) and name_or_index.dim() == 0):
            index = int(name_or_index)
            if not 0 <= index < self.num_classes:
                raise ValueError(
                    f"class index {index} is out of range: this model has {self.num_classes} "
                    f"classes, 0..{self.num_classes - 1}"
                )
            return index
        lowered = [n.lower() for n in self.class_names]
        wanted = str(name_or_index).strip().lower()
        if wanted in lowered:
            return lowered.index(wanted)
        raise ValueError(
            f"{name_or_index!r} is not a class of {self.name}.{did_you_mean(wanted, self.class_names)} "
            "Use classifier.class_names to see them all, or give a class index."
        )

    def resolve_classes(self, classes: ClassSpec, batch: int) -> torch.Tensor | None:
        """Class indices or names -> a (B, n) long tensor, range-checked (None stays None).

        ``classes``: a class index or name, a list of them (the same for every
        image), one list per image, or a tensor; the shape rules are those of
        :func:`cam_helpers.cam.as_class_index_tensor`.
        """
        if classes is None:
            return None
        if isinstance(classes, torch.Tensor):
            index = classes.long()
        elif isinstance(classes, (int, str)):
            index = torch.tensor([self.class_index(classes)])
        else:
            items = list(classes)
            if items and all(isinstance(c, (list, tuple)) for c in items):
                index = torch.tensor([[self.class_index(c) for c in row] for row in items])  # (B, n)
            else:
                index = torch.tensor([self.class_index(c) for c in items])  # (n,)
        return as_class_index_tensor(index, batch, self.num_classes, index.device)  # (B, n)

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
        """Wrap your own model (it is put in eval mode); the CAM layers are found automatically.

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
            layers = {"feature_layer": None, "fc_layer": last_linear_name(model), "feature_activation": None}
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
