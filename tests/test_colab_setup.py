"""Each notebook's setup cell: on Colab it installs cam_helpers; elsewhere it runs nothing.

The cell is executed with a stand-in `google.colab` module and a stand-in
`subprocess.run` that records the commands instead of running them.
"""

import json
import subprocess
import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
KOREAN = sorted((ROOT / "notebooks" / "ko").glob("*.ipynb"))  # the Korean edition, one folder deeper
sys.path.insert(0, str(ROOT / "tools"))
import sync_links  # noqa: E402


def setup_cell(path: Path) -> str:
    cells = json.loads(path.read_text())["cells"]
    return next("".join(c["source"]) for c in cells if "colab-setup" in c.get("metadata", {}).get("tags", []))


def run_cell(source: str, monkeypatch, on_colab: bool, folder_exists: bool = False):
    commands = []
    monkeypatch.setattr(subprocess, "run", lambda cmd, **kw: commands.append(list(cmd)))
    import os

    chdirs = []
    monkeypatch.setattr(os, "chdir", lambda p: chdirs.append(p))
    monkeypatch.setattr(os.path, "isdir", lambda p: folder_exists)
    if on_colab:
        colab = types.ModuleType("google.colab")
        monkeypatch.setitem(sys.modules, "google", types.ModuleType("google"))
        monkeypatch.setitem(sys.modules, "google.colab", colab)
    else:
        monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    path_before = list(sys.path)
    exec(compile(source, "<setup cell>", "exec"), {})
    added = [p for p in sys.path if p not in path_before]
    sys.path[:] = path_before
    return commands, chdirs, added


@pytest.mark.parametrize("path", NOTEBOOKS + KOREAN, ids=lambda p: p.relative_to(ROOT / "notebooks").as_posix())
def test_setup_cell_on_colab_clones_and_installs(path, monkeypatch, capsys):
    url = sync_links.repository_url()
    commands, chdirs, added = run_cell(setup_cell(path), monkeypatch, on_colab=True)
    assert commands == [
        ["git", "clone", "--quiet", "--depth", "1", url, "/content/cam-notebooks"],
        [sys.executable, "-m", "pip", "install", "--quiet", "-e", "/content/cam-notebooks"],
    ]
    # Colab must land in the notebook's own folder, so that its relative links and paths work.
    folder = "/content/cam-notebooks/notebooks" + ("/ko" if path.parent.name == "ko" else "")
    assert added == ["/content/cam-notebooks"] and chdirs == [folder]
    assert "GPU" in capsys.readouterr().out


def test_setup_cell_does_not_clone_twice(monkeypatch):
    commands, _, _ = run_cell(setup_cell(NOTEBOOKS[0]), monkeypatch, on_colab=True, folder_exists=True)
    assert [c[:2] for c in commands] == [[sys.executable, "-m"]]


@pytest.mark.parametrize("path", NOTEBOOKS + KOREAN, ids=lambda p: p.relative_to(ROOT / "notebooks").as_posix())
def test_setup_cell_elsewhere_runs_nothing(path, monkeypatch, capsys):
    commands, chdirs, added = run_cell(setup_cell(path), monkeypatch, on_colab=False)
    assert commands == [] and chdirs == [] and added == []
    assert capsys.readouterr().out == ""
