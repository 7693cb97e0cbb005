"""The rendered series (tools/render_series.py): executed pages, navigation, language switch, offline.

The first tests build tiny series of our own in a temporary folder (seconds). The browser test
builds notebook 02 for real (the English page executed, about 20 s), serves the site on 127.0.0.1 and
opens it in headless Chromium with every request to another host blocked and recorded.
"""

from __future__ import annotations

import functools
import http.server
import re
import sys
import threading
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import render_series  # noqa: E402
from install_browser import find_chromium  # noqa: E402

CHROMIUM = find_chromium()
FORMULA_NOTEBOOK = "02_gap_pipeline"


def write_notebook(path: Path, *cells) -> Path:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = list(cells)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, path)
    return path


class Links(HTMLParser):
    """Every <a> of a page as a dict of its attributes (in any order)."""

    def __init__(self, page: str):
        super().__init__()
        self.anchors: list[dict[str, str]] = []
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self.anchors.append(dict(attrs))


def link(page: str, **wanted: str) -> dict[str, str] | None:
    """The first link whose attributes include `wanted` (rel="prev", class_="lang-switch", ...)."""
    wanted = {key.rstrip("_"): value for key, value in wanted.items()}
    return next((a for a in Links(page).anchors if all(a.get(k) == v for k, v in wanted.items())), None)


class SeriesLists(HTMLParser):
    """The series' lists of a page (the sidebar's "site-toc", the start page's "site-path"): for each, the
    list's tag (an <ol> would number its items a second time) and the text of each item's link."""

    LISTS = ("site-toc", "site-path")

    def __init__(self, page: str):
        super().__init__()
        self.lists: dict[str, tuple[str, list[str]]] = {}
        self.open_list: str | None = None
        self.in_link = False
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        name = dict(attrs).get("class", "")
        if tag in ("ol", "ul") and name in self.LISTS:
            self.open_list = name
            self.lists[name] = (tag, [])
        elif tag == "a" and self.open_list:
            self.in_link = True
            self.lists[self.open_list][1].append("")

    def handle_endtag(self, tag):
        if tag == "a":
            self.in_link = False
        elif tag in ("ol", "ul"):
            self.open_list = None

    def handle_data(self, data):
        if self.in_link:
            self.lists[self.open_list][1][-1] += data


NUMBER_IN_FRONT = re.compile(r"\s*(\d+)\s*[·.:)]")


def assert_numbered_once(page: str, which: str, numbers: list[str]) -> None:
    """The list `which` of the page shows each notebook's number once: in its title, not from the list."""
    tag, titles = SeriesLists(page).lists[which]
    assert tag == "ul", f"<{tag} class={which}> numbers its items itself, and the titles carry numbers already"
    assert [NUMBER_IN_FRONT.match(t).group(1) if NUMBER_IN_FRONT.match(t) else None for t in titles] == numbers
    for title in titles:  # "00 · Start here", never "00 · 00 · Start here"
        rest = title[NUMBER_IN_FRONT.match(title).end():]
        assert NUMBER_IN_FRONT.match(rest) is None, title


def md(text: str):
    return nbformat.v4.new_markdown_cell(text)


def code(text: str):
    return nbformat.v4.new_code_cell(text)


def test_render_a_small_notebook_executes_it_with_figures_inline(tmp_path):
    source = write_notebook(
        tmp_path / "99_tiny.ipynb",
        md("# 99 · Tiny\n> a test\n\n## A section"),
        # 0, 2, 4, 8 divided by 8 are 0, 0.25, 0.5, 1: only running the cell prints "total=1.750".
        # Plain Python, no torch: the kernel starts in seconds (notebook 02 below imports cam_helpers).
        code("print(f'total={sum(value / 8 for value in (0, 2, 4, 8)):.3f}')"),
        code("import matplotlib.pyplot as plt\nplt.plot([0, 1], [1, 0]); plt.show()"),
    )
    out = tmp_path / "site"
    assert render_series.main(["--out", str(out), "--no-explorer", str(source)]) == 0
    page = (out / "99_tiny.html").read_text()
    assert "total=1.750" in page  # the executed cell's output, not in the source
    assert "total=1.750" not in source.read_text()
    assert re.search(r'<img[^>]+src="data:image/png;base64,', page), "the figure is not inline"
    assert re.search(r"In(?:\s|&nbsp;)*\[1\]:", page)  # an execution count: the cell ran
    assert "99 · Tiny" in (out / "index.html").read_text()
    assert (out / "mathjax" / "MathJax.js").exists()
    assert 'src="mathjax/MathJax.js' in page
    assert '"outputs": []' in source.read_text()  # the source notebook stays clean


