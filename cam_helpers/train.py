"""Two small CNNs with the same conv trunk, and a seeded training loop.

The two models differ only in their head, which is the whole point of CAM:

    GAPNet:      trunk -> (B, C, 8, 8) -> global average pool -> (B, C)     -> Linear -> (B, K)
    FlattenNet:  trunk -> (B, C, 8, 8) -> flatten              -> (B, C*64)  -> Linear -> (B, K)

GAPNet's ``fc.weight`` is (K, C): one weight per feature map, so the class map
M_c(x, y) = sum_k w_k^c f_k(x, y) exists. FlattenNet's is (K, C*64): a weight per feature *and
position*, so there is no single map to draw. Both name the trunk ``features`` and the final
Linear ``fc``, as :mod:`cam_helpers.cam` expects.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm  # a notebook widget in Jupyter, a text bar elsewhere

from .hooks import eval_mode

__all__ = [
    "GAPNet", "FlattenNet", "TrainingHistory", "train_model", "predict", "accuracy", "count_parameters",
]

DEFAULT_CHANNELS = (16, 32, 64, 128)


def _conv_trunk(channels: Sequence[int] = DEFAULT_CHANNELS) -> nn.Sequential:
    """Conv blocks (conv 3x3 -> batch norm -> ReLU, then 2x2 max-pool except the last).

    With 4 blocks a (B, 3, 64, 64) batch becomes (B, channels[-1], 8, 8).
    ReLUs are not in-place: in-place ReLUs break hooks that read activations.
    """
    blocks = []
    for i, (in_channels, out_channels) in enumerate(zip((3, *channels), channels)):
        layers = [
            nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=False),
        ]
        if i < len(channels) - 1:
            layers.append(nn.MaxPool2d(2))  # halve the resolution
        blocks.append(nn.Sequential(*layers))
    return nn.Sequential(*blocks)


class GAPNet(nn.Module):
    """trunk -> global average pooling -> Linear: a CAM-ready classifier.

    ``channels``: of the conv blocks, C = channels[-1]; ``seed``: if given, the initial weights
    depend only on it (the global random state is left untouched).
    Shapes: (B, 3, H, W) -> features (B, C, H/8, W/8) -> (B, C) -> (B, K), K = ``num_classes``.
    """

    def __init__(self, num_classes: int, channels: Sequence[int] = DEFAULT_CHANNELS, seed: int | None = None):
        super().__init__()
        with _seeded(seed):  # the initial weights depend only on the seed
            self.features = _conv_trunk(channels)
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.flatten = nn.Flatten()
            self.fc = nn.Linear(channels[-1], num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        features = self.features(images)  # (B, C, h, w)
        pooled = self.flatten(self.pool(features))  # (B, C)
        return self.fc(pooled)  # (B, K)


class FlattenNet(nn.Module):
    """trunk -> flatten -> Linear: the "traditional" head, where CAM is not possible.

    ``channels`` and ``seed`` as in :class:`GAPNet` (the same trunk); ``image_size`` H = W of
    the input fixes the Linear's input size C * (H/8)**2.
    Shapes: (B, 3, H, W) -> features (B, C, H/8, W/8) -> (B, C*H*W/64) -> (B, K).
    """

    def __init__(
        self,
        num_classes: int,
        channels: Sequence[int] = DEFAULT_CHANNELS,
        image_size: int = 64,
        seed: int | None = None,
    ):
        super().__init__()
        side = image_size // 2 ** (len(channels) - 1)  # each pool halves the side
        with _seeded(seed):  # the initial weights depend only on the seed
            self.features = _conv_trunk(channels)
            self.flatten = nn.Flatten()
            self.fc = nn.Linear(channels[-1] * side * side, num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        features = self.features(images)  # (B, C, h, w)
        return self.fc(self.flatten(features))  # (B, C*h*w) -> (B, K)


@dataclass
class TrainingHistory:
    """What happened during training: per epoch the mean training cross-entropy (``loss``) and the
    training ``accuracy`` (on the batches, while the model was learning); the run's wall-clock ``seconds``."""

    loss: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    seconds: float = 0.0


