"""The Korean edition: same programs as the English notebooks (tools/ko_parity.py), Hangul in figures.

The parity rules are in tools/ko_parity.py's docstring.
"""

import json
import re
import sys
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ENGLISH = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
KO_DIR = ROOT / "notebooks" / "ko"
PAIRS = [(p, KO_DIR / p.name) for p in ENGLISH if (KO_DIR / p.name).exists()]
sys.path.insert(0, str(ROOT / "tools"))
import ko_parity  # noqa: E402
from ko_parity import code_fingerprint, compare, compare_cells  # noqa: E402


# --------------------------------------------------------------------------- the real twins


@pytest.mark.parametrize("english, korean", PAIRS, ids=[k.name for _, k in PAIRS])
def test_korean_notebook_is_the_english_program(english, korean):
    mismatches = compare(english, korean)
    assert not mismatches, "carry these cells over (python tools/ko_parity.py):\n" + "\n".join(map(str, mismatches))


@pytest.mark.skipif(not KO_DIR.is_dir(), reason="notebooks/ko does not exist yet (the Korean edition is not started)")
@pytest.mark.parametrize("english", ENGLISH, ids=[p.name for p in ENGLISH])
def test_every_english_notebook_has_a_korean_twin(english):
    assert (KO_DIR / english.name).exists(), (
        f"notebooks/ko/{english.name} is missing: python tools/ko_parity.py --scaffold notebooks/{english.name}"
    )


@pytest.mark.skipif(not KO_DIR.is_dir(), reason="notebooks/ko does not exist yet")
def test_no_korean_notebook_without_an_english_twin():
    orphans = [p.name for p in KO_DIR.glob("*.ipynb") if not (ROOT / "notebooks" / p.name).exists()]
    assert not orphans, f"Korean notebooks without an English twin (renamed in English?): {orphans}"


PREDICT_PROMPT = "**먼저 예측하고 실행해 보세요:**"  # the Korean "**Predict, then run:**"


@pytest.mark.parametrize("korean", [k for _, k in PAIRS], ids=[k.name for _, k in PAIRS])
def test_korean_notebook_opens_like_a_lecture(korean):
    """The Korean twin of tests/test_notebooks.py's lecture shape: title, goals, time, exercises, recap."""
    notebook = json.loads(korean.read_text())
    cells = notebook["cells"]
    for cell in cells:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None, f"{korean.name}: stored outputs"
    assert notebook["metadata"]["kernelspec"]["name"] == "python3"
    title = "".join(cells[0]["source"])
    assert title.startswith(f"# {korean.name[:2]} · "), f"{korean.name}: first line must be '# NN · 제목'"
    assert "배울 내용" in title and "소요 시간:" in title, f"{korean.name}: goals (배울 내용) and time (소요 시간:)"
    summary = [line for line in title.splitlines() if line.startswith("> ")]
    assert summary and ko_parity.HANGUL.search(summary[0]), f"{korean.name}: a Korean one-line summary ('> ...')"
    prose = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    assert "스스로 확인하기" in prose and "<details>" in prose and "정리" in prose
    # The prompt before key cells (the English "Predict, then run") has one wording: a line that asks for a
    # prediction opens with it, bold, with a colon; the other wordings it once had are gone.
    prompts = [line for line in prose.splitlines() if re.match(r"\W*먼저 예(측|상)", line)]
    odd = [line for line in prompts if not line.startswith(PREDICT_PROMPT + " ")]
    assert not odd, f"{korean.name}: write the prediction prompt as '{PREDICT_PROMPT} ...': {odd}"
    english = "\n".join("".join(c["source"]) for c in json.loads((ROOT / "notebooks" / korean.name).read_text())["cells"])
    assert len([p for p in prompts if p.startswith(PREDICT_PROMPT)]) == english.count("**Predict, then run:**"), (
        f"{korean.name}: as many prediction prompts as the English twin"
    )
    for variant in ("먼저 예상한 다음 실행하세요", "먼저 예측하고 실행하세요"):
        assert variant not in prose, f"{korean.name}: '{variant}' -> '{PREDICT_PROMPT}'"
    # The prose is Korean: most markdown cells carry Hangul (formulas-only cells may not).
    markdown = [c for c in cells if c["cell_type"] == "markdown" and "badges" not in c.get("metadata", {}).get("tags", [])]
    korean_cells = sum(bool(ko_parity.HANGUL.search("".join(c["source"]))) for c in markdown)
    assert korean_cells >= 0.8 * len(markdown), f"{korean.name}: only {korean_cells}/{len(markdown)} markdown cells are Korean"


