"""The notebooks' prose as a reader sees it: markdown that renders, the glossary's words, 7×7.

Three slips a bilingual reviewer found in the rendered Korean edition (issue 22, §1.8 and §1.9),
each checked here so that it cannot come back:

* **Literal asterisks.** CommonMark closes ``**bold**`` only where the closing ``**`` is
  right-flanking: in ``**"왜"**는`` it follows punctuation and a Hangul letter follows it, so
  it does not close, and Jupyter shows ``**"왜"**는`` as typed. Every markdown cell of every
  notebook, in both languages, is rendered with markdown-it-py's CommonMark parser (plus
  GitHub's tables, which Jupyter draws too); no ``*`` may be left in the rendered text. Write
  ``**왜**는`` or ``"**왜**"는`` (the quote outside), or ``\\*`` for an asterisk you mean.
* **A word the glossary avoids.** docs/glossary.md lists, in its "다른 표기" (avoid) column,
  the spellings the series does not use, separated by commas (text in parentheses is a note).
  None of them may appear in a Korean notebook's prose.
* **"7x7"** (the letter x between two numbers) in Korean prose; the style rule asks for 7×7.

Prose means the rendered text of the markdown cells: code spans, code blocks, math and HTML
tags are left out (``7x7`` inside backticks is code and stays).
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(p for p in NOTEBOOK_DIR.glob("**/*.ipynb") if ".ipynb_checkpoints" not in p.parts)
KOREAN_NOTEBOOKS = [p for p in NOTEBOOKS if p.parent.name == "ko"]
GLOSSARY = ROOT / "docs" / "glossary.md"

# Jupyter's renderer is CommonMark plus GitHub-style tables. "text_join" is switched off so that an
# escaped character (\*) stays a token of its own: an escaped asterisk is meant, a leftover one is not.
MARKDOWN = MarkdownIt("commonmark").enable("table").disable("text_join")
HIDDEN = "\ufffc"  # stands for a code span or a formula in the prose text (never a letter or a digit)

# Code and math are not prose. Code comes first in the alternation so that a $ inside code is not math.
_CODE_OR_MATH = re.compile(
    r"(?P<fence>^[ ]{0,3}(?P<fence_mark>`{3,}|~{3,}).*?^[ ]{0,3}(?P=fence_mark))"  # fenced code block
    r"|(?P<code>(?P<ticks>`+)[^`].*?(?P=ticks))"                                    # code span
    r"|(?P<display>\$\$.+?\$\$)"                                                      # display math
    r"|(?P<inline>(?<![\\$])\$[^$\n]+?\$)",                                           # inline math
    re.S | re.M,
)
DIMENSION_WITH_X = re.compile(r"(?<!\d)\d+ *[xX] *\d+(?!\d)")  # 7x7, 3 x 3, 224X224 (a whole number each side)


def _without_math(markdown: str) -> str:
    """The cell's markdown with every formula replaced by HIDDEN (code is left for the parser)."""
    def replace(match: re.Match) -> str:
        return HIDDEN if match.group("display") or match.group("inline") else match.group(0)
    return _CODE_OR_MATH.sub(replace, markdown)


def rendered_pieces(markdown: str) -> list[str]:
    """The text nodes CommonMark leaves after parsing: what a reader sees, minus code, math, HTML.

    A ``*`` in a piece is a literal asterisk on the page (an escaped ``\\*`` is not a text node here).
    """
    pieces = []
    for token in MARKDOWN.parse(_without_math(markdown)):
        if token.type == "inline":
            pieces += [child.content for child in token.children if child.type == "text"]
    return pieces


