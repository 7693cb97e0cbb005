#!/usr/bin/env python3
"""Write the repository address into every badge, setup cell and README link.

The public address lives in ONE place: ``[project.urls] Repository`` in
pyproject.toml. After a fork or a move, change that line and run

    python tools/sync_links.py          # rewrite notebooks and README
    python tools/sync_links.py --check  # exit 1 if anything is out of date (the tests run this)

In each notebook it owns two cells, found by their tags:
  * ``badges``       (markdown, right after the title cell): Open in Colab / Binder
  * ``colab-setup``  (code): on Colab only, clone the repository and install cam_helpers
and in README.md the notebook table between the markers
``<!-- notebook-table:start -->`` and ``<!-- notebook-table:end -->``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
README = ROOT / "README.md"
TABLE_START, TABLE_END = "<!-- notebook-table:start -->", "<!-- notebook-table:end -->"
BRANCH = "main"


def repository_url() -> str:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return data["project"]["urls"]["Repository"].rstrip("/")


def owner_and_name(url: str) -> str:
    match = re.match(r"https://github\.com/([^/]+/[^/]+)$", url)
    if not match:
        raise SystemExit(f"the Repository URL must be https://github.com/OWNER/NAME; got {url}")
    return match.group(1)


def colab_url(url: str, notebook: str) -> str:
    return f"https://colab.research.google.com/github/{owner_and_name(url)}/blob/{BRANCH}/notebooks/{notebook}"


def binder_url(url: str, notebook: str) -> str:
    return f"https://mybinder.org/v2/gh/{owner_and_name(url)}/{BRANCH}?labpath=notebooks%2F{notebook}"


KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
COLAB_BADGE = "https://colab.research.google.com/assets/colab-badge.svg"
BINDER_BADGE = "https://mybinder.org/badge_logo.svg"


def badges_markdown(url: str, notebook: str) -> str:
    return (
        f"[![Open In Colab]({COLAB_BADGE})]({colab_url(url, notebook)}) "
        f"[![Binder]({BINDER_BADGE})]({binder_url(url, notebook)})"
    )


def setup_source(url: str) -> str:
    return f'''# Setup. On Google Colab this installs cam_helpers and fetches the sample photos;
# anywhere else (your laptop, Binder, the tests) it does nothing.
import sys

REPOSITORY = "{url}"
if "google.colab" in sys.modules:
    import os
    import subprocess

    folder = "/content/cam-notebooks"
    if not os.path.isdir(folder):
        subprocess.run(["git", "clone", "--quiet", "--depth", "1", REPOSITORY, folder], check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "-e", folder], check=True)
    sys.path.insert(0, folder)  # the editable install is seen by new kernels only
    os.chdir(folder + "/notebooks")
    print("Ready. For speed: Runtime > Change runtime type > GPU (the helpers use it without changes).")'''


def _cell(cell_type: str, source: str, tag: str) -> dict:
    cell = {"cell_type": cell_type, "metadata": {"tags": [tag]}, "source": source.splitlines(keepends=True)}
    if cell_type == "code":
        cell.update(execution_count=None, outputs=[])
    return cell


def sync_notebook(path: Path, url: str) -> bool:
    """Update the badge and setup cells of one notebook; return True if it changed."""
    before = path.read_text()
    notebook = json.loads(before)
    cells = notebook["cells"]
    wanted = {
        "badges": _cell("markdown", badges_markdown(url, path.name), "badges"),
        "colab-setup": _cell("code", setup_source(url), "colab-setup"),
    }
    for position, tag in ((1, "badges"), (2, "colab-setup")):
        found = [i for i, c in enumerate(cells) if tag in c.get("metadata", {}).get("tags", [])]
        if found:
            cells[found[0]]["source"] = wanted[tag]["source"]
        else:
            cells.insert(min(position, len(cells)), wanted[tag])
    for cell in cells:  # keep every cell id-free and output-free: notebooks are source
        cell.pop("id", None)
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
    notebook["nbformat"], notebook["nbformat_minor"] = 4, 4
    notebook.setdefault("metadata", {})["kernelspec"] = KERNELSPEC
    notebook["metadata"].setdefault("language_info", {"name": "python"})
    after = json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"
    if after != before:
        path.write_text(after)
        return True
    return False


def notebook_title(path: Path) -> tuple[str, str]:
    """(title, one-line summary) from the first markdown cell: '# 00 · Title' and the next '> ...' line."""
    notebook = json.loads(path.read_text())
    first = "".join(notebook["cells"][0]["source"]) if notebook["cells"] else ""
    title = next((l.lstrip("# ").strip() for l in first.splitlines() if l.startswith("# ")), path.stem)
    title = re.sub(r"^\d+\s*[·:.-]\s*", "", title)
    summary = next((l.lstrip("> ").strip() for l in first.splitlines() if l.startswith(">")), "")
    return title, summary


def readme_table(url: str) -> str:
    rows = ["| # | notebook | what you will see | open |", "|---|---|---|---|"]
    for path in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
        title, summary = notebook_title(path)
        badges = f"[![Colab]({COLAB_BADGE})]({colab_url(url, path.name)}) [![Binder]({BINDER_BADGE})]({binder_url(url, path.name)})"
        rows.append(f"| {path.name[:2]} | [{title}](notebooks/{path.name}) | {summary} | {badges} |")
    return "\n".join(rows)


def sync_readme(url: str) -> bool:
    text = README.read_text()
    if TABLE_START not in text or TABLE_END not in text:
        raise SystemExit(f"README.md needs the markers {TABLE_START} and {TABLE_END}")
    head, rest = text.split(TABLE_START, 1)
    _, tail = rest.split(TABLE_END, 1)
    new = f"{head}{TABLE_START}\n{readme_table(url)}\n{TABLE_END}{tail}"
    new = re.sub(r"https://mybinder\.org/v2/gh/[^/]+/[^/]+/", f"https://mybinder.org/v2/gh/{owner_and_name(url)}/", new)
    if new != text:
        README.write_text(new)
        return True
    return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if out of date")
    args = parser.parse_args(argv)
    url = repository_url()
    if args.check:
        import shutil
        import tempfile

        stale = []
        with tempfile.TemporaryDirectory() as scratch:
            for path in sorted(NOTEBOOKS.glob("*.ipynb")):
                copy = Path(scratch) / path.name
                shutil.copy(path, copy)
                if sync_notebook(copy, url):
                    stale.append(str(path.relative_to(ROOT)))
        text = README.read_text()
        if TABLE_START in text and f"{TABLE_START}\n{readme_table(url)}\n{TABLE_END}" not in text:
            stale.append("README.md")
        if stale:
            print("out of date (run python tools/sync_links.py):", ", ".join(stale))
            return 1
        print("badges, setup cells and README table agree with", url)
        return 0
    changed = [str(p.relative_to(ROOT)) for p in sorted(NOTEBOOKS.glob("*.ipynb")) if sync_notebook(p, url)]
    if sync_readme(url):
        changed.append("README.md")
    print("updated:", ", ".join(changed) if changed else "nothing (already in sync)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
