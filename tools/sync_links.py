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

The Korean edition (notebooks/ko/NN_*.ipynb, same file names) gets the same two cells,
in Korean, pointing at notebooks/ko/NAME (Binder: ``labpath=notebooks%2Fko%2FNAME``);
its setup cell lands in ``<clone>/notebooks/ko``, the folder Jupyter and Colab give a
Korean notebook as its working directory. Korean code cells therefore use the same
calls as the English ones: sample photos come from ``cam_helpers.images.load_sample``,
never from a relative path (a path string would have to differ, ``../../images/`` vs
``../images/``, which ``tools/ko_parity.py`` only accepts as that one extra ``../``).
README.ko.md gets the Korean table between ``<!-- notebook-table-ko:start -->`` and
``<!-- notebook-table-ko:end -->`` (a "coming soon" sentence while notebooks/ko is empty).
Links to the published site (GitHub Pages, ``https://OWNER.github.io/NAME/...``, e.g. the in-browser
explorer) are rewritten to the repository's owner and name wherever they appear in the notebooks'
markdown, the READMEs and docs/.
``--check`` covers both languages, and one more thing no sync can fix: every ``#anchor`` link
(``[text](#anchor)``, ``[text](06_weakly_supervised_localization.ipynb#threshold-rule)``) in the
notebooks, the READMEs and docs/ must point at a heading or an ``<a id="...">`` that exists. A
notebook's headings get JupyterLab's anchors (the heading's text, spaces -> ``-``, case kept: "## The
threshold sweep" -> ``#The-threshold-sweep``); a Markdown file's get GitHub's (lower case, punctuation
other than ``-`` and ``_`` dropped, spaces -> ``-``: ``#the-threshold-sweep``).
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
NOTEBOOKS_KO = NOTEBOOKS / "ko"
README_KO = ROOT / "README.ko.md"
TABLE_KO_START, TABLE_KO_END = "<!-- notebook-table-ko:start -->", "<!-- notebook-table-ko:end -->"
KO_FOLDER = "ko"  # notebooks/ko: the Korean twins
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
    """``notebook`` is a file name in notebooks/, or ``ko/NAME`` for a Korean twin."""
    labpath = "notebooks/" + notebook
    return f"https://mybinder.org/v2/gh/{owner_and_name(url)}/{BRANCH}?labpath={labpath.replace('/', '%2F')}"


def site_url(url: str) -> str:
    """The series' site on GitHub Pages (published by .github/workflows/pages.yml)."""
    owner, name = owner_and_name(url).split("/")
    return f"https://{owner.lower()}.github.io/{name}/"


SITE_LINK = re.compile(r"https://[A-Za-z0-9-]+\.github\.io/[A-Za-z0-9._-]+/")


def sync_site_links(path: Path, url: str) -> bool:
    """Point every site link in ``path`` at this repository's site; True if the file changed."""
    text = path.read_text(encoding="utf-8")
    updated = SITE_LINK.sub(site_url(url), text)
    if updated == text:
        return False
    path.write_text(updated, encoding="utf-8")
    return True


def korean_name(name: str) -> str:
    """The URL name (relative to notebooks/) of a Korean notebook: 'ko/00_start_here.ipynb'."""
    return f"{KO_FOLDER}/{name}"


KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
COLAB_BADGE = "https://colab.research.google.com/assets/colab-badge.svg"
BINDER_BADGE = "https://mybinder.org/badge_logo.svg"


def badges_markdown(url: str, notebook: str) -> str:
    return (
        f"[![Open In Colab]({COLAB_BADGE})]({colab_url(url, notebook)}) "
        f"[![Binder]({BINDER_BADGE})]({binder_url(url, notebook)})"
    )


def badges_markdown_ko(url: str, name: str) -> str:
    """The Korean badges cell of notebooks/ko/``name``."""
    notebook = korean_name(name)
    return (
        f"[![Colab에서 열기]({COLAB_BADGE})]({colab_url(url, notebook)}) "
        f"[![Binder에서 열기]({BINDER_BADGE})]({binder_url(url, notebook)})"
    )


def setup_source_ko(url: str) -> str:
    """The Korean setup cell: the same steps as :func:`setup_source`, landing in notebooks/ko."""
    return f'''# 준비. Google Colab에서는 cam_helpers를 설치하고 예제 사진을 가져옵니다.
# 그 밖의 곳(내 컴퓨터, Binder, 테스트)에서는 아무 일도 하지 않습니다.
import sys

REPOSITORY = "{url}"
if "google.colab" in sys.modules:
    import os
    import subprocess

    folder = "/content/cam-notebooks"
    if not os.path.isdir(folder):
        subprocess.run(["git", "clone", "--quiet", "--depth", "1", REPOSITORY, folder], check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "-e", folder], check=True)
    sys.path.insert(0, folder)  # 편집 가능 설치(-e)는 새 커널에서만 보이므로 직접 경로에 추가합니다
    os.chdir(folder + "/notebooks/{KO_FOLDER}")
    print("준비 완료. 더 빠르게 하려면: 런타임 > 런타임 유형 변경 > GPU (helper 코드는 그대로 GPU를 씁니다).")'''


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


def sync_notebook(path: Path, url: str, language: str = "en") -> bool:
    """Update the badge and setup cells of one notebook; return True if it changed.

    ``language="ko"`` for a Korean twin in notebooks/ko (the URLs use its file name).
    """
    before = path.read_text()
    notebook = json.loads(before)
    cells = notebook["cells"]
    if language == "ko":
        badges, setup = badges_markdown_ko(url, path.name), setup_source_ko(url)
    elif language == "en":
        badges, setup = badges_markdown(url, path.name), setup_source(url)
    else:
        raise ValueError(f"language must be 'en' or 'ko', not {language!r}")
    wanted = {
        "badges": _cell("markdown", badges, "badges"),
        "colab-setup": _cell("code", setup, "colab-setup"),
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


def korean_notebooks() -> list[Path]:
    return sorted(NOTEBOOKS_KO.glob("[0-9][0-9]_*.ipynb")) if NOTEBOOKS_KO.is_dir() else []


KO_TABLE_PLACEHOLDER = (
    "한국어 노트북은 아직 준비 중입니다. 그동안은 [영어 노트북](README.md#the-notebooks)으로 "
    "공부할 수 있습니다. 코드는 한국어판과 똑같습니다."
)


def readme_table_ko(url: str) -> str:
    """The table of Korean notebooks for README.ko.md (a sentence while there are none)."""
    paths = korean_notebooks()
    if not paths:
        return KO_TABLE_PLACEHOLDER
    rows = ["| # | 노트북 | 무엇을 보게 되나요 | 열기 |", "|---|---|---|---|"]
    for path in paths:
        title, summary = notebook_title(path)
        notebook = korean_name(path.name)
        badges = f"[![Colab]({COLAB_BADGE})]({colab_url(url, notebook)}) [![Binder]({BINDER_BADGE})]({binder_url(url, notebook)})"
        rows.append(f"| {path.name[:2]} | [{title}](notebooks/{notebook}) | {summary} | {badges} |")
    return "\n".join(rows)


def _sync_table(readme: Path, start: str, end: str, table: str, url: str) -> bool:
    text = readme.read_text()
    if start not in text or end not in text:
        raise SystemExit(f"{readme.name} needs the markers {start} and {end}")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    new = f"{head}{start}\n{table}\n{end}{tail}"
    new = re.sub(r"https://mybinder\.org/v2/gh/[^/]+/[^/]+/", f"https://mybinder.org/v2/gh/{owner_and_name(url)}/", new)
    if new != text:
        readme.write_text(new)
        return True
    return False


def sync_readme(url: str) -> bool:
    return _sync_table(README, TABLE_START, TABLE_END, readme_table(url), url)


def sync_readme_ko(url: str) -> bool:
    """Rewrite the Korean table in README.ko.md (nothing to do while README.ko.md does not exist)."""
    if not README_KO.exists():
        return False
    return _sync_table(README_KO, TABLE_KO_START, TABLE_KO_END, readme_table_ko(url), url)


def stale_files(url: str) -> list[str]:
    """Files that ``python tools/sync_links.py`` would change (both languages); changes nothing."""
    import shutil
    import tempfile

    stale = []
    with tempfile.TemporaryDirectory() as scratch:
        for path, language in [(p, "en") for p in sorted(NOTEBOOKS.glob("*.ipynb"))] + [
            (p, "ko") for p in (sorted(NOTEBOOKS_KO.glob("*.ipynb")) if NOTEBOOKS_KO.is_dir() else [])
        ]:
            copy = Path(scratch) / path.name
            shutil.copy(path, copy)
            if sync_notebook(copy, url, language):
                stale.append(str(path.relative_to(ROOT)))
    stale += [str(path.relative_to(ROOT)) for path in anchor_files()
              if SITE_LINK.sub(site_url(url), path.read_text(encoding="utf-8")) != path.read_text(encoding="utf-8")
              and str(path.relative_to(ROOT)) not in stale]
    text = README.read_text()
    if TABLE_START in text and f"{TABLE_START}\n{readme_table(url)}\n{TABLE_END}" not in text:
        stale.append("README.md")
    if README_KO.exists():
        text = README_KO.read_text()
        if f"{TABLE_KO_START}\n{readme_table_ko(url)}\n{TABLE_KO_END}" not in text:
            stale.append(str(README_KO.relative_to(ROOT)))
    return stale


# --- #anchor links: every one must land on a heading or an <a id="..."> of its target file ---
LINK_WITH_ANCHOR = re.compile(r"\]\(([^)\s#]*)#([^)\s]+)\)")  # [text](file#anchor) or [text](#anchor)
HTML_ANCHOR = re.compile(r"""<a\s[^>]*\b(?:id|name)\s*=\s*["']([^"']+)["']""")


def anchor_files() -> list[Path]:
    """The files whose #anchor links are checked, and whose site links are synced: every notebook (both
    languages), the READMEs, docs/."""
    files = sorted(NOTEBOOKS.glob("*.ipynb")) + korean_notebooks() + [README, README_KO]
    return [path for path in files + sorted((ROOT / "docs").glob("*.md")) if path.exists()]


def markdown_of(path: Path) -> list[str]:
    """The Markdown a reader sees: a notebook's markdown cells, or a .md file's whole text."""
    if path.suffix != ".ipynb":
        return [path.read_text()]
    cells = json.loads(path.read_text())["cells"]
    return ["".join(cell["source"]) for cell in cells if cell["cell_type"] == "markdown"]


def heading_texts(markdown: str) -> list[str]:
    """The text of each ATX heading ("## The `iou` sweep" -> "The iou sweep"), code fences left out."""
    texts, fenced = [], False
    for line in markdown.splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
        match = None if fenced else re.match(r"^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$", line)
        if match:
            text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", match.group(1))  # a link reads as its text
            texts.append(re.sub(r"<[^>]+>|[`*]", "", text).strip())  # tags, code and emphasis marks
    return texts


def jupyterlab_anchor(heading: str) -> str:
    """JupyterLab's id for a heading in a notebook: its text with spaces -> '-', case kept."""
    return heading.replace(" ", "-")


def github_anchor(heading: str) -> str:
    """GitHub's id for a heading in a Markdown file: lower case, only letters, digits, '-' and '_', spaces -> '-'."""
    return re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")


def anchors_in(path: Path) -> set[str]:
    """Every #anchor a link into ``path`` may name: its headings' ids and its <a id/name="..."> anchors."""
    make_id = jupyterlab_anchor if path.suffix == ".ipynb" else github_anchor
    found = set()
    for markdown in markdown_of(path):
        found.update(make_id(text) for text in heading_texts(markdown))
        found.update(HTML_ANCHOR.findall(markdown))
    return found


def broken_anchors(files: list[Path] | None = None) -> list[str]:
    """One line per #anchor link in ``files`` (default :func:`anchor_files`) whose target has no such anchor."""
    broken, known = [], {}
    for path in anchor_files() if files is None else files:
        for markdown in markdown_of(path):
            for target, anchor in LINK_WITH_ANCHOR.findall(markdown):
                if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https://..., mailto:: not ours to check
                    continue
                linked = (path.parent / target).resolve() if target else path.resolve()
                where = f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: ({target}#{anchor})"
                if not linked.is_file():
                    broken.append(f"{where}: no file {target}")
                    continue
                if linked not in known:
                    known[linked] = anchors_in(linked)
                if anchor not in known[linked]:
                    broken.append(f"{where}: {linked.name} has no heading or <a id> with that anchor")
    return broken


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if out of date")
    args = parser.parse_args(argv)
    url = repository_url()
    if args.check:
        stale, broken = stale_files(url), broken_anchors()
        if stale:
            print("out of date (run python tools/sync_links.py):", ", ".join(stale))
        for line in broken:
            print("broken anchor link:", line)
        if stale or broken:
            return 1
        print("badges, setup cells and README table agree with", url, "and every #anchor link lands on its heading")
        return 0
    changed = [str(p.relative_to(ROOT)) for p in sorted(NOTEBOOKS.glob("*.ipynb")) if sync_notebook(p, url)]
    changed += [str(p.relative_to(ROOT)) for p in sorted(NOTEBOOKS_KO.glob("*.ipynb")) if sync_notebook(p, url, "ko")] if NOTEBOOKS_KO.is_dir() else []
    if sync_readme(url):
        changed.append("README.md")
    if sync_readme_ko(url):
        changed.append(str(README_KO.relative_to(ROOT)))
    changed += [str(p.relative_to(ROOT)) for p in anchor_files() if sync_site_links(p, url)
                and str(p.relative_to(ROOT)) not in changed]
    print("updated:", ", ".join(changed) if changed else "nothing (already in sync)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
