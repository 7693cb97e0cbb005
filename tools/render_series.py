#!/usr/bin/env python3
"""Build the series as a static site that works offline: executed notebooks, navigation, typeset formulas.

    python tools/render_series.py                        # every notebook -> build/series/index.html
    python tools/render_series.py --only 02_gap_pipeline # one page, quickly (the others keep their old pages)
    python tools/render_series.py --no-execute           # render the notebooks as they are (fast preview)
    python tools/render_series.py --out site             # another folder

What a reader gets: a landing page with the gallery and the path through the series; one page per
notebook, executed offline at build time (its own folder as working directory, CAM_HELPERS_OFFLINE=1),
with its figures inline; a sidebar with a search (every page's title and sections), the series and
the page's sections; previous/next links; and, where `notebooks/ko/<same name>` exists, a switch to
the Korean page (and back). The Korean edition gets its own landing page under ko/.

Nothing is fetched at reading time: the pages carry their styles inline, MathJax 2.7 is copied into
the site from the PyPI package `jupyter-server-mathjax` (the copy Jupyter itself serves), RequireJS,
the widget manager and Mermaid (which nbconvert's "lab" template loads from CDNs) are left out, and
the Colab/Binder badge images become plain text links. The build checks every page for an external
script, style, font or image and fails if it finds one.

Why plain nbconvert and a template, not a site builder: Jupyter Book 2 / MyST needs Node.js and
downloads its theme at build time, and Jupyter Book 1 (Sphinx) loads MathJax from a CDN by default
and brings a large dependency tree; nbconvert and nbclient are already in the test environment and
give JupyterLab's own look. The frame (header, sidebar, pager) is one small template beside this
file (tools/site/series.html.j2, site.css and search.js).

The notebooks in notebooks/ stay untouched (they are source, without outputs); the executed copies
live only in the build folder, which git ignores.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SITE_FILES = Path(__file__).resolve().parent / "site"
SERIES_TITLE = {"en": "CAM notebooks", "ko": "CAM 노트북"}
LANGUAGE_NAMES = {"en": "English", "ko": "한국어"}
WORDS = {
    "en": {"series": "The series", "search": "Search the series", "page": "On this page", "previous": "Previous", "next": "Next",
           "home": "Start page", "path": "The path through the series",
           "explorer": "Open the explorer in your browser",
           "intro": "Class Activation Maps, explained with live tensors: every shape printed from a real "
                    "network, every identity checked with an assert you can read.",
           "offline": "This site works offline: the pages were executed when the site was built, and "
                      "formulas are typeset by a copy of MathJax inside the site.",
           "gallery": "One photo, the CAMs of two of its classes, and one class at four depths of the network.",
           "widget": "An interactive widget runs here in Jupyter: open this notebook in Colab or Binder "
                     "(links at the top of the page) or in JupyterLab to use it."},
    "ko": {"series": "시리즈", "search": "시리즈 검색", "page": "이 페이지", "previous": "이전", "next": "다음",
           "home": "시작 페이지", "path": "시리즈의 순서",
           "explorer": "브라우저에서 탐색기 열기",
           "intro": "살아 있는 텐서로 설명하는 Class Activation Map.",
           "offline": "이 사이트는 오프라인에서도 동작합니다.",
           "gallery": "사진 한 장, 두 클래스의 CAM, 네트워크의 네 깊이에서 본 한 클래스.",
           "widget": "여기에는 Jupyter에서 동작하는 대화형 위젯이 있습니다: Colab, Binder 또는 JupyterLab에서 열어 사용하세요."},
}

# [![Colab](https://.../badge.svg)](https://colab...) -> [Open in Colab](https://colab...): the link stays,
# the external badge image goes.
BADGE = re.compile(r"\[!\[([^\]]*)\]\((?:https?:)?//[^)]*\)\]\(([^)]*)\)")
EXTERNAL_IMAGE = re.compile(r"!\[([^\]]*)\]\(((?:https?:)?//[^)\s]*)[^)]*\)")
# What a page must not load from elsewhere (links <a href> to other sites are fine).
EXTERNAL_LOADS = re.compile(
    r"""(?:<(?:script|img|iframe|audio|video|source|embed)\b[^>]*\bsrc|<link\b[^>]*\bhref)\s*=\s*["']?"""
    r"""((?:https?:)?//[^"'\s>]*)"""
    r"""|(?:url\(|@import)\s*["']?((?:https?:)?//[^"'\s)]*)""",
    re.IGNORECASE,
)
HEADING = re.compile(r'<h([23]) id="([^"]+)">(.*?)(?:<a class="anchor-link"[^>]*>.*?</a>)?</h\1>', re.DOTALL)


