"""The teacher's guides (English and Korean), 00's path and the READMEs state the notebooks' own times.

Each notebook's header says "**Time:** about N minutes" ("**소요 시간:** 약 N분"); each teacher's guide
(docs/teaching.md, docs/teaching.ko.md) lists those times, their total and two plans built from them;
notebook 00 (both editions) lists them as the path, and the READMEs give the total. A time changed
in one place and not in the others fails here, and so does a plan whose clock no longer adds up.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


@dataclass(frozen=True)
class Guide:
    path: Path
    notebooks: str      # the folder its links point into, relative to docs/
    minutes: str        # how a time is written in its notebook table: "55 min" / "55분"
    total: str          # the sentence that gives the total, with (\d+) for the minutes
    readme: Path        # the README that links it

    @property
    def notebook_dir(self) -> Path:
        return (self.path.parent / self.notebooks).resolve()


GUIDES = [
    Guide(ROOT / "docs" / "teaching.md", "../notebooks/", r"(\d+) min", r"add up to (\d+) minutes",
          ROOT / "README.md"),
    Guide(ROOT / "docs" / "teaching.ko.md", "../notebooks/ko/", r"(\d+)분", r"모두 더하면 (\d+)분",
          ROOT / "README.ko.md"),
]
IDS = [guide.path.name for guide in GUIDES]


def header(path: Path) -> str:
    return "".join(json.loads(path.read_text())["cells"][0]["source"])


def stated_minutes(path: Path) -> int:
    found = re.search(r"\*\*(?:Time|소요 시간):\*\* (?:about|약) (\d+)(?: minutes|분)", header(path))
    assert found, f"{path.name}: no stated time in the header"
    return int(found.group(1))


def title(path: Path) -> str:
    """'# 02 · The GAP pipeline' -> 'The GAP pipeline'."""
    return header(path).splitlines()[0].split(" · ", 1)[1]


def stated_times() -> dict[str, int]:
    return {path.name: stated_minutes(path) for path in NOTEBOOKS}


def hours_and_minutes() -> tuple[int, int]:
    return divmod(sum(stated_times().values()), 60)


def path_table(path: Path) -> dict[str, int]:
    """Notebook file -> minutes, from the '| NN | [title](file) | ... | N min |' rows of 00's path."""
    text = "".join(c for cell in json.loads(path.read_text())["cells"] for c in cell["source"])
    rows = re.findall(r"^\| \d\d \| \[[^\]]+\]\(([\w.]+\.ipynb)\) \|.*\| (\d+) ?(?:min|분) \|$", text, re.M)
    return {name: int(minutes) for name, minutes in rows}


def guide_table(guide: Guide) -> list[tuple[str, str, int]]:
    """(title, notebook file, minutes) from the guide's '| NN | [title](../notebooks/.../file) | N min |' rows."""
    rows = re.findall(
        rf"^\| \d\d \| \[([^\]]+)\]\({re.escape(guide.notebooks)}([\w.]+\.ipynb)\) \| {guide.minutes} \|$",
        guide.path.read_text(), re.M,
    )
    return [(name, file, int(minutes)) for name, file, minutes in rows]


def plans(text: str) -> list[list[tuple[int, str, int | None]]]:
    """Each '| time | what | minutes |' table as rows (start in minutes after midnight, what, minutes or None)."""
    tables = []
    for block in re.split(r"\n\s*\n", text):
        rows = re.findall(r"^\| (\d{1,2}):(\d\d) \| (.+?) \| *(\d*) *\|$", block, re.M)
        if rows:
            tables.append([(int(h) * 60 + int(m), what, int(n) if n else None) for h, m, what, n in rows])
    return tables


@pytest.mark.parametrize("guide", GUIDES, ids=IDS)
def test_every_notebook_states_its_time_and_the_guide_uses_it(guide):
    rows = guide_table(guide)
    assert {file: minutes for _, file, minutes in rows} == stated_times()
    total = int(re.search(guide.total, guide.path.read_text()).group(1))
    assert total == sum(stated_times().values())
    hours, minutes = hours_and_minutes()
    in_words = f"({hours} h {minutes} min)" if guide.path.name == "teaching.md" else f"({hours}시간 {minutes}분)"
    assert f"{total}" in guide.path.read_text() and in_words in guide.path.read_text()