# --------------------------------------------------------------------------- the fingerprint

CELL = '''# the class map by hand
weights = classifier.fc_layer.weight[class_index]      # (C,)
cam = torch.einsum("c,chw->hw", weights, features[0])  # (h, w)
print(f"map of {name}: shape {tuple(cam.shape)}, max {cam.max():.3f}")
show_overlay(picture, cam, title="CAM for " + name, alpha=0.5)
'''

TRANSLATED = '''# 클래스 활성화 맵을 손으로 계산합니다
weights = classifier.fc_layer.weight[class_index]      # (C,) 클래스 가중치
cam = torch.einsum("c,chw->hw", weights, features[0])  # (h, w)
print(f"{name}의 맵: 모양 {tuple(cam.shape)}, 최댓값 {cam.max():.3f}")
show_overlay(picture, cam, title=name + "의 CAM", alpha=0.5)
'''


def test_translated_comments_and_strings_are_the_same_program():
    assert code_fingerprint(CELL) != code_fingerprint("x = 1")
    assert compare_cells(CELL, TRANSLATED) is None


@pytest.mark.parametrize(
    "change",
    [
        ("alpha=0.5", "alpha=0.6"),  # a number
        ("weights = classifier", "weight = classifier"),  # a name
        ("features[0]", "features[1]"),  # an index
        ("title=", "label="),  # a keyword
        (", alpha=0.5)", ")"),  # an argument
        ('name + "의 CAM"', 'name * "의 CAM"'),  # an operator
        ("{cam.max():.3f}", "{cam.min():.3f}"),  # an f-string expression
        ("{cam.max():.3f}", "{cam.max():.1f}"),  # an f-string format spec
    ],
    ids=["number", "name", "index", "keyword", "argument", "operator", "fstring-expression", "format-spec"],
)
def test_a_changed_program_is_caught(change):
    old, new = change
    assert old in TRANSLATED
    difference = compare_cells(CELL, TRANSLATED.replace(old, new))
    assert difference is not None and "code differs" in difference[2]


def test_a_string_changed_without_translation_is_caught():
    english = 'photo = load_sample("cat")\nlayer = "layer4"\n'
    assert compare_cells(english, 'photo = load_sample("cat")  # 고양이\nlayer = "layer4"\n') is None
    assert compare_cells(english, 'photo = load_sample("coffee")\nlayer = "layer4"\n') == (
        "'cat'", "'coffee'", "a string changed without being translated (no Hangul in the Korean one)")
    assert compare_cells(english, 'photo = load_sample("cat")\nlayer = "layer3"\n')[:2] == ("'layer4'", "'layer3'")


def test_relative_paths_may_go_one_folder_up():
    assert compare_cells('open("../images/cat.jpg")', 'open("../../images/cat.jpg")') is None
    assert compare_cells('open("../images/cat.jpg")', 'open("../../images/dog.jpg")') is not None


def test_text_concatenation_may_change_order_but_not_operands():
    assert compare_cells('t = "CAM for " + name + "!"', 't = name + "의 CAM!"') is not None  # one string less
    assert compare_cells('t = "CAM for " + name', 't = name + "의 CAM"') is None
    assert compare_cells('t = "CAM for " + name', 't = label + "의 CAM"') is not None
    assert compare_cells("t = a + b", "t = b + a") is not None  # no text: order is the program's


