"""Fake ResNet18 weights for the tests of the weights cache (test_weights, test_doctor, test_cli).

Random ResNet18 weights under torchvision's file name, with a seeded classifier layer the tests
recognise after loading: what a test can make itself, offline (torch.hub cannot download here).
"""

from __future__ import annotations

import torch
import torchvision

RESNET18_FILE = "resnet18-f37072fd.pth"  # torchvision's file name: <model>-<first 8 hex digits of its SHA-256>.pth


def seeded_fc_weight() -> torch.Tensor:
    """The classifier layer planted in the random ResNet18, shape (1000, 512): the same numbers on every call."""
    return torch.nn.init.normal_(torch.empty(1000, 512), generator=torch.Generator().manual_seed(0))


def random_resnet18() -> torch.nn.Module:
    model = torchvision.models.resnet18(weights=None)
    with torch.no_grad():
        model.fc.weight.copy_(seeded_fc_weight())  # (1000, 512): what the tests recognise after loading
    return model


# --- A ResNet18 checkpoint on disk, shared: test_doctor and test_cli import these two fixtures ---
