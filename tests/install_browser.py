#!/usr/bin/env python3
"""Make sure a Chromium for the browser tests exists (install Debian's package when we can), and
onnxruntime-web for the in-browser explorer (`npm ci` from the committed package-lock.json).

Called by `python3 quickstart.py test` before pytest. Never fails the run: without Chromium
or Node.js the browser tests skip and say how to get them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")


def find_chromium() -> str | None:
    found = os.environ.get("CAM_CHROMIUM") or next((p for p in CANDIDATES if os.path.exists(p)), None)
    return found or shutil.which("chromium")


def install_explorer_runtime() -> None:
    """`npm ci` once (tools/build_explorer.py's ensure_runtime; the explorer's tests and the site build
    copy onnxruntime-web from node_modules)."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools"))
    from build_explorer import ensure_runtime  # standard library only at import time

    problem = ensure_runtime()
    if problem:
        print(f"{problem}; the in-browser explorer's tests will be skipped")


def main() -> int:
    install_explorer_runtime()
    if find_chromium():
        return 0
    can_apt = sys.platform.startswith("linux") and shutil.which("apt-get") and hasattr(os, "geteuid") and os.geteuid() == 0
    if not can_apt:
        print("browser test: no Chromium found; it will be skipped. Install Debian/Ubuntu's 'chromium' "
              "package (or set CAM_CHROMIUM to a Chromium binary) to run it.")
        return 0
    print("browser test: installing Debian's chromium package ...", flush=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]):
        done = subprocess.run(command, env=env)
        if done.returncode != 0:
            print("browser test: could not install chromium; the test will be skipped.")
            return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