def test_fstring_values_may_change_order_but_not_set():
    english = 'print(f"{done} of {total} cells")'
    assert compare_cells(english, 'print(f"전체 {total}개 중 {done}개")') is None
    assert compare_cells(english, 'print(f"전체 {total}개 중 {total}개")') is not None


def test_lang_keyword_is_allowed_only_as_a_string():
    assert compare_cells("explorer = CAMExplorer(classifier)", 'explorer = CAMExplorer(classifier, lang="ko")') is None
    assert compare_cells("explorer = CAMExplorer(classifier)", "explorer = CAMExplorer(classifier, lang=pick())") is not None


def test_magics_keep_their_text():
    assert compare_cells("%matplotlib inline\nx = 1", "%matplotlib inline\n# 한글 주석\nx = 1") is None
    assert compare_cells("%matplotlib inline\nx = 1", "%matplotlib widget\nx = 1") is not None
    assert compare_cells("!pip install tqdm", "!pip install rich") is not None
    assert compare_cells("%%time\nx = f(1)  # slow\nprint('done')", "%%time\nx = f(1)  # 느림\nprint('완료')") is None
    assert compare_cells("%%time\nx = f(1)", "%%time\nx = f(2)") is not None
    assert compare_cells("%%time\nx = f(1)", "%%timeit\nx = f(1)") is not None


def test_a_syntax_error_is_reported_not_raised():
    assert code_fingerprint("def f(:\n").startswith("<syntax error")
    assert compare_cells("x = 1", "x = (") is not None


# --------------------------------------------------------------------------- whole notebooks


def _notebook(path: Path, cells: list[dict]) -> Path:
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 4}))
    return path


def _code(source: str, tags=(), hidden=False) -> dict:
    metadata = {"tags": list(tags)} if tags else {}
    if hidden:
        metadata["jupyter"] = {"source_hidden": True}
    return {"cell_type": "code", "metadata": metadata, "source": source, "outputs": [], "execution_count": None}


def _markdown(source: str) -> dict:
    return {"cell_type": "markdown", "metadata": {}, "source": source}


ENGLISH_CELLS = [
    _markdown("# 03 · CAM step by step"),
    _code("import sys  # setup", tags=["colab-setup"]),
    _code("x = 1\nprint('x is', x)"),
    _markdown("Solution (expand the cell below)"),
    _code("def f(a):\n    return a + 1\nassert f(1) == 2", hidden=True),
]


def _korean_cells(**changes) -> list[dict]:
    cells = [
        _markdown("# 03 · 클래스 활성화 맵 한 단계씩"),
        _code("import sys  # 준비", tags=["colab-setup"]),
        _code(ko_parity.KO_ONLY_SOURCE, tags=["ko-only"]),
        _code("x = 1\nprint('x의 값은', x)"),
        _markdown("풀이 (아래 셀을 펼치세요)"),
        _code("def f(a):\n    return a + 1  # 하나 더하기\nassert f(1) == 2", hidden=True),
    ]
    return changes.get("edit", lambda c: c)(cells)


def test_compare_notebooks_in_parity(tmp_path):
    english = _notebook(tmp_path / "en.ipynb", ENGLISH_CELLS)
    assert compare(english, _notebook(tmp_path / "ko.ipynb", _korean_cells())) == []


def test_compare_reports_a_missing_korean_cell(tmp_path):
    english = _notebook(tmp_path / "en.ipynb", ENGLISH_CELLS)
    korean = _notebook(tmp_path / "ko.ipynb", _korean_cells(edit=lambda c: c[:5]))
    mismatches = compare(english, korean)
    assert [(m.cell, m.english_index, m.korean_index, m.korean_line) for m in mismatches] == [(2, 4, None, "(missing)")]
    assert "English notebook has 2 code cells, the Korean 1" in mismatches[0].reason