def prose(markdown: str) -> str:
    """The rendered text of a cell, one line per paragraph, heading or table cell.

    Emphasis marks disappear ("**CAM** 가족" reads "CAM 가족"), a line break inside a
    paragraph becomes a space, and code spans and formulas become HIDDEN.
    """
    lines = []
    for token in MARKDOWN.parse(_without_math(markdown)):
        if token.type != "inline":
            continue
        line = ""
        for child in token.children:
            if child.type in ("text", "text_special"):
                line += child.content
            elif child.type in ("softbreak", "hardbreak"):
                line += " "
            elif child.type == "code_inline":
                line += HIDDEN
        lines.append(line)
    return "\n".join(lines)


def markdown_cells(path: Path) -> list[tuple[int, str]]:
    """(cell index, source) of each markdown cell; the index counts every cell, as Jupyter does from 0."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return [(i, "".join(cell["source"])) for i, cell in enumerate(cells) if cell["cell_type"] == "markdown"]


def notebook_id(path: Path) -> str:
    return path.relative_to(NOTEBOOK_DIR).as_posix()


def stray_asterisks(markdown: str) -> list[str]:
    """The rendered text nodes of a cell that still contain an asterisk."""
    return [piece.strip() for piece in rendered_pieces(markdown) if "*" in piece]


@lru_cache(maxsize=None)
def avoided_spellings() -> dict[str, str]:
    """Glossary: each spelling of the "다른 표기" column -> the series term to use instead."""
    spellings = {}
    rows = [line for line in GLOSSARY.read_text(encoding="utf-8").splitlines() if line.startswith("|")]
    header, rule, *body = rows
    columns = [name.strip() for name in header.strip("|").split("|")]
    assert columns[1:3] == ["시리즈 용어", "다른 표기"] and set(rule) <= set("|-: "), columns
    for row in body:
        _english, term, avoid, _meaning = (cell.strip() for cell in row.strip().strip("|").split("|"))
        for spelling in avoid.split(","):
            spelling = re.sub(r"\(.*?\)", "", spelling).strip()  # "임곗값(사전 표기)" -> "임곗값"
            if spelling:
                spellings[spelling] = term
    return spellings


def avoided_in(text: str) -> list[tuple[re.Match, str]]:
    """(match, series term) for each place a prose text uses a spelling the glossary avoids."""
    return [(match, term) for spelling, term in avoided_spellings().items()
            for match in re.finditer(re.escape(spelling), text)]


def _context(text: str, start: int, end: int, width: int = 25) -> str:
    return text[max(0, start - width):end + width].replace("\n", " / ")


# --------------------------------------------------------------------------- the checks themselves


def test_the_renderer_keeps_the_asterisks_the_reviewer_saw():
    # the two examples of issue 22 §1.9: punctuation before the closing mark, Hangul after it
    assert stray_asterisks('**"모델이 왜 그런 예측을 했는지"**는 무엇일까요?') == ['**"모델이 왜 그런 예측을 했는지"**는 무엇일까요?']
    assert stray_asterisks("*왜 이 맵을 믿어야 할까?*라는 질문") == ["*왜 이 맵을 믿어야 할까?*라는 질문"]
    # the same sentences written so that they render
    assert stray_asterisks('"**모델이 왜 그런 예측을 했는지**"는 무엇일까요?') == []
    assert stray_asterisks("**모델이 왜 그런 예측을 했는지**는, *왜 믿어야 할까*라는 질문") == []
    assert stray_asterisks("**원**(circle)은") == []
    assert stray_asterisks("5 * 3 = 15") == ["5 * 3 = 15"]


def test_code_math_escapes_and_tables_are_not_literal_asterisks():
    assert stray_asterisks("`features *= 2` and ``a ** b``, done") == []
    assert stray_asterisks("```python\nx = a * b\ny = a ** 2\n```") == []
    assert stray_asterisks("$a * b$ and $$\\sum_k w_k * f_k$$ and \\* escaped") == []
    assert stray_asterisks("the `$HOME` folder, then *emphasis*") == []
    assert stray_asterisks("| step | shape |\n|---|---|\n| **GAP** | `[512]` |") == []
    assert stray_asterisks("| step | shape |\n|---|---|\n| **\"GAP\"**는 | `[512]` |") == ['**"GAP"**는']


def test_prose_drops_markup_code_and_math_but_keeps_the_words():
    assert prose("**CAM** 가족을\n나란히 비교합니다") == "CAM 가족을 나란히 비교합니다"
    assert prose("`7x7` 격자와 $7 x 7$ 격자, 그리고 7×7") == f"{HIDDEN} 격자와 {HIDDEN} 격자, 그리고 7×7"
    assert prose("[05 · CAM 탐색기](05_cam_explorer.ipynb)") == "05 · CAM 탐색기"


def test_the_glossary_table_is_read_with_its_avoid_column():
    spellings = avoided_spellings()
    assert spellings["CAM 가족"] == "CAM 계열"
    assert spellings["네트워크"] == "신경망"
    assert spellings["임곗값"] == "임계값"           # "(사전 표기)" is a note, not part of the spelling
    assert spellings["밀집층"] == "완전 연결층 (FC)"
    assert spellings["해석 가능 인공지능"] == "설명 가능한 AI (XAI)"
    # a series term is never also avoided (a row would then forbid another row's term)
    terms = {part.strip() for term in spellings.values() for part in re.split(r"[()/]", term) if part.strip()}
    assert not terms & set(spellings), terms & set(spellings)


def test_avoided_spellings_and_dimensions_are_found_in_prose():
    text = prose("다음: **CAM 가족**을 비교합니다. `CAM 가족`은 코드라서 괜찮습니다. 5x5 표시, 8 x 8 격자")
    assert [(match.group(0), term) for match, term in avoided_in(text)] == [("CAM 가족", "CAM 계열")]
    assert DIMENSION_WITH_X.findall(text) == ["5x5", "8 x 8"]
    assert not DIMENSION_WITH_X.search(prose("`224x224` 이미지, 7×7 격자, $3 x 3$"))


# --------------------------------------------------------------------------- the notebooks


@pytest.mark.parametrize("path", NOTEBOOKS, ids=notebook_id)
def test_markdown_renders_without_literal_asterisks(path):
    found = [f"cell {i}: {piece!r}" for i, source in markdown_cells(path) for piece in stray_asterisks(source)]
    assert not found, (
        f"{notebook_id(path)}: asterisks that CommonMark shows as typed (a closing ** or * after punctuation "
        "needs a space or a non-letter after it; move the punctuation outside, e.g. \"**왜**\"는, "
        "or write \\* for a literal asterisk):\n" + "\n".join(found))


@pytest.mark.parametrize("path", KOREAN_NOTEBOOKS, ids=notebook_id)
def test_korean_prose_avoids_the_glossarys_other_spellings(path):
    found = []
    for i, source in markdown_cells(path):
        text = prose(source)
        for match, term in avoided_in(text):
            found.append(f"cell {i}: {match.group(0)!r} -> {term!r}: ...{_context(text, match.start(), match.end())}...")
    assert not found, f"{notebook_id(path)}: spellings docs/glossary.md avoids:\n" + "\n".join(found)


@pytest.mark.parametrize("path", KOREAN_NOTEBOOKS, ids=notebook_id)
def test_korean_prose_writes_sizes_with_the_multiplication_sign(path):
    found = [f"cell {i}: {match.group(0)!r} in ...{_context(text, match.start(), match.end())}..."
             for i, source in markdown_cells(path)
             for text in [prose(source)]
             for match in DIMENSION_WITH_X.finditer(text)]
    assert not found, f"{notebook_id(path)}: write 7×7, not 7x7, in prose (code spans may keep x):\n" + "\n".join(found)


def test_there_are_korean_notebooks_to_check():
    english = {p.name for p in NOTEBOOKS if p.parent == NOTEBOOK_DIR}
    assert len(english) >= 9 and {p.name for p in KOREAN_NOTEBOOKS} == english
