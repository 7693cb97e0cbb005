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
def torch_cache(tmp_path):
    """A temporary torch hub folder, so the test writes its own 'downloaded' files."""
    previous = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / "hub"))
    yield tmp_path / "hub" / "checkpoints"
    torch.hub.set_dir(previous)


@pytest.fixture()
def random_batch():
    def make(batch: int = 2, size: int = 224, seed: int = 0) -> torch.Tensor:
        return torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(seed))

    return make


def cuda_available() -> bool:
    return torch.cuda.is_available()


# --- Run-All timings (tests/test_run_all.py): measured and printed, never asserted ---
NOTEBOOK_TIMES = pytest.StashKey[dict]()


@pytest.fixture(scope="session")
def notebook_times(request) -> dict:
    """notebook id -> (wall seconds, passed), filled by test_run_all and printed at the end."""
    return request.config.stash.setdefault(NOTEBOOK_TIMES, {})


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    times = config.stash.get(NOTEBOOK_TIMES, {})
    if not times:
        return
    terminalreporter.section("notebook run times (Run All, wall clock)")
    for name, (seconds, passed) in sorted(times.items()):
        terminalreporter.write_line(f"{name:<45} {seconds:7.1f} s  {'ok' if passed else 'FAILED'}")
    terminalreporter.write_line(f"{'total':<45} {sum(s for s, _ in times.values()):7.1f} s")
