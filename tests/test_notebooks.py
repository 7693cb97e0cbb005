"""Notebook hygiene: clean source, kernelspec, badges, Colab cell, numbering, README table.

(The notebooks themselves are executed, as Run All does, by tests/test_run_all.py.)
"""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# The English series: the numbered notebooks at the top of notebooks/ (a translation such as
# notebooks/ko/ lives in a subfolder and is checked by its own tests).
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
sys.path.insert(0, str(ROOT / "tools"))
import sync_links  # noqa: E402


def load(path):
    return json.loads(path.read_text())


def test_the_series_is_numbered_00_to_nn_without_gaps():
    assert not [p.name for p in (ROOT / "notebooks").glob("*.ipynb") if p not in NOTEBOOKS], \
        "every notebook at the top of notebooks/ is named NN_title.ipynb"
    numbers = [p.name[:2] for p in NOTEBOOKS]
    assert numbers == [f"{n:02d}" for n in range(len(numbers))], numbers
    assert len(numbers) >= 8, f"the series has 00-07 at least; found {numbers}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_clean_source(path):
    notebook = load(path)
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [], f"{path.name}: a cell has stored outputs"
            assert cell["execution_count"] is None, f"{path.name}: a cell has an execution count"
    assert notebook["metadata"]["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_opens_like_a_lecture(path):
    cells = load(path)["cells"]
    title = "".join(cells[0]["source"])
    number = path.name[:2]
    assert re.match(rf"# {number} · ", title), f"{path.name}: first line must be '# {number} · Title'"
    assert "What you will learn" in title and "Time:" in title
    assert re.search(r"^> ", title, re.M), "a one-line summary ('> ...') for the README table"
    tags = [c.get("metadata", {}).get("tags", []) for c in cells]
    assert "badges" in tags[1] and "colab-setup" in tags[2]
    setup = "".join(cells[2]["source"])
    assert '"google.colab" in sys.modules' in setup
    text = "\n".join("".join(c["source"]) for c in cells)
    assert "Check yourself" in text and "<details>" in text, "exercises with hidden solutions"
    assert "Recap" in text
    if number != "00":  # 00 only introduces the habits below
        # "Predict, then run" before at least three key cells, always in the one wording.
        prose = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
        prompts = re.findall(r"(?m)^[ \t>*_]*Predict, then run[^\w\s]*", prose)
        assert len(prompts) >= 3, f"{path.name}: {len(prompts)} 'Predict, then run' prompts; at least 3"
        odd = [p for p in prompts if not p.startswith(PREDICT_PROMPT)]
        assert not odd, f"{path.name}: write the prompt as '{PREDICT_PROMPT} ...': {odd}"
        # At least two self-checking exercises: calls of the checkers in cam_helpers.exercises.
        code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        checkers = set(re.findall(r"^(check_\w+)\(", code, re.M))
        assert len(checkers) >= 2, f"{path.name}: self-checking exercises {sorted(checkers)}; at least two"


PREDICT_PROMPT = "**Predict, then run:**"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_links_point_to_existing_notebooks(path):
    names = {p.name for p in NOTEBOOKS}
    text = "\n".join("".join(c["source"]) for c in load(path)["cells"])
    links = re.findall(r"\]\(([^)\s:/]*\.ipynb)\)", text)   # relative links (the badges hold full URLs)
    for target in links:
        assert target in names, f"{path.name} links to missing {target}"


def test_every_notebook_but_the_last_links_to_the_next():
    for path, following in zip(NOTEBOOKS, NOTEBOOKS[1:]):
        text = "\n".join("".join(c["source"]) for c in load(path)["cells"])
        assert f"]({following.name})" in text, f"{path.name} has no link to the next notebook, {following.name}"


def test_badges_setup_cells_and_readme_agree_with_the_repository_address():
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "sync_links.py"), "--check"], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    url = sync_links.repository_url()
    readme = (ROOT / "README.md").read_text()
    for path in NOTEBOOKS:
        assert sync_links.colab_url(url, path.name) in readme
        assert f"](notebooks/{path.name})" in readme
        badges = "".join(load(path)["cells"][1]["source"])
        assert sync_links.colab_url(url, path.name) in badges
        assert sync_links.binder_url(url, path.name) in badges
