"""The rendered-series command executes a notebook and writes HTML (on a tiny notebook)."""

import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import render_series  # noqa: E402


def test_render_a_small_notebook(tmp_path):
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_markdown_cell("# 99 · Tiny\n> a test"),
        nbformat.v4.new_code_cell("from cam_helpers.cam import normalize_maps\nimport torch\nprint(normalize_maps(torch.ones(1, 2, 2)).sum().item())"),
    ]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    source = tmp_path / "99_tiny.ipynb"
    nbformat.write(notebook, source)
    out = tmp_path / "site"
    assert render_series.main(["--out", str(out), str(source)]) == 0
    page = (out / "99_tiny.html").read_text()
    assert "0.0" in page  # the executed output is in the page
    assert "99 · Tiny" in (out / "index.html").read_text()
    assert '"outputs": []' in source.read_text()  # the source notebook stays clean