def test_navigation_language_switch_and_badges_without_execution(tmp_path):
    notebooks = tmp_path / "notebooks"
    badge = ("[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.example/00) "
             "[![Binder](https://mybinder.org/badge_logo.svg)](https://binder.example/00)")
    write_notebook(notebooks / "00_first.ipynb", md("# 00 · First\n> the first one"), md(badge), md("## Part A\ntext"))
    widget = code("explorer")
    widget.outputs = [nbformat.v4.new_output("display_data", data={
        "application/vnd.jupyter.widget-view+json": {"model_id": "abc", "version_major": 2, "version_minor": 0},
        "text/plain": "CAMExplorer(...)"})]
    write_notebook(notebooks / "01_second.ipynb", md("# 01 · Second\n> the second one"), widget)
    write_notebook(notebooks / "02_third.ipynb", md("# 02 · Third\n> the third one"))
    write_notebook(notebooks / "ko" / "00_first.ipynb", md("# 00 · 처음\n> 첫 번째"))
    out = tmp_path / "site"
    assert render_series.main(["--out", str(out), "--source", str(notebooks), "--no-execute", "--no-explorer"]) == 0

    first, second, third = ((out / f"{n}.html").read_text() for n in ("00_first", "01_second", "02_third"))
    korean = (out / "ko" / "00_first.html").read_text()
    # previous / next along the series; the first page's "previous" is the start page
    assert link(first, rel="prev")["href"] == "index.html" and link(first, rel="next")["href"] == "01_second.html"
    assert link(second, rel="prev")["href"] == "00_first.html" and link(second, rel="next")["href"] == "02_third.html"
    assert link(third, rel="prev")["href"] == "01_second.html" and link(third, rel="next") is None
    # the sidebar lists the whole series, the current page marked; the page's sections too
    for page in (first, second, third):
        assert all(link(page, href=f"{n}.html") for n in ("00_first", "01_second", "02_third"))
    assert re.search(r'<li[^>]*class="current"[^>]*><a href="01_second.html"', second)
    assert_numbered_once(second, "site-toc", ["00", "01", "02"])  # "01 · Second", not "1. 01 · Second"
    assert_numbered_once((out / "index.html").read_text(), "site-path", ["00", "01", "02"])
    assert link(first, href="#Part-A")
    # the language switch: only where the twin exists, both ways
    assert link(first, class_="lang-switch", hreflang="ko")["href"] == "ko/00_first.html"
    assert link(korean, class_="lang-switch", hreflang="en")["href"] == "../00_first.html"
    assert link(second, class_="lang-switch") is None and link(third, class_="lang-switch") is None
    assert 'src="../mathjax/MathJax.js' in korean
    assert (out / "ko" / "index.html").exists()
    assert link((out / "index.html").read_text(), class_="lang-switch")["href"] == "ko/index.html"
    # badges: the links stay, the external images go
    assert '<a href="https://colab.example/00">Open In Colab</a>' in first
    assert '<a href="https://binder.example/00">Open in Binder</a>' in first
    assert "colab-badge.svg" not in first and "badge_logo.svg" not in first
    assert "the first one" in (out / "index.html").read_text()  # the path through the series
    # search: titles and section headings of every page, offline (a script, not a fetch)
    index = (out / "search-index.js").read_text()
    assert index.startswith("window.SITE_SEARCH = ") and '"section": "Part A", "anchor": "Part-A"' in index
    assert 'class="site-search"' in first and 'src="search-index.js"' in first
    assert (out / "search.js").exists()
    # a widget needs a kernel: its place says where to use it, no widget manager is loaded
    assert '<div class="site-widget-note">' in second
    assert "Colab or Binder" in second and "widget-view+json" not in second


