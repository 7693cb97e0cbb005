"""The :class:`Classifier`: a network, its preprocessing, class names and the two layers CAM needs.

It turns what a learner types for a class ("tabby", 281, ["tabby", "espresso"]) into class indices.
:func:`cam_helpers.models.load_classifier` builds one for a known model; ``Classifier.from_model``
wraps your own.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
import torchvision.transforms as T
from torch import nn

from .cam import as_class_index_tensor
from .cam_layers import CAMNotApplicableError, find_cam_layers
from .hooks import resolve_layer
from .names import did_you_mean

__all__ = ["Classifier", "ClassSpec", "imagenet_transform", "IMAGENET_MEAN", "IMAGENET_STD"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

#: A class index or name, a list of them (the same for every image), one list per image, or a (B, n) tensor.
ClassSpec = int | str | Sequence[int | str] | Sequence[Sequence[int | str]] | torch.Tensor | None


def imagenet_transform(
    size: int = 224,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    interpolation: T.InterpolationMode = T.InterpolationMode.BILINEAR,
) -> T.Compose:
    """Resize the short side to size / 0.875, centre-crop to size x size, normalise."""
    resize_and_crop = [T.Resize(round(size / 0.875), interpolation=interpolation), T.CenterCrop(size)]
    return T.Compose(resize_and_crop + [T.ToTensor(), T.Normalize(mean, std)])  # -> (3, size, size)


@dataclass
class Classifier:
    """A model ready for CAM, and everything a notebook needs to explain it (K classes, C channels)."""

    name: str  # e.g. "resnet18"
    model: nn.Module  # the network, in eval mode
    transform: Callable  # PIL image -> tensor (3, H, W), the preprocessing the weights expect
    class_names: list[str]  # K names, index = class
    # The dotted name of the layer whose output (B, C, h, w) feeds global average pooling ("layer4");
    # None when CAM does not apply, and cam_unavailable_reason says why.
    feature_layer: str | None
    fc_layer: str  # the dotted name of the final Linear layer, weight (K, C)
    # Applied to the captured features before pooling when the model does it functionally
    # (DenseNet's F.relu), else None.
    feature_activation: Callable[[torch.Tensor], torch.Tensor] | None = None
    stages: dict[str, str] = field(default_factory=dict)  # label -> layer name, for Grad-CAM and the explorer
    input_size: int = 224  # the side of the square input the model was trained on
    description: str = ""  # one line: which model and weights these are
    note: str = ""  # why this model is used when another was asked for
    pretrained: bool = True
    cam_unavailable_reason: str = ""
    mean: tuple[float, float, float] = IMAGENET_MEAN  # the input normalisation, undone by to_display
    std: tuple[float, float, float] = IMAGENET_STD

    @property
    def fc(self) -> nn.Linear:
        """The final Linear layer; ``fc.weight`` is (K, C)."""
        return resolve_layer(self.model, self.fc_layer)[1]

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
        """The index of a class given by index or name (case-insensitive); unknown names get suggestions."""
        if isinstance(name_or_index, numbers.Integral) or (
            isinstance(name_or_index, torch.Tensor) and name_or_index.dim() == 0
        ):
            index = int(name_or_index)  # an int, a NumPy integer or a 0-dim tensor
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
        """Class indices or names (a :data:`ClassSpec`) -> a (B, n) long tensor, range-checked, or None.

        The shape rules are those of :func:`cam_helpers.cam.as_class_index_tensor`.
        """
        if classes is None:
            return None
        if isinstance(classes, torch.Tensor):
            index = classes.long()
        else:
            items = [classes] if isinstance(classes, (numbers.Number, str)) else list(classes)  # one class
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
        name = name or type(model).__name__
        try:
            layers = find_cam_layers(model, input_size=input_size, model_name=name)
        except CAMNotApplicableError as error:
            linears = [layer for layer, module in model.named_modules() if isinstance(module, nn.Linear)]
            if require_cam or not linears:  # no Linear layer at all: nothing gives the class scores
                raise
            layers = dict(feature_layer=None, fc_layer=linears[-1], cam_unavailable_reason=str(error))
        num_classes = resolve_layer(model, layers["fc_layer"])[1].out_features
        if class_names is None:
            class_names = [f"class {i}" for i in range(num_classes)]
        if len(class_names) != num_classes:
            raise ValueError(
                f"{len(class_names)} class names were given but the model's final layer has "
                f"{num_classes} outputs; give one name per output"
            )
        return cls(
            name=name,
            model=model,
            transform=transform or imagenet_transform(input_size, mean, std),
            mean=tuple(mean),
            std=tuple(std),
            class_names=list(class_names),
            stages=stages or {},
            input_size=input_size,
            description=f"{name} (your own model)",
            **layers,
        )