@dataclass
class Page:
    source: Path        # notebooks/NAME.ipynb or notebooks/ko/NAME.ipynb
    language: str       # "en" or "ko"
    href: str           # path of the page from the site root: NAME.html or ko/NAME.html
    title: str
    summary: str


class ExternalResourceError(RuntimeError):
    """A rendered page would load something from another site."""


def read_notebook(source: Path):
    import nbformat

    return nbformat.read(source, as_version=4)


def title_and_summary(notebook, fallback: str) -> tuple[str, str]:
    """The first '# ' heading of the first cell, and its first '> ' line (the notebook's one-line promise)."""
    first = notebook.cells[0].source if notebook.cells else ""
    lines = first.splitlines()
    title = next((l[2:].strip() for l in lines if l.startswith("# ")), fallback)
    summary = next((l[1:].strip() for l in lines if l.startswith(">")), "")
    return title, summary


def numbered_title(title: str, stem: str) -> str:
    """The title with the notebook's number in front, once: '00 · Start here' stays as it is,
    'Start here' from 00_start_here.ipynb becomes '00 · Start here'.

    The number lives in the title only (the series' lists are unnumbered lists): the same text then reads
    the same in the sidebar, the pager, the search results and the browser tab, in English and in Korean.
    """
    number = stem.split("_", 1)[0]
    if not number.isdigit() or title.startswith(number):
        return title
    return f"{number} · {title}"


def series_pages(source_dir: Path, names: list[Path] | None = None) -> dict[str, list[Page]]:
    """The English pages in teaching order and their Korean twins that exist (notebooks/ko/<same name>)."""
    sources = names or sorted(source_dir.glob("[0-9][0-9]_*.ipynb"))
    pages: dict[str, list[Page]] = {"en": [], "ko": []}
    for source in sources:
        for language, path, href in (
            ("en", source, f"{source.stem}.html"),
            ("ko", source.parent / "ko" / source.name, f"ko/{source.stem}.html"),
        ):
            if path.exists():
                title, summary = title_and_summary(read_notebook(path), path.stem)
                title = numbered_title(title, path.stem)
                pages[language].append(Page(path.resolve(), language, href, title, summary))
    return pages


def relative(href: str, from_href: str) -> str:
    """A link to site path `href` written in the page at site path `from_href`."""
    depth = from_href.count("/")
    return "../" * depth + href


def twin(page: Page, pages: dict[str, list[Page]]) -> Page | None:
    other = "ko" if page.language == "en" else "en"
    return next((p for p in pages[other] if p.source.name == page.source.name), None)


def header_html(page_href: str, language: str, twin_href: str | None) -> str:
    home = relative("ko/index.html" if language == "ko" else "index.html", page_href)
    switch = ""
    if twin_href is not None:
        other = "ko" if language == "en" else "en"
        switch = (f'<a class="lang-switch" hreflang="{other}" lang="{other}" '
                  f'href="{html.escape(relative(twin_href, page_href))}">{LANGUAGE_NAMES[other]}</a>')
    return (f'<header class="site-header"><a class="site-home" href="{home}">{SERIES_TITLE[language]}</a>'
            f'<span class="site-spacer"></span>{switch}</header>')


