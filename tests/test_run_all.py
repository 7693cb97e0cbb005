"""Every notebook runs top to bottom the way JupyterLab's and Colab's "Run All" does, under nbval.

nbval's ``--nbval-lax`` semantics, one pytest item per code cell: the cells run in order in one kernel
started in the notebook's own folder, a cell that raises fails, and outputs are not compared. The
notebooks are collected here, not with ``pytest --nbval-lax notebooks/``, so that the README's plain
``pytest`` runs them and ``-k 03_`` picks one notebook in both languages. ``RunAllNotebook`` is nbval's
own file collector (``nbval.plugin.IPyNbFile``) with the smallest changes that make it Run All:

- no tag or comment changes what runs: Run All knows nothing of ``raises-exception``, ``nbval-skip`` or
  ``# NBVAL_SKIP``, so every cell gets nbval's default options (``as_run_all_sees_it`` strips the tags
  too, and ``test_no_cell_is_tagged_to_hide_an_error`` says where one was left);
- Run All stops at the first error: nbval would run the remaining cells on a half-built state and
  report each of their follow-on errors, so the cells after a failing one are skipped, with its number;
- the per-cell limit is ``CELL_TIMEOUT_S``, unless ``--nbval-cell-timeout`` is given.

nbval stops each kernel at once (``shutdown_kernel(now=True)``) when its notebook's last cell is done.
Each notebook's wall time (kernel start to shutdown) is printed as a table at the end of the session
(``pytest_terminal_summary`` in conftest.py): measured, not asserted. Collection is wired in conftest.py
(``pytest_pycollect_makeitem``): a test module's nbval collector class collects its notebooks.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from pathlib import Path

import nbformat
import pytest
from nbval.plugin import IPyNbCell, IPyNbFile

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = ROOT / "notebooks"
# Recursive, so a translated edition (notebooks/ko/) is run too.
NOTEBOOKS = sorted(p for p in NOTEBOOK_DIR.glob("**/*.ipynb") if ".ipynb_checkpoints" not in p.parts)
CELL_TIMEOUT_S = 300  # generous: a slow CPU under load, never a speed assertion
NBVAL_DEFAULT_CELL_TIMEOUT_S = 2000  # nbval's --nbval-cell-timeout when none is given
ERROR_TAGS = {"raises-exception", "raises_exception"}


def notebook_id(path: Path) -> str:
    return path.relative_to(NOTEBOOK_DIR).as_posix()  # "00_start_here.ipynb", "ko/00_start_here.ipynb"


def as_run_all_sees_it(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy with every tag and flag that could hide an error removed (Run All ignores them)."""
    notebook = copy.deepcopy(notebook)
    for cell in notebook.cells:
        cell.metadata.pop("tags", None)
        for key in ("allow_errors", "raises", "nbval-ignore-output", "execution"):
            cell.metadata.pop(key, None)
    return notebook


def run_all_options() -> defaultdict:
    """nbval's options for every cell: run it, let an error fail it, compare no output (--nbval-lax)."""
    return defaultdict(bool, check=False)  # skip, check_exception: False, whatever the cell's tags or comments


class RunAllCell(IPyNbCell):
    """One code cell, run by nbval; skipped once an earlier cell of its notebook failed, as Run All stops."""

    def setup(self):
        if self.parent.failed_cell is not None:
            pytest.skip(f"Run All stopped at the error in Cell {self.parent.failed_cell}")
        super().setup()

    def runtest(self):
        try:
            super().runtest()
        except BaseException:
            self.parent.failed_cell = self.cell_num
            raise


class RunAllNotebook(IPyNbFile):
    """nbval's collector for one notebook, as Run All sees it: every code cell, in order, no tag obeyed."""

    failed_cell: int | None = None

    @classmethod
    def each_notebook(cls, module: pytest.Module) -> list[RunAllNotebook]:
        notebooks = [cls.from_parent(module, path=path, name=notebook_id(path)) for path in NOTEBOOKS]
        for notebook in notebooks:
            notebook.add_marker(pytest.mark.slow)  # -m "not slow" leaves the notebooks out
        return notebooks

    def collect(self):
        self.nb = as_run_all_sees_it(nbformat.read(self.path, as_version=4))  # nbval's setup reads its kernel name
        code_cells = [cell for cell in self.nb.cells if cell.cell_type == "code"]
        for number, cell in enumerate(code_cells):  # nbval numbers code cells only: "Cell 0" is the first
            yield RunAllCell.from_parent(
                self, name=f"Cell {number}", cell_num=number, cell=cell, options=run_all_options()
            )

    def setup(self):
        option = self.config.option
        if option.nbval_cell_timeout == NBVAL_DEFAULT_CELL_TIMEOUT_S:  # not given on the command line
            option.nbval_cell_timeout = CELL_TIMEOUT_S
        super().setup()  # starts the notebook's kernel (its kernelspec, python3) in the notebook's folder


def test_there_are_notebooks_to_run():
    assert NOTEBOOKS, f"no notebook found under {NOTEBOOK_DIR}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=notebook_id)
def test_no_cell_is_tagged_to_hide_an_error(path):
    notebook = nbformat.read(path, as_version=4)
    tagged = [i for i, cell in enumerate(notebook.cells) if ERROR_TAGS & set(cell.metadata.get("tags", []))]
    assert not tagged, (
        f"{notebook_id(path)}: cells {tagged} carry a raises-exception tag; Run All would stop there. "
        "Show the failure with try/except that prints the message instead."
    )


def test_run_all_obeys_no_tag_or_comment_that_hides_an_error(request, tmp_path):
    """nbval would skip or expect the error of these cells; Run All's collector runs them and lets them fail."""
    from nbval.plugin import find_comment_markers, find_metadata_tags

    hiding = nbformat.v4.new_code_cell(
        "# NBVAL_SKIP\n# NBVAL_RAISES_EXCEPTION\nraise ValueError", metadata={"tags": ["raises-exception", "nbval-skip"]}
    )
    assert dict(find_metadata_tags(hiding.metadata)) == {"check_exception": True, "skip": True}, "nbval obeys tags"
    assert dict(find_comment_markers(hiding.source)) == {"check_exception": True, "skip": True}, "and comments"
    path = tmp_path / "hiding.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[hiding, nbformat.v4.new_code_cell("print('after')")]), path)

    notebook = RunAllNotebook.from_parent(request.node.getparent(pytest.Module), path=path, name="hiding.ipynb")
    cells = list(notebook.collect())  # collection only: no kernel is started
    assert [cell.name for cell in cells] == ["Cell 0", "Cell 1"]
    assert notebook.nb.cells[0].metadata == {}, "the tags are stripped"
    for cell in cells:
        assert (cell.options["skip"], cell.options["check_exception"], cell.options["check"]) == (False, False, False)
    notebook.failed_cell = 0  # as RunAllCell.runtest records it when Cell 0 raises
    with pytest.raises(pytest.skip.Exception, match="Run All stopped at the error in Cell 0"):
        cells[1].setup()


def test_the_notebooks_are_collected_as_nbval_cells(request):
    module = request.node.getparent(pytest.Module)
    notebooks = RunAllNotebook.each_notebook(module)
    assert [notebook.name for notebook in notebooks] == [notebook_id(path) for path in NOTEBOOKS]
    first = notebooks[0]
    assert first.get_closest_marker("slow") is not None, '-m "not slow" must leave the notebooks out'
    code_cells = [c for c in nbformat.read(NOTEBOOKS[0], as_version=4).cells if c.cell_type == "code"]
    assert len(list(first.collect())) == len(code_cells), "one nbval item per code cell"