def test_compare_reports_an_extra_korean_cell(tmp_path):
    english = _notebook(tmp_path / "en.ipynb", ENGLISH_CELLS)
    korean = _notebook(tmp_path / "ko.ipynb", _korean_cells(edit=lambda c: c + [_code("y = 2")]))
    mismatches = compare(english, korean)
    assert [(m.cell, m.korean_index, m.korean_line) for m in mismatches] == [(3, 6, "y = 2")]
    assert "no English twin" in mismatches[0].reason


def test_compare_reports_a_changed_cell_with_its_lines(tmp_path):
    english = _notebook(tmp_path / "en.ipynb", ENGLISH_CELLS)

    def edit(cells):
        cells[5] = _code("def f(a):\n    return a + 2\nassert f(1) == 3", hidden=True)
        return cells

    (mismatch,) = compare(english, _notebook(tmp_path / "ko.ipynb", _korean_cells(edit=edit)))
    assert (mismatch.cell, mismatch.english_index, mismatch.korean_index) == (2, 4, 5)
    assert (mismatch.english_line, mismatch.korean_line) == ("return a + 1", "return a + 2")


def test_a_collapsed_solution_must_stay_collapsed(tmp_path):
    english = _notebook(tmp_path / "en.ipynb", ENGLISH_CELLS)

    def edit(cells):
        cells[5]["metadata"] = {}
        return cells

    (mismatch,) = compare(english, _notebook(tmp_path / "ko.ipynb", _korean_cells(edit=edit)))
    assert "collapsed solution" in mismatch.reason


def test_ko_only_cell_may_only_set_language_and_font(tmp_path):
    english = _notebook(tmp_path / "en.ipynb", ENGLISH_CELLS)

    def edit(cells):
        cells[2]["source"] = ko_parity.KO_ONLY_SOURCE + "\nthreshold = 0.3"
        return cells

    (mismatch,) = compare(english, _notebook(tmp_path / "ko.ipynb", _korean_cells(edit=edit)))
    assert "threshold = 0.3" in mismatch.reason and "ko-only" in str(mismatch)
    assert ko_parity.check_ko_only_cell(ko_parity.KO_ONLY_SOURCE) is None


def test_set_language_outside_a_ko_only_cell_is_caught(tmp_path):
    english = _notebook(tmp_path / "en.ipynb", ENGLISH_CELLS)

    def edit(cells):
        del cells[2]
        cells[2]["source"] = 'set_language("ko")\n' + cells[2]["source"]
        return cells

    (mismatch,) = compare(english, _notebook(tmp_path / "ko.ipynb", _korean_cells(edit=edit)))
    assert mismatch.korean_line == "set_language('')"


def test_english_notebook_must_not_have_a_ko_only_cell(tmp_path):
    english = _notebook(tmp_path / "en.ipynb", ENGLISH_CELLS + [_code("set_language('en')", tags=["ko-only"])])
    mismatches = compare(english, _notebook(tmp_path / "ko.ipynb", _korean_cells()))
    assert any("must not have a ko-only cell" in m.reason for m in mismatches)


def test_scaffold_starts_a_twin_in_parity(tmp_path):
    english = tmp_path / "notebooks" / "00_start_here.ipynb"
    english.parent.mkdir()
    english.write_text((ROOT / "notebooks" / "00_start_here.ipynb").read_text())
    korean = ko_parity.scaffold(english)
    assert korean == tmp_path / "notebooks" / "ko" / "00_start_here.ipynb"
    assert compare(english, korean) == []
    cells = json.loads(korean.read_text())["cells"]
    tags = [c.get("metadata", {}).get("tags", []) for c in cells]
    assert tags.index(["colab-setup"]) + 1 == tags.index(["ko-only"])
    setup = "".join(cells[tags.index(["colab-setup"])]["source"])
    assert '"/notebooks/ko"' in setup
    assert "notebooks%2Fko%2F00_start_here.ipynb" in "".join(cells[tags.index(["badges"])]["source"])
    assert all(c.get("outputs", []) == [] for c in cells)
    with pytest.raises(SystemExit, match="exists already"):
        ko_parity.scaffold(english)