def sidebar_html(current: Page | None, pages: list[Page], sections: list[tuple[int, str, str]], language: str,
                 current_href: str | None = None) -> str:
    """The search, the series (an unnumbered list: each title carries its number, "00 · Start here"),
    the in-browser explorer and the page's sections. ``current_href``: the page's site path when it is
    not a notebook (the landing page, the explorer)."""
    words = WORDS[language]
    here = current.href if current else current_href or ("ko/index.html" if language == "ko" else "index.html")
    items = []
    for page in pages:
        mark = ' class="current" aria-current="page"' if current is not None and page.href == current.href else ""
        items.append(f'<li{mark}><a href="{html.escape(relative(page.href, here))}">{html.escape(page.title)}</a></li>')
    root = relative("", here)
    search = (f'<input type="search" class="site-search" data-root="{root}" placeholder="{words["search"]}" '
              f'aria-label="{words["search"]}"><ul class="site-search-results"></ul>'
              f'<script src="{root}search-index.js"></script><script src="{root}search.js"></script>')
    toc = ""
    if sections:
        entries = "".join(
            f'<li class="level-{level}"><a href="#{html.escape(anchor)}">{text}</a></li>' for level, anchor, text in sections
        )
        toc = f'<h2>{words["page"]}</h2><ul class="site-page-toc">{entries}</ul>'
    explorer_href = "ko/explorer.html" if language == "ko" else "explorer.html"
    mark = ' aria-current="page"' if here == explorer_href else ""
    explorer = (f'<p class="site-explorer-link"><a href="{relative(explorer_href, here)}"{mark}>'
                f'{words["explorer"]}</a></p>')
    return (f'<nav class="site-sidebar" aria-label="{words["series"]}">{search}{explorer}<h2>{words["series"]}</h2>'
            f'<ul class="site-toc">{"".join(items)}</ul>{toc}</nav>')


def pager_html(current: Page, pages: list[Page]) -> str:
    words = WORDS[current.language]
    index = next(i for i, p in enumerate(pages) if p.href == current.href)
    parts = []
    if index > 0:
        previous = pages[index - 1]
        parts.append(f'<a rel="prev" href="{html.escape(relative(previous.href, current.href))}">'
                     f'← {words["previous"]}: {html.escape(previous.title)}</a>')
    else:
        parts.append(f'<a rel="prev" href="{relative("ko/index.html" if current.language == "ko" else "index.html", current.href)}">'
                     f'← {words["home"]}</a>')
    if index + 1 < len(pages):
        following = pages[index + 1]
        parts.append(f'<a rel="next" href="{html.escape(relative(following.href, current.href))}">'
                     f'{words["next"]}: {html.escape(following.title)} →</a>')
    return f'<nav class="site-pager">{"".join(parts)}</nav>'


def plain_text(fragment: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", fragment)).strip()


def badge_label(alt: str) -> str:
    """'Open In Colab' stays; 'Binder' becomes 'Open in Binder'."""
    alt = alt.strip() or "a new tab"
    return alt if alt.lower().startswith("open") else f"Open in {alt}"


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


# A link to the published site itself (https://OWNER.github.io/NAME/..., tools/sync_links.py keeps it): inside
# the site it becomes relative, so a local build or a fork's site keeps its readers at home.
SITE_LINK = re.compile(r"\]\(https://[A-Za-z0-9-]+\.github\.io/[A-Za-z0-9._-]+/")


def prepare_for_the_web(notebook, widget_note: str, page_href: str = "") -> None:
    """Badge images become text links, other external images become links, links to the site itself
    become relative; widget state is dropped (showing it would need the widget manager from a CDN;
    each widget's place gets a note instead)."""
    root = relative("", page_href)
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            cell.source = SITE_LINK.sub(lambda m: f"]({root}", cell.source)
            cell.source = BADGE.sub(lambda m: f"[{badge_label(m.group(1))}]({m.group(2)})", cell.source)
            cell.source = EXTERNAL_IMAGE.sub(lambda m: f"[{m.group(1) or 'image'}]({m.group(2)})", cell.source)
        for output in cell.get("outputs", []):
            if WIDGET_VIEW in output.get("data", {}):
                output["data"] = {"text/html": f'<div class="site-widget-note">{html.escape(widget_note)}</div>'}
    notebook.metadata.pop("widgets", None)


def execute(notebook, folder: Path, timeout: int) -> None:
    """Run every cell in a fresh kernel with the notebook's folder as working directory, offline."""
    from nbclient import NotebookClient

    env = dict(
        os.environ,
        CAM_HELPERS_OFFLINE="1",  # a rendered series never depends on a download
        MPLBACKEND="module://matplotlib_inline.backend_inline",  # figures into the page, whatever the caller's backend
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),  # this tree's cam_helpers
    )
    NotebookClient(
        notebook, timeout=timeout, kernel_name="python3", allow_errors=False,
        resources={"metadata": {"path": str(folder)}},
    ).execute(env=env)