def test_the_series_navigation_numbers_each_notebook_once_in_both_languages():
    """The real series' titles, in the sidebar and on the start page: "00 · Start here", not "0. 00 · Start here".

    Built from the notebooks' first cells by the functions that write the pages: nothing is executed.
    """
    pages = render_series.series_pages(ROOT / "notebooks")
    for language in ("en", "ko"):
        series = pages[language]
        assert len(series) >= 8, language
        numbers = [page.source.name[:2] for page in series]  # 00, 01, ... from the file names
        sidebar = render_series.sidebar_html(series[2], series, [], language)
        assert_numbered_once(sidebar, "site-toc", numbers)
        start_page = render_series.landing_html(language, pages, None)
        assert_numbered_once(start_page, "site-toc", numbers)
        assert_numbered_once(start_page, "site-path", numbers)
    assert "<ul class=\"site-toc\">" in render_series.sidebar_html(None, pages["ko"], [], "ko")
    # the lists draw no marker of their own either (not even a bullet) in the site's style
    assert re.search(r"ul\.site-toc, ul\.site-path[^{]*\{[^}]*list-style: none", render_series.SITE_FILES.joinpath("site.css").read_text())


def test_a_title_without_its_number_gets_it_once(tmp_path):
    assert render_series.numbered_title("00 · Start here", "00_start_here") == "00 · Start here"
    assert render_series.numbered_title("Start here", "00_start_here") == "00 · Start here"
    assert render_series.numbered_title("여기서 시작하세요", "00_start_here") == "00 · 여기서 시작하세요"
    write_notebook(tmp_path / "03_plain.ipynb", md("# A plain title"))
    write_notebook(tmp_path / "ko" / "03_plain.ipynb", md("# 03 · 제목"))
    pages = render_series.series_pages(tmp_path)
    assert [p.title for p in pages["en"] + pages["ko"]] == ["03 · A plain title", "03 · 제목"]


def test_a_page_that_would_load_from_another_site_fails_the_build(tmp_path, capsys):
    notebooks = tmp_path / "notebooks"
    write_notebook(notebooks / "00_remote.ipynb", md("# 00 · Remote\n<script src=\"https://cdn.example/x.js\"></script>"))
    assert render_series.main(["--out", str(tmp_path / "site"), "--source", str(notebooks), "--no-execute", "--no-explorer"]) == 1
    assert "https://cdn.example/x.js" in capsys.readouterr().err


def test_only_names_an_unknown_notebook_clearly(tmp_path, capsys):
    notebooks = tmp_path / "notebooks"
    write_notebook(notebooks / "00_first.ipynb", md("# 00 · First"))
    assert render_series.main(["--out", str(tmp_path / "site"), "--source", str(notebooks), "--only", "07_nope"]) == 2
    assert "07_nope" in capsys.readouterr().err


# --------------------------------------------------------------------------- #
# A real browser, offline
# --------------------------------------------------------------------------- #


@pytest.fixture(scope="module")
def built_site(tmp_path_factory):
    """The site with notebook 02 built for real: the English page executed, its Korean twin rendered as it is.

    --only builds both languages; the browser reads the English page only, and tests/test_run_all.py runs
    the Korean notebook already, so running it here again would only repeat about 15 s of work.
    """
    out = tmp_path_factory.mktemp("series")
    render_page = render_series.render_page

    def execute_english_only(page, pages, out_dir, execute_cells, timeout):
        return render_page(page, pages, out_dir, execute_cells and page.language == "en", timeout)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(render_series, "render_page", execute_english_only)
        assert render_series.main(["--out", str(out), "--only", FORMULA_NOTEBOOK, "--no-explorer"]) == 0
    assert (out / "ko" / f"{FORMULA_NOTEBOOK}.html").exists()  # the Korean page is there, for the language switch
    return out


@pytest.fixture()
def local_server(built_site):
    """The site on 127.0.0.1 (as GitHub Pages would serve it), on a free port."""
    handler = functools.partial(QuietHandler, directory=str(built_site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)  # a quick shutdown()
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium: install Debian's 'chromium' package "
                    "(apt-get install chromium, or python tests/install_browser.py) or set CAM_CHROMIUM")
