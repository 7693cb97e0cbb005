"""tools/sync_links.py for the Korean edition: notebooks/ko badges and setup cells, the README.ko.md table.

Each test works on a copy of the repository's pyproject.toml, READMEs and the English notebooks in a
temporary folder, with sync_links' paths pointed there. The English files must come out unchanged.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import sync_links  # noqa: E402

NAME = "00_start_here.ipynb"


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """A small copy of the repository with sync_links pointed at it; notebooks/ko holds an unsynced twin."""
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copy(ROOT / "README.md", tmp_path / "README.md")
    shutil.copy(ROOT / "README.ko.md", tmp_path / "README.ko.md")
    (tmp_path / "notebooks" / "ko").mkdir(parents=True)
    for english_notebook in (ROOT / "notebooks").glob("*.ipynb"):  # all of them: README.md's table lists them
        shutil.copy(english_notebook, tmp_path / "notebooks" / english_notebook.name)
    english = json.loads((ROOT / "notebooks" / NAME).read_text())
    # a Korean twin as a translator might start it by hand: no badges, no setup cell
    english["cells"] = [c for c in english["cells"] if not {"badges", "colab-setup"} & set(c["metadata"].get("tags", []))]
    english["cells"][0]["source"] = "# 00 · 여기서 시작\n> 클래스 활성화 맵이 무엇인지, 사진 한 장의 첫 맵\n"
    (tmp_path / "notebooks" / "ko" / NAME).write_text(json.dumps(english, indent=1, ensure_ascii=False) + "\n")
    for attribute, path in {
        "ROOT": tmp_path,
        "NOTEBOOKS": tmp_path / "notebooks",
        "NOTEBOOKS_KO": tmp_path / "notebooks" / "ko",
        "README": tmp_path / "README.md",
        "README_KO": tmp_path / "README.ko.md",
    }.items():
        monkeypatch.setattr(sync_links, attribute, path)
    return tmp_path


def tagged(path: Path, tag: str) -> str:
    cells = json.loads(path.read_text())["cells"]
    return next("".join(c["source"]) for c in cells if tag in c.get("metadata", {}).get("tags", []))


def test_check_fails_before_and_passes_after_writing_the_korean_cells(repo, capsys):
    assert sync_links.main(["--check"]) == 1
    assert capsys.readouterr().out == (
        "out of date (run python tools/sync_links.py): notebooks/ko/00_start_here.ipynb, README.ko.md\n"
    )
    english_before = [p.read_text() for p in sorted((repo / "notebooks").glob("*.ipynb"))] + [(repo / "README.md").read_text()]
    assert sync_links.main([]) == 0
    assert "notebooks/ko/00_start_here.ipynb" in capsys.readouterr().out
    assert sync_links.main(["--check"]) == 0
    assert [p.read_text() for p in sorted((repo / "notebooks").glob("*.ipynb"))] + [(repo / "README.md").read_text()] == english_before


def test_korean_badges_open_the_korean_notebook(repo):
    sync_links.main([])
    url = sync_links.repository_url()
    badges = tagged(repo / "notebooks" / "ko" / NAME, "badges")
    colab = "https://colab.research.google.com/github/cam-notebooks/cam-notebooks/blob/main/notebooks/ko/00_start_here.ipynb"
    binder = "https://mybinder.org/v2/gh/cam-notebooks/cam-notebooks/main?labpath=notebooks%2Fko%2F00_start_here.ipynb"
    assert url == "https://github.com/cam-notebooks/cam-notebooks"
    assert f"]({colab})" in badges and f"]({binder})" in badges
    cells = json.loads((repo / "notebooks" / "ko" / NAME).read_text())["cells"]
    assert [c.get("metadata", {}).get("tags") for c in cells[1:3]] == [["badges"], ["colab-setup"]]


def test_english_urls_are_unchanged():
    url = "https://github.com/cam-notebooks/cam-notebooks"
    assert sync_links.binder_url(url, NAME) == (
        "https://mybinder.org/v2/gh/cam-notebooks/cam-notebooks/main?labpath=notebooks%2F00_start_here.ipynb"
    )
    assert sync_links.colab_url(url, NAME).endswith("/blob/main/notebooks/00_start_here.ipynb")


def test_korean_readme_table_lists_the_korean_notebooks(repo):
    korean = repo / "notebooks" / "ko" / NAME
    hidden = korean.rename(repo / NAME)  # no Korean notebook yet: the table is a sentence
    sync_links.main([])
    text = (repo / "README.ko.md").read_text()
    assert f"{sync_links.TABLE_KO_START}\n{sync_links.KO_TABLE_PLACEHOLDER}\n{sync_links.TABLE_KO_END}" in text
    hidden.rename(korean)
    sync_links.main([])
    text = (repo / "README.ko.md").read_text()
    table = text.split(sync_links.TABLE_KO_START)[1].split(sync_links.TABLE_KO_END)[0]
    (row,) = [line for line in table.splitlines() if line.startswith("| 00")]
    assert row.startswith("| 00 | [여기서 시작](notebooks/ko/00_start_here.ipynb) | 클래스 활성화 맵이 무엇인지, 사진 한 장의 첫 맵 |")
    assert "labpath=notebooks%2Fko%2F00_start_here.ipynb" in row and "/blob/main/notebooks/ko/00_start_here.ipynb" in row


def test_readme_ko_without_markers_is_reported(repo):
    (repo / "README.ko.md").write_text("# 한국어\n")
    with pytest.raises(SystemExit, match="notebook-table-ko:start"):
        sync_links.main([])


def test_the_repository_readmes_are_in_sync():
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "sync_links.py"), "--check"], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_readmes_link_each_other():
    assert "[README.ko.md](README.ko.md)" in (ROOT / "README.md").read_text().splitlines()[0]
    assert "(README.md)" in (ROOT / "README.ko.md").read_text()


# Running the Korean setup cell (on Colab and elsewhere) is tested on every Korean notebook in
# tests/test_colab_setup.py; --check above keeps those cells equal to setup_source_ko.


def test_korean_setup_cell_is_the_english_program():
    import ko_parity

    url = "https://github.com/cam-notebooks/cam-notebooks"
    assert ko_parity.code_fingerprint(sync_links.setup_source(url)) == ko_parity.code_fingerprint(sync_links.setup_source_ko(url))


# --- #anchor links (issue 22): every one lands on a heading or an <a id> of its target ---


def _notebook(path: Path, *markdown: str) -> Path:
    cells = [{"cell_type": "markdown", "metadata": {}, "source": text} for text in markdown]
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 4}))
    return path


def test_the_repositorys_anchor_links_all_land():
    assert sync_links.broken_anchors() == []
    links = [link for path in sync_links.anchor_files() for text in sync_links.markdown_of(path)
             for link in sync_links.LINK_WITH_ANCHOR.findall(text)]
    assert ("06_weakly_supervised_localization.ipynb", "threshold-rule") in links, "the check sees the real links"


def test_anchors_follow_jupyterlab_in_notebooks_and_github_in_markdown():
    heading = "The `iou` sweep: **MaxBoxAcc**, [Choe](https://example.org) et al.?"
    assert sync_links.heading_texts(f"## {heading}\n```\n# not a heading\n```") == [
        "The iou sweep: MaxBoxAcc, Choe et al.?"
    ]
    assert sync_links.jupyterlab_anchor("The threshold sweep") == "The-threshold-sweep"   # case kept
    assert sync_links.github_anchor("The threshold sweep") == "the-threshold-sweep"
    assert sync_links.github_anchor("MaxBoxAcc, MaxBoxAccV2 (and a baseline)") == "maxboxacc-maxboxaccv2-and-a-baseline"
    assert sync_links.github_anchor("노트북 목록") == "노트북-목록"                         # Hangul is a letter


def test_a_broken_anchor_is_reported(tmp_path):
    target = _notebook(tmp_path / "06_boxes.ipynb", "# 06 · Boxes\n## The threshold sweep",
                       'The <a id="threshold-rule" name="threshold-rule"></a>20% rule')
    readme = tmp_path / "README.md"
    readme.write_text("## The notebooks\n[ok](#the-notebooks) [case](#The-notebooks)\n")
    source = _notebook(
        tmp_path / "02_gap.ipynb",
        "[rule](06_boxes.ipynb#threshold-rule) [sweep](06_boxes.ipynb#The-threshold-sweep) "
        "[site](https://example.org/page#top) [here](#Back-to-top)",
        "## Back to top\n[lower case](06_boxes.ipynb#the-threshold-sweep) [gone](06_boxes.ipynb#threshold-rul) "
        "[no file](07_trust.ipynb#intro)",
    )
    assert sync_links.broken_anchors([target, readme]) == [
        f"{readme}: (#The-notebooks): README.md has no heading or <a id> with that anchor",  # GitHub: lower case
    ]
    assert sync_links.broken_anchors([source]) == [
        f"{source}: (06_boxes.ipynb#the-threshold-sweep): 06_boxes.ipynb has no heading or <a id> with that anchor",
        f"{source}: (06_boxes.ipynb#threshold-rul): 06_boxes.ipynb has no heading or <a id> with that anchor",
        f"{source}: (07_trust.ipynb#intro): no file 07_trust.ipynb",
    ]


def test_check_fails_on_a_broken_anchor(repo, capsys):
    assert sync_links.main([]) == 0 and sync_links.main(["--check"]) == 0
    path = repo / "notebooks" / "02_gap_pipeline.ipynb"
    notebook = json.loads(path.read_text())
    notebook["cells"].append({"cell_type": "markdown", "metadata": {}, "source": ["[rule](06_weakly_supervised_localization.ipynb#threshold)"]})
    path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n")
    capsys.readouterr()
    assert sync_links.main(["--check"]) == 1
    assert "broken anchor link: notebooks/02_gap_pipeline.ipynb: (06_weakly_supervised_localization.ipynb#threshold)" in capsys.readouterr().out


def test_site_links_follow_the_repository_after_a_fork(repo, capsys):
    """The explorer's address (GitHub Pages) is rewritten from pyproject's Repository like the badges."""
    assert "https://cam-notebooks.github.io/cam-notebooks/explorer.html" in (repo / "README.md").read_text()
    pyproject = repo / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace("github.com/cam-notebooks/cam-notebooks",
                                                       "github.com/Some-Teacher/cam-fork"))
    assert sync_links.main(["--check"]) == 1
    assert "README.md" in capsys.readouterr().out
    assert sync_links.main([]) == 0
    for readme in ("README.md", "README.ko.md"):
        text = (repo / readme).read_text()
        assert "https://some-teacher.github.io/cam-fork/explorer.html" in text  # Pages lower-cases the owner
        assert "cam-notebooks.github.io" not in text
    assert sync_links.main(["--check"]) == 0
