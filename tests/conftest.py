"""Shared fixtures. Tests never touch the network: CAM_HELPERS_OFFLINE is set here too."""

from __future__ import annotations

import os

os.environ.setdefault("CAM_HELPERS_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

import pytest  # noqa: E402
import torch  # noqa: E402

from cam_helpers.models import load_classifier  # noqa: E402


@pytest.fixture(scope="session")
def lite0():
    """The offline ImageNet model (EfficientNet-Lite0, pretrained)."""
    return load_classifier("efficientnet_lite0")


@pytest.fixture(scope="session")
def resnet18_random():
    """ResNet18 with random weights: the shapes and identities hold all the same."""
    torch.manual_seed(0)
    return load_classifier("resnet18", pretrained=False)


@pytest.fixture()
def random_batch():
    def make(batch: int = 2, size: int = 224, seed: int = 0) -> torch.Tensor:
        return torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(seed))

    return make


def cuda_available() -> bool:
    return torch.cuda.is_available()
