#!/usr/bin/env python3
"""Set up a local virtual environment and open the series, or run every test.

    python3 quickstart.py lab     # set up .venv, open JupyterLab on notebook 00
    python3 quickstart.py test    # set up .venv, run the whole test suite offline
    python3 quickstart.py --dry-run lab   # only say which PyTorch build it would install, and how

Needs only Python 3.10+ with pip and venv. Setup is skipped when .venv is
already up to date with pyproject.toml. Extra arguments after ``test`` go to pytest
(``python3 quickstart.py test -k cam``).

PyTorch comes first, and the right build for this machine: the CPU-only build
where there is no NVIDIA GPU (about 4 GB less on Linux), the CUDA build where
there is one, PyPI's default on macOS. With uv on the PATH, uv picks the build
(``--torch-backend auto``); otherwise pip uses PyTorch's CPU index when
``nvidia-smi`` is missing. If PyTorch's index cannot be reached, it falls back
at once to the default index (PyPI) and says so.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import subprocess
import sys
import urllib.request
import venv
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
FIRST_NOTEBOOK = "notebooks/00_start_here.ipynb"
PYTORCH_INDEX = "https://download.pytorch.org/whl/"
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
PROBE_TIMEOUT_S = 3.0  # how long PyTorch's index may take to answer before we use PyPI instead
TORCH_PACKAGES = ["torch", "torchvision"]


# --------------------------------------------------------------------------- #
# Which PyTorch build, and from where
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class TorchChoice:
    """The PyTorch build to install and where from.

    build: "cpu", "cuda", "auto" (uv decides) or "default" (whatever PyPI serves this machine).
    index_url: PyTorch's own index when the build needs it (None: PyPI only).
    uv: install with ``uv pip install --torch-backend auto`` instead of pip.
    """

    build: str
    reason: str
    index_url: str | None = None
    uv: bool = False


LABELS = {"cpu": "CPU-only", "cuda": "CUDA", "auto": "uv-chosen", "default": "default (PyPI)"}


def nvidia_gpu() -> str:
    """'present' (nvidia-smi lists a GPU), 'absent' (no nvidia-smi), or 'unknown' (it failed)."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return "absent"
    try:
        done = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=15)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return "present" if done.returncode == 0 and "GPU" in done.stdout else "unknown"


def choose_torch_build(system: str, gpu: str, *, uv: bool = False) -> TorchChoice:
    """The build for an operating system (platform.system()), an NVIDIA GPU state (nvidia_gpu()) and uv on the PATH.

    No network, no side effects: the tests call it for every case.
    """
    if system == "Darwin":
        return TorchChoice("default", "on macOS PyPI's wheels are already the CPU/Apple-GPU build")
    if uv:
        build = {"present": "cuda", "absent": "cpu"}.get(gpu, "auto")
        return TorchChoice(build, "uv is installed and picks the build for this machine's driver (--torch-backend auto)", PYTORCH_INDEX, uv=True)
    if gpu == "present":
        if system == "Windows":
            return TorchChoice(
                "default",
                "an NVIDIA GPU was found, but PyPI's Windows wheel is CPU-only; for CUDA on Windows install uv "
                "(https://docs.astral.sh/uv/) and delete .venv, or follow https://pytorch.org/get-started/locally/",
            )
        return TorchChoice("cuda", "an NVIDIA GPU was found (nvidia-smi) and PyPI's Linux wheel is the CUDA build")
    if gpu == "absent":
        return TorchChoice("cpu", "no NVIDIA GPU was found (no nvidia-smi), and it is about 4 GB smaller than the CUDA build", CPU_INDEX)
    return TorchChoice("default", "nvidia-smi is there but did not list a GPU, so the default build is the safe choice")


def index_reachable(url: str, timeout: float = PROBE_TIMEOUT_S) -> bool:
    """True when ``url`` answers within ``timeout`` seconds (proxy settings apply, as for pip)."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout):
            return True
    except (OSError, ValueError):  # no route, no name, refused, timed out, HTTP error
        return False


def plan_torch(choice: TorchChoice, reachable: bool) -> tuple[TorchChoice, str]:
    """Fall back to the default index when PyTorch's own index cannot be reached; returns the choice and what to say."""
    if choice.index_url is None or reachable:
        return choice, f"PyTorch: the {LABELS[choice.build]} build, because {choice.reason}."
    fallback = TorchChoice("default", f"{choice.index_url} cannot be reached")
    return fallback, (
        f"PyTorch: wanted the {LABELS[choice.build]} build ({choice.reason}), but {choice.index_url} cannot be "
        f"reached within {PROBE_TIMEOUT_S:.0f} s: falling back to the default index (PyPI) now. On Linux that "
        "is the CUDA build, about 4 GB more. For the smaller install, delete .venv and run this again on a "
        "network that reaches download.pytorch.org."
    )


