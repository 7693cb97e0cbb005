#!/usr/bin/env python3
"""Make sure a Chromium for the browser test exists; install Debian's package when we can.

Called by `python3 quickstart.py test` before pytest. Never fails the run: without
Chromium the browser test skips and says how to get one.
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


def main() -> int:
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
