"""docs/teaching.md and 00's path through the series state the same times as the notebooks themselves.

Each notebook's header says "**Time:** about N minutes"; the teacher's guide plans with a table of
those times and their total, and notebook 00 (English and Korean) lists them as the path. A time
changed in one place and not in the others fails here.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
GUIDE = ROOT / "docs" / "teaching.md"


def stated_minutes(path: Path) -> int:
    title = "".join(json.loads(path.read_text())["cells"][0]["source"])
    found = re.search(r"\*\*(?:Time|소요 시간):\*\* (?:about|약) (\d+)(?: minutes|분)", title)
    assert found, f"{path.name}: no stated time in the header"
    return int(found.group(1))


def path_table(path: Path) -> dict[str, int]:
    """Notebook file -> minutes, from the '| NN | [title](file) | ... | N min |' rows of 00's path."""
    text = "".join(c for cell in json.loads(path.read_text())["cells"] for c in cell["source"])
    rows = re.findall(r"^\| \d\d \| \[[^\]]+\]\(([\w.]+\.ipynb)\) \|.*\| (\d+) ?(?:min|분) \|$", text, re.M)
    return {name: int(minutes) for name, minutes in rows}


def test_every_notebook_states_its_time_and_the_guide_uses_it():
    stated = {path.name: stated_minutes(path) for path in NOTEBOOKS}
    guide = GUIDE.read_text()
    rows = dict(re.findall(r"^\| \d\d \| \[[^\]]+\]\(\.\./notebooks/([\w.]+\.ipynb)\) \| (\d+) min \|$", guide, re.M))
    assert {name: int(m) for name, m in rows.items()} == stated
    total = int(re.search(r"add up to (\d+) minutes", guide).group(1))
    assert total == sum(stated.values())


def test_the_path_in_00_has_the_same_times_in_both_editions():
    stated = {path.name: stated_minutes(path) for path in NOTEBOOKS}
    total = sum(stated.values())
    hours, minutes = divmod(total, 60)
    for start, in_all in [
        (ROOT / "notebooks" / "00_start_here.ipynb", f"**about {hours} h {minutes} min**"),
        (ROOT / "notebooks" / "ko" / "00_start_here.ipynb", f"**약 {hours}시간 {minutes}분**"),
    ]:
        assert path_table(start) == stated, start
        assert in_all in start.read_text(), f"{start}: the path's total should read {in_all}"


def test_the_korean_twins_state_the_english_times():
    for path in NOTEBOOKS:
        assert stated_minutes(ROOT / "notebooks" / "ko" / path.name) == stated_minutes(path), path.name


def test_the_readme_links_the_guide():
    assert "(docs/teaching.md)" in (ROOT / "README.md").read_text()