def export(notebook, page: Page, pages: dict[str, list[Page]]) -> str:
    """The page's HTML: the notebook in the lab look, inside the series' frame."""
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(
        template_name="lab", extra_template_paths=[str(SITE_FILES)], template_file="series.html.j2",
        embed_images=True,  # markdown images into the page, like the outputs' figures
    )
    other = twin(page, pages)
    site = {
        "root": relative("", page.href),
        "css": (SITE_FILES / "site.css").read_text(encoding="utf-8"),
        "header": header_html(page.href, page.language, other.href if other else None),
        "sidebar": "<!--site-sidebar-->",  # filled below, once the page's sections are known
        "pager": pager_html(page, pages[page.language]),
    }
    body, _ = exporter.from_notebook_node(
        notebook, resources={"site": site, "metadata": {"name": page.title, "path": str(page.source.parent)}}
    )
    sections = [(int(level), anchor, html.escape(plain_text(text))) for level, anchor, text in HEADING.findall(body)]
    return body.replace("<!--site-sidebar-->", sidebar_html(page, pages[page.language], sections, page.language), 1)


def check_offline(text: str, where: str) -> None:
    found = [m.group(1) or m.group(2) for m in EXTERNAL_LOADS.finditer(text)]
    if found:
        raise ExternalResourceError(f"{where} would load from another site: {found[:5]}; "
                                    "make it local or a plain link")


def render_page(page: Page, pages: dict[str, list[Page]], out_dir: Path, execute_cells: bool, timeout: int) -> Path:
    notebook = read_notebook(page.source)
    if execute_cells:
        execute(notebook, page.source.parent, timeout)
    prepare_for_the_web(notebook, WORDS[page.language]["widget"], page.href)
    text = export(notebook, page, pages)
    check_offline(text, page.href)
    target = out_dir / page.href
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    return target


def landing_html(language: str, pages: dict[str, list[Page]], gallery: str | None) -> str:
    words = WORDS[language]
    href = "ko/index.html" if language == "ko" else "index.html"
    other = "ko" if language == "en" else "en"
    twin_href = ("index.html" if other == "en" else "ko/index.html") if pages[other] else None
    path = "".join(
        f'<li><a href="{html.escape(relative(p.href, href))}">{html.escape(p.title)}</a>'
        f'<span class="summary">{html.escape(p.summary)}</span></li>'
        for p in pages[language]
    )
    figure = (f'<figure><img class="gallery" src="{relative(gallery, href)}" alt="{html.escape(words["gallery"])}">'
              f'<figcaption class="site-note">{html.escape(words["gallery"])}</figcaption></figure>') if gallery else ""
    return (
        f'<!DOCTYPE html><html lang="{language}"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1.0">'
        f'<title>{SERIES_TITLE[language]}</title><style>{(SITE_FILES / "site.css").read_text(encoding="utf-8")}</style></head>'
        f'<body class="site-landing">{header_html(href, language, twin_href)}<div class="site-layout">'
        f'{sidebar_html(None, pages[language], [], language)}<main class="site-main">'
        f'<h1>{SERIES_TITLE[language]}</h1><p>{html.escape(words["intro"])}</p>{figure}'
        f'<h2>{words["path"]}</h2><ul class="site-path">{path}</ul>'
        f'<p class="site-note">{html.escape(words["offline"])}</p></main></div></body></html>'
    )


def write_search_index(out_dir: Path, pages: dict[str, list[Page]]) -> None:
    """search-index.js: every built page's title and section headings (read back from the pages, so
    a partial build with --only keeps the others' entries)."""
    index: dict[str, list[dict[str, str]]] = {}
    for language, language_pages in pages.items():
        entries = index.setdefault(language, [])
        for page in language_pages:
            entries.append({"href": page.href, "title": page.title, "section": "", "anchor": "", "text": page.summary})
            built = out_dir / page.href
            if built.exists():
                for _, anchor, text in HEADING.findall(built.read_text(encoding="utf-8")):
                    entries.append({"href": page.href, "title": page.title, "section": plain_text(text), "anchor": anchor})
    for language, href in (("en", "explorer.html"), ("ko", "ko/explorer.html")):
        if (out_dir / href).exists():  # the in-browser explorer (tools/build_explorer.py), found by its name
            index.setdefault(language, []).append({"href": href, "title": WORDS[language]["explorer"], "section": "",
                                                   "anchor": "", "text": ""})
    script = "window.SITE_SEARCH = " + json.dumps(index, ensure_ascii=False).replace("</", "<\\/") + ";\n"
    (out_dir / "search-index.js").write_text(script, encoding="utf-8")
    shutil.copy2(SITE_FILES / "search.js", out_dir / "search.js")


