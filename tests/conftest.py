"""Shared fixtures. Tests never touch the network: CAM_HELPERS_OFFLINE is set here too."""

from __future__ import annotations

import inspect
import os
import shutil
import tempfile
from pathlib import Path

os.environ.setdefault("CAM_HELPERS_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

import pytest  # noqa: E402
import torch  # noqa: E402
from nbval.plugin import IPyNbFile  # noqa: E402

from cam_helpers.models import load_classifier  # noqa: E402
from fake_weights import RESNET18_FILE, random_resnet18  # noqa: E402

WEIGHTS_CACHE = pytest.StashKey[tuple]()


def pytest_sessionstart(session):
    """One empty trained-weights cache (cam_helpers.train) for the whole session, never the learner's own.

    Set in os.environ at session start (not by a fixture: nbval's notebook cells take no fixtures), so
    the notebook kernels of test_run_all inherit it: an English notebook trains its seeded networks and
    fills the cache, and its Korean twin (run later, same seeds, data and code) loads them, as a
    learner's second run does.
    """
    cache = tempfile.TemporaryDirectory(prefix="cam_helpers_cache-")
    session.config.stash[WEIGHTS_CACHE] = (cache, os.environ.get("CAM_HELPERS_CACHE"))
    os.environ["CAM_HELPERS_CACHE"] = cache.name


def pytest_sessionfinish(session):
    cache, before = session.config.stash.get(WEIGHTS_CACHE, (None, None))
    if cache is None:
        return
    if before is None:
        os.environ.pop("CAM_HELPERS_CACHE", None)
    else:
        os.environ["CAM_HELPERS_CACHE"] = before
    cache.cleanup()


def pytest_pycollect_makeitem(collector, name, obj):
    """A test module's own nbval collector class collects its notebooks (test_run_all.RunAllNotebook)."""
    if inspect.isclass(obj) and issubclass(obj, IPyNbFile) and obj.__module__ == collector.module.__name__:
        return obj.each_notebook(collector)
    return None


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


# --- Run-All timings (tests/test_run_all.py, nbval): measured and printed, never asserted ---
def notebook_run_times(reports) -> dict[str, tuple[float, bool]]:
    """notebook -> (wall seconds, passed), from the reports of its cells.

    A cell's setup report includes its notebook's kernel start (for the first cell), its teardown report
    the kernel's shutdown (for the last): their sum is the notebook's wall time, start to shutdown.
    """
    times: dict[str, tuple[float, bool]] = {}
    for report in reports:
        notebook, cell = report.nodeid.split("::")[0], report.nodeid.rpartition("::")[2]
        if not (notebook.endswith(".ipynb") and cell.startswith("Cell ")):
            continue
        seconds, passed = times.get(notebook, (0.0, True))
        times[notebook] = (seconds + report.duration, passed and not report.failed)
    return times


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    reports = [report for reports in terminalreporter.stats.values() for report in reports
               if isinstance(report, pytest.TestReport)]
    times = notebook_run_times(reports)
    if not times:
        return
    terminalreporter.section("notebook run times (Run All under nbval, wall clock)")
    width = max(len(name) for name in times)  # "notebooks/ko/06_weakly_supervised_localization.ipynb"
    for name, (seconds, passed) in sorted(times.items()):
        terminalreporter.write_line(f"{name:<{width}} {seconds:7.1f} s  {'ok' if passed else 'FAILED'}")
    terminalreporter.write_line(f"{'total':<{width}} {sum(s for s, _ in times.values()):7.1f} s")