@pytest.mark.parametrize("guide", GUIDES, ids=IDS)
def test_the_guide_links_every_notebook_of_its_language_by_its_title(guide):
    rows = guide_table(guide)
    assert [file for _, file, _ in rows] == [path.name for path in NOTEBOOKS], "all nine, in order"
    for name, file, _ in rows:
        notebook = guide.notebook_dir / file
        assert notebook.is_file(), f"{guide.path.name} links {notebook}, which does not exist"
        assert name == title(notebook), f"{guide.path.name}: '{name}' is not the title of {notebook.name}"


@pytest.mark.parametrize("guide", GUIDES, ids=IDS)
def test_every_relative_link_of_the_guide_exists(guide):
    text = guide.path.read_text()
    targets = [t for t in re.findall(r"\]\(([^)#\s]+)\)", text) if not re.match(r"[a-z]+:", t)]
    assert targets, "the guide links the notebooks"
    missing = [t for t in targets if not (guide.path.parent / t).exists()]
    assert not missing, f"{guide.path.name}: links to nothing: {missing}"


@pytest.mark.parametrize("guide", GUIDES, ids=IDS)
def test_the_plans_add_up_and_use_the_stated_times(guide):
    """Each row starts where the one before ended; a row about notebook NN takes NN's stated time."""
    tables = plans(guide.path.read_text())
    assert len(tables) == 2, f"{guide.path.name}: a 3-hour and a full-day plan"
    stated = {path.name[:2]: stated_minutes(path) for path in NOTEBOOKS}
    for rows in tables:
        *steps, (end, _, total) = rows
        for (start, what, minutes), (next_start, _, _) in zip(steps, steps[1:] + [(end, "", None)]):
            assert start + minutes == next_start, f"{guide.path.name}: '{what}' at {divmod(start, 60)} for {minutes} min"
            number = re.match(r"(\d\d) ", what)
            if number:
                assert minutes == stated[number.group(1)], f"{guide.path.name}: '{what}' should take {stated[number.group(1)]} min"
        if total is not None:  # the end row of the 3-hour plan gives the length of the session
            assert total == end - steps[0][0]
    three_hours = tables[0]
    assert three_hours[-1][0] - three_hours[0][0] == 180


def test_the_guides_have_the_same_plan():
    """The Korean guide is the English one translated: the same clock, the same minutes, the same notebooks."""
    english, korean = (plans(guide.path.read_text()) for guide in GUIDES)
    assert [[(start, minutes) for start, _, minutes in rows] for rows in korean] == \
           [[(start, minutes) for start, _, minutes in rows] for rows in english]
    assert [[what[:3] for _, what, _ in rows if re.match(r"\d\d ", what)] for rows in korean] == \
           [[what[:3] for _, what, _ in rows if re.match(r"\d\d ", what)] for rows in english]


def test_the_guides_link_each_other():
    english, korean = (guide.path.read_text() for guide in GUIDES)
    assert "(teaching.ko.md)" in english and "(teaching.md)" in korean


def test_the_path_in_00_has_the_same_times_in_both_editions():
    hours, minutes = hours_and_minutes()
    for start, in_all in [
        (ROOT / "notebooks" / "00_start_here.ipynb", f"**about {hours} h {minutes} min**"),
        (ROOT / "notebooks" / "ko" / "00_start_here.ipynb", f"**약 {hours}시간 {minutes}분**"),
    ]:
        assert path_table(start) == stated_times(), start
        assert in_all in start.read_text(), f"{start}: the path's total should read {in_all}"


def test_the_korean_twins_state_the_english_times():
    for path in NOTEBOOKS:
        assert stated_minutes(ROOT / "notebooks" / "ko" / path.name) == stated_minutes(path), path.name


@pytest.mark.parametrize("guide", GUIDES, ids=IDS)
def test_the_readme_links_the_guide_and_states_the_total(guide):
    readme = guide.readme.read_text()
    assert f"(docs/{guide.path.name})" in readme
    hours, minutes = hours_and_minutes()
    total = f"**about {hours} h {minutes} min**" if guide.readme.name == "README.md" else f"**약 {hours}시간 {minutes}분**"
    assert total in readme, f"{guide.readme.name} should give the series' total as {total}"