def copy_assets(out_dir: Path) -> str | None:
    """MathJax (from the jupyter-server-mathjax package) and the gallery into the site; the gallery's site path."""
    try:
        import jupyter_server_mathjax
    except ImportError as error:
        raise SystemExit("The site needs MathJax from the package jupyter-server-mathjax: "
                         "pip install jupyter-server-mathjax (it is in the test extra)") from error
    mathjax = Path(jupyter_server_mathjax.__file__).parent / "static"
    if not (out_dir / "mathjax" / "MathJax.js").exists():
        shutil.copytree(mathjax, out_dir / "mathjax", dirs_exist_ok=True)
    gallery = ROOT / "images" / "gallery.png"
    if not gallery.exists():
        return None
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    shutil.copy2(gallery, out_dir / "images" / "gallery.png")
    return "images/gallery.png"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(ROOT / "build" / "series"), help="output folder (default: build/series)")
    parser.add_argument("--source", default=str(ROOT / "notebooks"), help="the series' folder (Korean twins in its ko/)")
    parser.add_argument("--only", action="append", default=[], metavar="NAME",
                        help="build only this notebook (name without .ipynb; repeat for more); navigation still lists all")
    parser.add_argument("--no-execute", action="store_true", help="render the notebooks as they are, without running them")
    parser.add_argument("--timeout", type=int, default=600, help="seconds a cell may run (default 600)")
    parser.add_argument("--no-explorer", action="store_true",
                        help="leave out the in-browser explorer (tools/build_explorer.py: ONNX export, onnxruntime-web)")
    parser.add_argument("notebooks", nargs="*", help="notebook files that make the series (default: all in --source)")
    args = parser.parse_args(argv)

    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    names = [Path(p).resolve() for p in args.notebooks] or None
    pages = series_pages(Path(args.source).resolve(), names)
    if not pages["en"]:
        print(f"no notebooks found in {args.source}", file=sys.stderr)
        return 1
    wanted = {name.removesuffix(".ipynb") for name in args.only}
    unknown = wanted - {p.source.stem for p in pages["en"]}
    if unknown:
        print(f"--only: no notebook named {sorted(unknown)}; the series has {[p.source.stem for p in pages['en']]}",
              file=sys.stderr)
        return 2

    gallery = copy_assets(out_dir)
    total = time.perf_counter()
    failed = []  # a failing notebook does not stop the others: the build reports them all at the end
    for page in pages["en"] + pages["ko"]:
        if wanted and page.source.stem not in wanted:
            continue
        start = time.perf_counter()
        try:
            render_page(page, pages, out_dir, not args.no_execute, args.timeout)
        except ExternalResourceError as error:
            print(f"{page.href}: {error}", file=sys.stderr)
            failed.append(page.href)
            continue
        except Exception as error:  # a cell failed: name the notebook, show the kernel's message
            print(f"{page.source}: could not be executed and rendered:\n{error}", file=sys.stderr)
            failed.append(page.href)
            continue
        verb = "rendered" if args.no_execute else "executed and rendered"
        print(f"{page.href}: {verb} in {time.perf_counter() - start:.1f} s", flush=True)
    for language in ("en", "ko"):
        if pages[language]:
            index = out_dir / ("ko/index.html" if language == "ko" else "index.html")
            index.parent.mkdir(parents=True, exist_ok=True)
            text = landing_html(language, pages, gallery)
            check_offline(text, index.name)
            index.write_text(text, encoding="utf-8")
    if not args.no_explorer:
        import build_explorer  # beside this file

        start = time.perf_counter()
        built = build_explorer.build_site_explorer(out_dir, pages)
        print(f"{', '.join(str(p.relative_to(out_dir)) for p in built)}: the in-browser explorer, built in "
              f"{time.perf_counter() - start:.1f} s", flush=True)
    write_search_index(out_dir, pages)
    print(f"site: {out_dir / 'index.html'} ({time.perf_counter() - total:.1f} s)")
    if failed:
        print(f"not built: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