def torch_install_commands(python: Path, choice: TorchChoice, uv: str | None = None) -> list[list[str]]:
    """The commands that install PyTorch into the virtual environment for ``choice``."""
    if choice.uv and uv is not None:
        return [[uv, "pip", "install", "--python", str(python), "--torch-backend", "auto", *TORCH_PACKAGES]]
    index = ["--index-url", choice.index_url] if choice.index_url and not choice.uv else []
    return [[str(python), "-m", "pip", "install", *index, *TORCH_PACKAGES]]


def install_torch(python: Path, *, dry_run: bool = False, runner=None) -> TorchChoice:
    """Install the PyTorch build chosen for this machine, falling back to the default index if needed."""
    runner = runner or run
    uv = shutil.which("uv")
    choice = choose_torch_build(platform.system(), nvidia_gpu(), uv=uv is not None)
    choice, message = plan_torch(choice, index_reachable(choice.index_url) if choice.index_url else True)
    print(message, flush=True)
    commands = torch_install_commands(python, choice, uv)
    if dry_run:
        for command in commands:
            print("would run:", " ".join(command))
        return choice
    try:
        for command in commands:
            runner(command)
    except subprocess.CalledProcessError:
        if choice.build == "default":
            raise
        print(f"PyTorch: installing the {LABELS[choice.build]} build failed: falling back to the default index (PyPI) now.", flush=True)
        choice = TorchChoice("default", "the first install failed")
        for command in torch_install_commands(python, choice):
            runner(command)
    return choice


def has_torch(python: Path) -> bool:
    probe = "import importlib.util, sys; sys.exit(importlib.util.find_spec('torch') is None)"
    return subprocess.run([str(python), "-c", probe]).returncode == 0


# --------------------------------------------------------------------------- #
# The virtual environment
# --------------------------------------------------------------------------- #


def venv_python() -> Path:
    scripts = "Scripts" if os.name == "nt" else "bin"
    name = "python.exe" if os.name == "nt" else "python"
    return VENV / scripts / name


def run(command: list[str], **kwargs) -> None:
    print("+", " ".join(str(c) for c in command), flush=True)
    subprocess.run([str(c) for c in command], check=True, **kwargs)


def setup(extra: str, *, dry_run: bool = False) -> Path:
    """Create .venv (once), install PyTorch for this machine, then cam_helpers with the given extra (when pyproject changed)."""
    if sys.version_info < (3, 10):
        sys.exit(f"Python 3.10 or newer is needed; this is {sys.version.split()[0]}.")
    python = venv_python()
    if dry_run:
        install_torch(python, dry_run=True)
        print("would run:", python, "-m pip install -e", f".[{extra}]")
        return python
    if not python.exists():
        print(f"Creating a virtual environment in {VENV} ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    stamp = VENV / f".installed-{extra}"
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if not stamp.exists() or stamp.read_text() != digest:
        run([python, "-m", "pip", "install", "--upgrade", "pip"])
        if has_torch(python):
            print("PyTorch is already in .venv: keeping that build (delete .venv to choose again).", flush=True)
        else:
            install_torch(python)
        run([python, "-m", "pip", "install", "-e", f".[{extra}]"], cwd=ROOT)
        stamp.write_text(digest)
    return python


def main(argv: list[str]) -> int:
    dry_run = bool(argv) and argv[0] == "--dry-run"
    argv = argv[1:] if dry_run else argv
    if not argv or argv[0] not in ("lab", "test"):
        print(__doc__)
        return 2
    command, rest = argv[0], argv[1:]
    python = setup("lab" if command == "lab" else "test", dry_run=dry_run)
    if dry_run:
        return 0
    if command == "lab":
        os.chdir(ROOT)
        # exec: JupyterLab takes over this terminal; Ctrl+C stops it.
        as_root = ["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []  # containers
        os.execv(str(python), [str(python), "-m", "jupyterlab", FIRST_NOTEBOOK, *as_root, *rest])
    if (ROOT / "tests" / "install_browser.py").exists():
        subprocess.run([str(python), str(ROOT / "tests" / "install_browser.py")], cwd=ROOT)
    env = dict(os.environ, CAM_HELPERS_OFFLINE="1")
    return subprocess.run([str(python), "-m", "pytest", *rest], cwd=ROOT, env=env).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
