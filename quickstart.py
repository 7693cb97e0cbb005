#!/usr/bin/env python3
"""Set up a local virtual environment and open the series, or run every test.

    python3 quickstart.py lab     # set up .venv, open JupyterLab on notebook 00
    python3 quickstart.py test    # set up .venv, run the whole test suite offline

Needs only Python 3.10+ with pip and venv. Setup is skipped when .venv is
already up to date with pyproject.toml. Extra arguments after ``test`` go to pytest
(``python3 quickstart.py test -k cam``).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
FIRST_NOTEBOOK = "notebooks/00_start_here.ipynb"


def venv_python() -> Path:
    scripts = "Scripts" if os.name == "nt" else "bin"
    name = "python.exe" if os.name == "nt" else "python"
    return VENV / scripts / name


def run(command: list[str], **kwargs) -> None:
    print("+", " ".join(str(c) for c in command), flush=True)
    subprocess.run([str(c) for c in command], check=True, **kwargs)


def setup(extra: str) -> Path:
    """Create .venv (once) and install cam_helpers with the given extra (when pyproject changed)."""
    if sys.version_info < (3, 10):
        sys.exit(f"Python 3.10 or newer is needed; this is {sys.version.split()[0]}.")
    python = venv_python()
    if not python.exists():
        print(f"Creating a virtual environment in {VENV} ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    stamp = VENV / f".installed-{extra}"
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if not stamp.exists() or stamp.read_text() != digest:
        run([python, "-m", "pip", "install", "--upgrade", "pip"])
        run([python, "-m", "pip", "install", "-e", f".[{extra}]"], cwd=ROOT)
        stamp.write_text(digest)
    return python


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("lab", "test"):
        print(__doc__)
        return 2
    command, rest = argv[0], argv[1:]
    python = setup("lab" if command == "lab" else "test")
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
