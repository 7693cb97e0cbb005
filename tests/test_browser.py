"""A real browser: JupyterLab runs notebook 05 and a learner clicks the explorer.

Starts JupyterLab on 127.0.0.1 with a token, opens notebooks/05_cam_explorer.ipynb in
headless Chromium (Debian's package) through Playwright, runs all cells, picks
another class and another layer, and checks that the picture changed each time
and that no error is shown. A screenshot is saved in the test's temporary folder.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from install_browser import find_chromium  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = "notebooks/05_cam_explorer.ipynb"
CHROMIUM = find_chromium()

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="no Chromium: install Debian's 'chromium' package "
                       "(apt-get install chromium) or set CAM_CHROMIUM to a Chromium binary"),
    pytest.mark.skipif(not (ROOT / NOTEBOOK).exists(), reason=f"{NOTEBOOK} is not there yet"),
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture()
def jupyterlab(tmp_path):
    """A JupyterLab server of our own on 127.0.0.1; stopped by its PID afterwards."""
    port, token = free_port(), secrets.token_hex(16)
    env = dict(
        os.environ,
        CAM_HELPERS_OFFLINE="1",
        JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
        JUPYTER_CONFIG_DIR=str(tmp_path / "config"),
    )
    log = open(tmp_path / "jupyterlab.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
         f"--ServerApp.port={port}", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={ROOT}",
         f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}", f"--LabApp.user_settings_dir={tmp_path / 'settings'}"]
        + (["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []),
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    pytest.fail("JupyterLab did not start:\n" + (tmp_path / "jupyterlab.log").read_text()[-3000:])
                time.sleep(0.5)
        yield url, token
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def test_explorer_in_a_real_browser(jupyterlab, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    url, token = jupyterlab
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--disable-quic", "--no-first-run"],
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{url}/lab/tree/{NOTEBOOK}?token={token}&reset", timeout=90_000)
            page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=90_000)
            page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle'], .jp-Toolbar-kernelStatus", timeout=90_000)
            time.sleep(2)  # let the kernel settle
            page.locator(".jp-NotebookPanel").first.click()
            page.get_by_role("menuitem", name="Run", exact=True).click()
            page.get_by_role("menuitem", name="Run All Cells", exact=True).click()

            explorer = page.locator(".cam-explorer").first
            explorer.wait_for(timeout=240_000)
            # Wait until every cell has run: no "[*]" prompt left, the last code cell numbered.
            page.wait_for_function(
                """() => {
                    const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')].map(p => p.textContent);
                    return prompts.length > 0 && !prompts.some(t => t.includes('*')) && /\\d/.test(prompts[prompts.length - 1]);
                }""",
                timeout=240_000,
            )
            picture = explorer.locator("img").first
            picture.wait_for(timeout=60_000)

            def picture_src() -> str:
                return picture.get_attribute("src") or ""

            def wait_for_new_picture(old: str) -> str:
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:
                    new = picture_src()
                    if new and new != old:
                        return new
                    time.sleep(0.25)
                page.screenshot(path=str(tmp_path / "stuck.png"), full_page=True)
                pytest.fail(f"the picture did not change (screenshot: {tmp_path / 'stuck.png'})")

            explorer.scroll_into_view_if_needed()
            first = picture_src()
            assert first, "the explorer shows no picture"
            class_select = explorer.locator(".widget-dropdown", has_text="Class").locator("select")
            class_select.select_option(index=2)
            second = wait_for_new_picture(first)
            caption = explorer.locator(".cam-caption").text_content()

            layer_select = explorer.locator(".widget-dropdown", has_text="Layer").locator("select")
            layer_select.select_option(index=0)
            wait_for_new_picture(second)
            # The caption follows the picture: wait for it (up to 5 s) instead of sleeping a fixed time.
            expect(explorer.locator(".cam-caption")).to_contain_text("Grad-CAM")
            assert explorer.locator(".cam-caption").text_content() != caption
            assert explorer.locator(".cam-error").text_content().strip() == ""
            assert page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']").count() == 0
            explorer.scroll_into_view_if_needed()
            explorer.screenshot(path=str(tmp_path / "explorer.png"))
            assert (tmp_path / "explorer.png").stat().st_size > 10_000
        finally:
            browser.close()