def train_model(
    model: nn.Module,
    dataset,
    epochs: int = 6,
    batch_size: int = 64,
    lr: float = 1e-3,
    seed: int = 0,
    progress: bool = True,
) -> TrainingHistory:
    """Train with Adam and cross-entropy (the same seed, the same weights); the model ends in eval mode.

    Args:
        model: e.g. :class:`GAPNet`; trained in place on its own device.
        dataset: anything with ``.images`` (N, 3, H, W) and ``.labels`` (N,),
            such as :class:`cam_helpers.synthetic.SyntheticShapes`.
        seed: fixes the order of the batches (a private ``torch.Generator``;
            the global random state is not touched). Build the model with
            ``seed=`` too for fully reproducible weights.
        progress: show a progress bar (tqdm) with the epoch and loss.
    """
    images, labels = _images_and_labels(dataset)
    device = next(model.parameters()).device
    n = images.shape[0]
    if n == 0:
        raise ValueError("the dataset has no images to train on; make it with num_images >= 1")
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    history = TrainingHistory()
    bar = tqdm(total=epochs * math.ceil(n / batch_size), desc="training", unit="batch", disable=not progress)
    start = time.perf_counter()
    model.train()
    for epoch in range(epochs):
        order = torch.randperm(n, generator=generator)  # shuffled on the CPU: same order on any device
        loss_sum, correct, seen = 0.0, 0, 0
        for batch in order.split(batch_size):
            x = images[batch].to(device, non_blocking=True)  # (b, 3, H, W)
            y = labels[batch].to(device, non_blocking=True)  # (b,)
            logits = model(x)  # (b, K)
            loss = F.cross_entropy(logits, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum += loss.item() * len(batch)
            correct += (logits.argmax(dim=1) == y).sum().item()
            seen += len(batch)
            bar.update(1)
            bar.set_postfix(epoch=epoch + 1, loss=f"{loss.item():.3f}")
        history.loss.append(loss_sum / seen)
        history.accuracy.append(correct / seen)
    bar.close()
    history.seconds = time.perf_counter() - start
    optimizer.zero_grad(set_to_none=True)  # leave no .grad behind on the parameters
    model.eval()
    return history


@torch.no_grad()
def predict(model: nn.Module, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """Logits (N, K) for images (N, 3, H, W), in eval mode, batch by batch.

    Every module's train/eval flag is restored afterwards."""
    device = next(model.parameters()).device
    with eval_mode(model):
        logits = [model(chunk.to(device)) for chunk in images.split(batch_size)]  # (b, K) each
    return torch.cat(logits)  # (N, K)


def accuracy(model: nn.Module, dataset, batch_size: int = 256) -> float:
    """Fraction of images classified correctly; ``dataset`` as in :func:`train_model`."""
    images, labels = _images_and_labels(dataset)
    predicted = predict(model, images, batch_size).argmax(dim=1)
    return (predicted.cpu() == labels.cpu()).float().mean().item()


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameter values (e.g. GAPNet's fc has K*C + K)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


@contextmanager
def _seeded(seed: int | None) -> Iterator[None]:
    """A block with the global RNG seeded; fork_rng puts the caller's RNG state back (None: no-op)."""
    with torch.random.fork_rng(devices=[], enabled=seed is not None):
        if seed is not None:
            torch.manual_seed(seed)
        yield


def _images_and_labels(dataset) -> tuple[torch.Tensor, torch.Tensor]:
    if hasattr(dataset, "images") and hasattr(dataset, "labels"):
        return dataset.images, dataset.labels
    name = type(dataset).__name__
    raise TypeError(f"dataset needs .images (N, 3, H, W) and .labels (N,), like SyntheticShapes; got {name}")
