"""Hangul in figures: the Korean notebooks call :func:`use_korean_font` once, in their imports cell.

Matplotlib's default font (DejaVu Sans) has no Hangul glyphs, so a Korean title such as
"클래스 활성화 맵" comes out as empty boxes with a "Glyph ... missing from font" warning.
The font we use is NanumGothic, bundled by the PyPI package ``koreanize-matplotlib``
(a dependency of cam_helpers, so it is there on a laptop, on Colab after the setup cell's
``pip install`` and on Binder through environment.yml).

We take only the font files from that package and do not import it: importing
``koreanize_matplotlib`` changes matplotlib's settings as a side effect (and, in its
0.1.x releases, imports ``distutils``, which Python 3.12 no longer ships). This module is
not imported by ``cam_helpers/__init__``, so the English notebooks keep matplotlib's look.

Hangul still shows as boxes? The font cell must run before the figure, in the same kernel:
restart the kernel and run the notebook from the top. If the boxes stay, delete matplotlib's
font cache (the ``fontlist-*.json`` files in ``matplotlib.get_cachedir()``) and restart again.
The errors below say the same, in Korean first (the learners who need the font read Korean).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import matplotlib
from matplotlib import font_manager

__all__ = ["KOREAN_FONT_FAMILY", "korean_font_path", "use_korean_font"]

KOREAN_FONT_FAMILY = "NanumGothic"
_FONT_PACKAGE = "koreanize_matplotlib"


def _bundled_font_files() -> list[Path]:
    """The .ttf files shipped by koreanize-matplotlib, found without importing (running) the package."""
    importlib.invalidate_caches()  # on Colab the package may have been pip-installed a moment ago
    spec = importlib.util.find_spec(_FONT_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(_bilingual(
            "그림 속 한글에는 글꼴 패키지 'koreanize-matplotlib'(cam_helpers와 함께 설치되는 패키지)가 "
            "필요합니다. pip install koreanize-matplotlib 를 실행한 뒤 커널을 다시 시작하세요.",
            "Korean text in figures needs the font package 'koreanize-matplotlib' "
            "(a cam_helpers dependency): run  pip install koreanize-matplotlib  and restart the kernel.",
        ))
    fonts = sorted(Path(next(iter(spec.submodule_search_locations)), "fonts").glob("*.ttf"))
    if not fonts:
        raise FileNotFoundError(_bilingual(
            f"글꼴 패키지 {_FONT_PACKAGE}에 .ttf 글꼴 파일이 없습니다. "
            "pip install --force-reinstall koreanize-matplotlib 로 다시 설치한 뒤 커널을 다시 시작하세요.",
            f"No .ttf files found in the {_FONT_PACKAGE} package: reinstall it with  "
            "pip install --force-reinstall koreanize-matplotlib  and restart the kernel.",
        ))
    return fonts


def _bilingual(korean: str, english: str) -> str:
    """An error message: what to do in Korean, then in English, then what to do if Hangul still shows as boxes."""
    cache = matplotlib.get_cachedir()  # where matplotlib keeps its font list (fontlist-*.json)
    still_boxes_ko = (
        "설치한 뒤에도 한글이 네모(□)로 보이면 커널을 다시 시작하고 노트북을 처음부터 실행하세요. "
        f"그래도 네모라면 matplotlib의 글꼴 캐시({cache} 폴더의 fontlist-*.json 파일)를 지우고 "
        "커널을 한 번 더 다시 시작하세요."
    )
    still_boxes_en = (
        "If Hangul still shows as boxes after that, restart the kernel and run the notebook from the top; "
        f"if it still does, delete matplotlib's font cache (the fontlist-*.json files in {cache}) "
        "and restart the kernel again."
    )
    return f"{korean} {still_boxes_ko}\n{english} {still_boxes_en}"


def korean_font_path() -> Path:
    """Path of the regular NanumGothic .ttf file (for PIL or a font test)."""
    fonts = _bundled_font_files()
    regular = [f for f in fonts if f.name == f"{KOREAN_FONT_FAMILY}.ttf"]
    return regular[0] if regular else fonts[0]


def use_korean_font() -> str:
    """Register NanumGothic with matplotlib and make it the default font; return its family name.

    Safe to call more than once. Only ``font.family`` and ``axes.unicode_minus`` change
    (NanumGothic has no Unicode minus sign, so negative tick labels use '-').
    """
    known = {entry.fname for entry in font_manager.fontManager.ttflist}
    for font_file in _bundled_font_files():
        if str(font_file) not in known:
            font_manager.fontManager.addfont(str(font_file))
    # DejaVu Sans (matplotlib's default) second: a symbol NanumGothic lacks falls back to it.
    matplotlib.rcParams["font.family"] = [KOREAN_FONT_FAMILY, "DejaVu Sans"]
    matplotlib.rcParams["axes.unicode_minus"] = False
    return KOREAN_FONT_FAMILY
