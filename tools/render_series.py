#!/usr/bin/env python3
"""Execute every notebook offline and render the series to static HTML pages.

    .venv/bin/python tools/render_series.py            # -> build/series/index.html
    .venv/bin/python tools/render_series.py --out site  # another folder

A teacher can publish the folder as it is (GitHub Pages, any web server). The
notebooks in notebooks/ stay untouched (they are source, without outputs); the
executed copies live only in the build folder, which git ignores.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def render_notebook(source: Path, out_dir: Path, timeout: int = 600) -> Path:
    """Execute one notebook (offline, in its own folder) and write NAME.html into out_dir."""
    import nbformat
    from nbclient import NotebookClient
    from nbconvert import HTMLExporter

    notebook = nbformat.read(source, as_version=4)
    os.environ["CAM_HELPERS_OFFLINE"] = "1"  # a rendered series never depends on a download
    NotebookClient(
        notebook, timeout=timeout, kernel_name="python3", allow_errors=False,
        resources={"metadata": {"path": str(source.parent)}},
    ).execute()
    body, _ = HTMLExporter().from_notebook_node(notebook)
    target = out_dir / f"{source.stem}.html"
    target.write_text(body, encoding="utf-8")
    return target


def title_of(source: Path) -> str:
    cells = json.loads(source.read_text())["cells"]
    first = "".join(cells[0]["source"]) if cells else source.stem
    return next((l.lstrip("# ").strip() for l in first.splitlines() if l.startswith("# ")), source.stem)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(ROOT / "build" / "series"), help="output folder")
    parser.add_argument("notebooks", nargs="*", help="notebooks to render (default: all in notebooks/)")
    args = parser.parse_args(argv)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    sources = [Path(p) for p in args.notebooks] or sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    links = []
    for source in sources:
        start = time.perf_counter()
        target = render_notebook(source.resolve(), out_dir)
        print(f"{source.name}: executed and rendered in {time.perf_counter() - start:.1f} s -> {target}")
        links.append(f'<li><a href="{html.escape(target.name)}">{html.escape(title_of(source))}</a></li>')
    index = out_dir / "index.html"
    index.write_text(
        "<!doctype html><meta charset='utf-8'><title>CAM notebooks</title>"
        "<h1>CAM notebooks</h1><p>Class Activation Maps, explained with live tensors.</p>"
        f"<ol start='0'>{''.join(links)}</ol>",
        encoding="utf-8",
    )
    print(f"index: {index}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