# --------------------------------------------------------------------------- Hangul in figures

KOREAN_TITLE = "클래스 활성화 맵"


def test_korean_font_has_the_glyphs_and_draws_without_warnings(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import font_manager
    from matplotlib.ft2font import FT2Font

    from cam_helpers.korean import use_korean_font

    with matplotlib.rc_context():
        family = use_korean_font()
        assert family == "NanumGothic" == matplotlib.rcParams["font.family"][0]
        font_file = font_manager.findfont(font_manager.FontProperties(family=family), fallback_to_default=False)
        assert Path(font_file).name == "NanumGothic.ttf"
        font = FT2Font(font_file)
        missing = [ch for ch in KOREAN_TITLE.replace(" ", "") if font.get_char_index(ord(ch)) == 0]
        assert not missing, f"{font_file} lacks glyphs for {missing}"
        fig, ax = plt.subplots(figsize=(3, 2))
        ax.set_title(KOREAN_TITLE)
        ax.plot([-1, 1], [-1, 1])  # negative tick labels: no Unicode minus needed
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # "Glyph ... missing from font" would fail here
            fig.savefig(tmp_path / "korean.png")
        plt.close(fig)
    assert (tmp_path / "korean.png").stat().st_size > 0


def test_without_the_korean_font_the_default_font_misses_hangul(tmp_path):
    """The test above would pass vacuously if matplotlib's default font drew Hangul; it does not."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with matplotlib.rc_context({"font.family": ["DejaVu Sans"]}):
        fig, ax = plt.subplots(figsize=(3, 2))
        ax.set_title(KOREAN_TITLE)
        with pytest.warns(UserWarning, match="missing from font"):
            fig.savefig(tmp_path / "boxes.png")
        plt.close(fig)


@pytest.mark.parametrize("package, error, fix", [
    ("koreanize_matplotlib_not_installed", ModuleNotFoundError, "pip install koreanize-matplotlib"),
    ("json", FileNotFoundError, "pip install --force-reinstall koreanize-matplotlib"),  # a package without fonts/
])
def test_a_missing_font_says_what_to_do_in_korean_then_in_english(package, error, fix, monkeypatch):
    import matplotlib

    from cam_helpers import korean

    monkeypatch.setattr(korean, "_FONT_PACKAGE", package)
    with matplotlib.rc_context():
        before = list(matplotlib.rcParams["font.family"])
        with pytest.raises(error) as raised:
            korean.use_korean_font()
        assert matplotlib.rcParams["font.family"] == before, "a failed call must leave the font alone"
    korean_line, english_line = str(raised.value).split("\n")
    assert ko_parity.HANGUL.search(korean_line.split(". ")[0]), f"the first sentence is Korean: {korean_line!r}"
    assert not ko_parity.HANGUL.search(english_line), f"the second is English: {english_line!r}"
    cache = matplotlib.get_cachedir()
    for line in (korean_line, english_line):
        assert fix in line and cache in line and "fontlist-*.json" in line
    assert "커널을 다시 시작" in korean_line and "네모" in korean_line
    assert "restart the kernel" in english_line and "still shows as boxes" in english_line


def test_importing_cam_helpers_leaves_the_english_look_alone():
    import subprocess

    code = (
        "import matplotlib, cam_helpers, cam_helpers.viz, cam_helpers.exercises;"
        "print(matplotlib.rcParams['font.family'], matplotlib.rcParams['axes.unicode_minus'])"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                          env={**__import__("os").environ, "MPLBACKEND": "Agg", "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['sans-serif'] True"