@pytest.mark.skipif(not (ROOT / "notebooks" / f"{FORMULA_NOTEBOOK}.ipynb").exists(), reason=f"{FORMULA_NOTEBOOK} is not there")
def test_a_built_page_reads_offline_in_a_real_browser(local_server, tmp_path):
    playwright = pytest.importorskip("playwright.sync_api", reason="pip install playwright (the test extra)")
    url = f"{local_server}/{FORMULA_NOTEBOOK}.html"
    left_home: list[str] = []

    def only_local(route):
        address = route.request.url
        if address.startswith(local_server) or address.startswith("file://") or address.startswith(("data:", "about:")):
            route.continue_()
        else:
            left_home.append(address)
            route.abort()

    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"],
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.route("**/*", only_local)
            page.on("request", lambda r: None if r.url.startswith((local_server, "file://", "data:", "about:")) else left_home.append(r.url))
            page.goto(url, wait_until="load", timeout=60_000)
            # MathJax typesets after load: wait until its output is there and its queue is empty.
            page.wait_for_function(
                "() => window.MathJax && MathJax.Hub && document.querySelectorAll('.MathJax_Display').length > 0"
                " && MathJax.Hub.queue.pending === 0 && !MathJax.Hub.queue.running",
                timeout=60_000,
            )
            visible = page.inner_text("main")
            assert "$$" not in visible and "\\sum_k" not in visible, "a formula is shown as raw TeX"
            assert page.locator(".MathJax_Display").count() >= 1
            assert page.locator(".MathJax_Error, .merror").count() == 0
            page.screenshot(path=str(tmp_path / "page.png"), full_page=False)

            # navigation: previous/next, the series in the sidebar, the page's sections
            assert page.locator("a[rel=prev]").get_attribute("href") == "01_flatten_pipeline.html"
            assert page.locator("a[rel=next]").get_attribute("href") == "03_cam_step_by_step.html"
            assert page.locator(".site-toc a").count() >= 8
            assert page.locator(".site-page-toc a").count() >= 3
            assert page.locator(".site-toc li.current a").get_attribute("href") == f"{FORMULA_NOTEBOOK}.html"
            # each notebook numbered once, by its title: the list draws no marker of its own
            assert page.locator(".site-toc li").first.evaluate("li => getComputedStyle(li).listStyleType") == "none"
            assert page.locator(".site-toc li a").first.inner_text().startswith("00 · ")

            # executed at build time: numbered prompts and the live shape of the last conv layer in an output
            assert page.locator(".jp-InputPrompt", has_text="[1]:").count() == 1
            outputs = page.locator(".jp-OutputArea-output").all_inner_texts()
            assert any("[512, 7, 7]" in text for text in outputs), "no output of an executed cell"

            # search, offline: a section of this page is found from its heading's words
            page.fill("input.site-search", "upsample image")
            result = page.locator(".site-search-results a").first
            result.wait_for(timeout=10_000)
            assert result.get_attribute("href").startswith(f"{FORMULA_NOTEBOOK}.html#")

            page.goto(f"{local_server}/index.html", wait_until="load")
            assert page.locator("img.gallery").evaluate("img => img.naturalWidth") > 0
            assert page.locator(".site-path li").count() >= 8
        finally:
            browser.close()
    assert left_home == [], f"requests that left 127.0.0.1: {left_home}"


def test_the_site_build_adds_the_in_browser_explorer(tmp_path, monkeypatch):
    """render_series builds explorer.html into the same folder (tools/build_explorer.py, tested in
    tests/test_build_explorer.py and tests/test_explorer_page.py); --no-explorer leaves it out."""
    import build_explorer

    notebooks = tmp_path / "notebooks"
    write_notebook(notebooks / "00_first.ipynb", md("# 00 · First\n> the first one"),
                   md("[Open the explorer in your browser](https://cam-notebooks.github.io/cam-notebooks/explorer.html)"))
    write_notebook(notebooks / "ko" / "00_first.ipynb", md("# 00 · 처음\n> 첫 번째"),
                   md("[탐색기](https://cam-notebooks.github.io/cam-notebooks/ko/explorer.html)"))
    calls = []
    monkeypatch.setattr(build_explorer, "build_site_explorer", lambda out, pages: calls.append((out, pages)) or [])
    out = tmp_path / "site"
    assert render_series.main(["--out", str(out), "--source", str(notebooks), "--no-execute"]) == 0
    assert len(calls) == 1 and calls[0][0] == out and [p.href for p in calls[0][1]["en"]] == ["00_first.html"]
    assert render_series.main(["--out", str(out), "--source", str(notebooks), "--no-execute", "--no-explorer"]) == 0
    assert len(calls) == 1
    # every page's sidebar links to it, and a notebook's link to the published site stays inside this site
    first, korean = (out / "00_first.html").read_text(), (out / "ko" / "00_first.html").read_text()
    assert 'href="explorer.html"' in first and "github.io" not in first
    assert korean.count('href="../ko/explorer.html"') == 2 and "github.io" not in korean
