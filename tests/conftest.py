"""Shared fixtures. Tests never touch the network: CAM_HELPERS_OFFLINE is set here too."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

os.environ.setdefault("CAM_HELPERS_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

import pytest  # noqa: E402
import torch  # noqa: E402

from cam_helpers.models import load_classifier  # noqa: E402
from fake_weights import RESNET18_FILE, random_resnet18  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def _fresh_weights_cache(tmp_path_factory):
    """One empty trained-weights cache (cam_helpers.train) for the whole session, never the learner's own.

    Set in os.environ, so the notebook kernels of test_run_all inherit it: an English notebook trains
    its seeded networks and fills the cache, and its Korean twin (run later, same seeds, data and
    code) loads them, as a learner's second run does.
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CAM_HELPERS_CACHE", str(tmp_path_factory.mktemp("cam_helpers_cache")))
        yield


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


@pytest.fixture(scope="session")
def resnet18_checkpoint(tmp_path_factory) -> Path:
    """Random ResNet18 weights under torchvision's file name (47 MB), written once per test session.

    Tests copy it where they need it and never change it.
    """
    path = tmp_path_factory.getbasetemp() / "random_resnet18" / RESNET18_FILE
    if not path.exists():
        path.parent.mkdir(exist_ok=True)
        partial = path.with_suffix(".part")
        torch.save(random_resnet18().state_dict(), partial)
        partial.rename(path)  # whole or absent: a crash never leaves half a checkpoint to a later test
    return path


@pytest.fixture()
def torch_home_with_resnet18(resnet18_checkpoint, tmp_path, monkeypatch) -> Path:
    """A learner's TORCH_HOME whose hub/checkpoints holds ResNet18's weights; returns that checkpoints folder.

    Offline, and no CAM_HELPERS_WEIGHTS folder: the torch cache is the only place to find them.
    """
    checkpoints = tmp_path / "torch_home" / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    shutil.copyfile(resnet18_checkpoint, checkpoints / RESNET18_FILE)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    # torch.hub.get_dir() reads TORCH_HOME on every call, unless torch.hub.set_dir() was called, as the
    # torch_cache fixture does: forget that folder for this test, as in a fresh interpreter.
    monkeypatch.setattr(torch.hub, "_hub_dir", None)
    monkeypatch.setenv("CAM_HELPERS_OFFLINE", "1")
    monkeypatch.delenv("CAM_HELPERS_WEIGHTS", raising=False)
    return checkpoints


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
