"""The :class:`Classifier`: a network, its preprocessing, class names and the two layers CAM needs.

It is also the one place that turns what a learner types for a class ("tabby", 281,
["tabby", "espresso"], one list per image, a NumPy integer, or nothing: the top-k predictions)
into a (B, n) tensor of class indices: :func:`resolve_classes`, which every other module calls
(with a plain ``nn.Module``, which knows no names, it takes indices only).
:func:`cam_helpers.models.load_classifier` builds a Classifier for a known model;
``Classifier.from_model`` wraps your own.
"""

from __future__ import annotations

import hashlib
import numbers
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torchvision.transforms as T
from torch import nn

from .cam_layers import CAMNotApplicableError, find_cam_layers
from .hooks import resolve_layer
from .images import denormalize
from .names import did_you_mean
from .tokens import TokenGrid

__all__ = ["Classifier", "ClassSpec", "resolve_classes", "imagenet_transform", "IMAGENET_MEAN", "IMAGENET_STD"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

#: A class index or name, a list of them (the same for every image), one list per image, or a (B, n) tensor.
#: None: the top-k predicted classes of each image.
ClassSpec = int | str | Sequence[int | str] | Sequence[Sequence[int | str]] | torch.Tensor | None


def resolve_classes(
    classes: ClassSpec,
    batch: int,
    num_classes: int | None,
    *,
    class_names: Sequence[str] | None = None,
    logits: torch.Tensor | None = None,
    top_k: int = 1,
    model_name: str = "the model",
) -> torch.Tensor | None:
    """A learner's class request -> a (B, n) long tensor of class indices, range-checked.

    Args:
        classes: a :data:`ClassSpec`. An int or name: the same class for every image; a list of n:
            the same n classes for every image; one list per image (B lists of n), or a (B, n) tensor:
            each image its own. Names (case-insensitive) need ``class_names``.
        batch: B, the number of images.
        num_classes: K, the number of outputs of the model; None: not known yet (no range check).
        class_names: the K names; None for a plain ``nn.Module`` (then names are refused).
        logits: (B, K) the model's output. With ``classes=None`` it gives the ``top_k`` predicted
            classes of each image; without logits, ``classes=None`` returns None (decide after the
            forward pass: call again with the logits).
        model_name: named in the error messages.

    Returns:
        (B, n) long tensor on the logits' device (else where the request was), or None (see above).
    """
    if classes is None:
        if logits is None:
            return None
        if not 1 <= top_k <= num_classes:
            raise ValueError(f"top_k must lie in 1..{num_classes} (the model has {num_classes} classes); got {top_k}")
        return logits.detach().topk(top_k, dim=-1).indices  # (B, n)

    def one(item) -> int:  # one class by index or name
        return _class_index(item, num_classes, class_names, model_name)

    if isinstance(classes, torch.Tensor):
        if classes.is_floating_point():
            raise ValueError(f"class indices must be integers; got a {classes.dtype} tensor")
        index = classes.long()
    else:
        items = [classes] if isinstance(classes, (numbers.Number, str)) else list(classes)  # one class
        if items and all(isinstance(c, (list, tuple)) for c in items):
            index = torch.tensor([[one(c) for c in row] for row in items], dtype=torch.long)  # (B, n)
        else:
            index = torch.tensor([one(c) for c in items], dtype=torch.long)  # (n,)
    if index.dim() == 0:
        index = index.view(1, 1).expand(batch, 1)  # (B, 1): the same class for every image
    elif index.dim() == 1:
        index = index.view(1, -1).expand(batch, -1)  # (B, n): the same n classes for every image
    elif index.dim() != 2 or index.shape[0] != batch:
        raise ValueError(
            f"classes must be an int, a list of class indices, or one list per image "
            f"(shape ({batch}, n)); got shape {tuple(index.shape)}"
        )
    if index.numel() and (int(index.min()) < 0 or (num_classes is not None and int(index.max()) >= num_classes)):
        raise ValueError(f"class indices must lie in {_valid(num_classes, model_name)}; got {index.unique().tolist()[:10]}")
    return index.to(logits.device) if logits is not None else index


def _valid(num_classes: int | None, model_name: str) -> str:
    if num_classes is None:
        return "0 or more"
    return f"0..{num_classes - 1} ({model_name} has {num_classes} classes)"


def _class_index(item, num_classes: int, class_names: Sequence[str] | None, model_name: str) -> int:
    """One class given by index (an int, a NumPy integer, a 0-dim tensor) or by name."""
    if isinstance(item, numbers.Integral) or (
        isinstance(item, torch.Tensor) and item.dim() == 0 and not item.is_floating_point()
    ):
        index = int(item)
        if index < 0 or (num_classes is not None and index >= num_classes):
            raise ValueError(f"class index {index} is out of range: it must lie in {_valid(num_classes, model_name)}")
        return index
    if not isinstance(item, str):
        raise ValueError(
            f"{item!r} is not a class of {model_name}: give an integer class index or a class name "
            f"(got a {type(item).__name__})"
        )
    if class_names is None:
        raise ValueError(
            f"class names ({item!r}) need a Classifier, which knows the names; with a plain "
            "nn.Module give class indices, or wrap it: Classifier.from_model(model, class_names=...)"
        )
    lowered = [n.lower() for n in class_names]
    wanted = item.strip().lower()
    if wanted in lowered:
        return lowered.index(wanted)
    raise ValueError(
        f"{item!r} is not a class of {model_name}.{did_you_mean(wanted, list(class_names))} "
        "Use classifier.class_names to see them all, or give a class index."
    )


def imagenet_transform(
    size: int = 224,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    interpolation: T.InterpolationMode = T.InterpolationMode.BILINEAR,
) -> T.Compose:
    """Resize the short side to size / 0.875, centre-crop to size x size, normalise."""
    resize_and_crop = [T.Resize(round(size / 0.875), interpolation=interpolation), T.CenterCrop(size)]
    return T.Compose(resize_and_crop + [T.ToTensor(), T.Normalize(mean, std)])  # -> (3, size, size)


def _sha256(path: Path) -> str:
    """The file's SHA-256 in hex, read in 1 MiB pieces (a ResNet18 checkpoint is 45 MB)."""
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for piece in iter(lambda: file.read(1 << 20), b""):  # hashlib.file_digest needs Python 3.11
            digest.update(piece)
    return digest.hexdigest()


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
    # How Grad-CAM reads a transformer block's tokens (B, N, D) as maps (B, D, h, w); None for a CNN
    # (and for a ViT whose patch grid can be inferred).
    tokens: TokenGrid | None = None

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
        return _class_index(name_or_index, self.num_classes, self.class_names, self.name)

    def resolve_classes(
        self, classes: ClassSpec, batch: int, *, logits: torch.Tensor | None = None, top_k: int = 1
    ) -> torch.Tensor | None:
        """:func:`resolve_classes` with this model's class names: a :data:`ClassSpec` -> (B, n) or None."""
        return resolve_classes(
            classes, batch, self.num_classes, class_names=self.class_names, logits=logits, top_k=top_k,
            model_name=self.name,
        )

    def to_display(self, batch: torch.Tensor) -> torch.Tensor:
        """Undo this model's input normalisation: (B, 3, H, W) -> the same in [0, 1], for plotting
        (:func:`cam_helpers.images.denormalize` with :attr:`mean` and :attr:`std`)."""
        return denormalize(batch, self.mean, self.std)

    def require_cam(self) -> None:
        """Raise :class:`CAMNotApplicableError` if CAM is not defined for this model."""
        if self.feature_layer is None:
            raise CAMNotApplicableError(self.cam_unavailable_reason)

    def summary(self) -> str:
        """A few visible lines for the notebook: which model is in use, where its weights came from, and why.

        For torchvision's models the weights file is looked up again where ``load_classifier`` read it
        (``$CAM_HELPERS_WEIGHTS``, then the torch cache: ``weights.find_weights``) and its SHA-256 compared
        with the prefix in torchvision's file name, as ``torch.hub`` does for a download. A file from
        ``$CAM_HELPERS_WEIGHTS`` is named with its folder; a file whose hash differs (substitute weights,
        e.g. the tests' random ResNet18) is not called ImageNet's.
        """
        from .weights import WEIGHTS_DIR_ENV, find_weights, weights_url

        description, where = self.description, ""
        try:
            found = find_weights(weights_url(self.name)) if self.pretrained else None
        except ValueError:  # not a torchvision model (the offline model, your own): no file to look up
            found = None
        if found is not None:
            folder = os.environ.get(WEIGHTS_DIR_ENV)
            place = (f"the folder in {WEIGHTS_DIR_ENV}" if folder and found.parent == Path(folder).expanduser()
                     else "the torch cache")
            expected = torch.hub.HASH_REGEX.search(found.name)  # "resnet18-f37072fd.pth" -> "f37072fd"
            if expected and not _sha256(found).startswith(expected.group(1)):
                description = description.replace("torchvision's ImageNet weights", "substitute weights")
                description = description.replace("ImageNet trunk", "substitute trunk")
                where = (f"Weights: read from {found} ({place}); not torchvision's ImageNet file "
                         f"(its SHA-256 does not begin with {expected.group(1)})")
            elif place != "the torch cache":
                where = f"Weights: torchvision's ImageNet file, read from {found} ({place})"
        lines = [f"Model: {description}", where, f"Note: {self.note}" if self.note else ""]
        return "\n".join(line for line in lines if line)

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
