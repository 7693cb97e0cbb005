"""Every notebook runs top to bottom the way JupyterLab's and Colab's "Run All" does.

Run All stops at the first error and knows nothing about cell tags, so this test
does the same: the ``python3`` kernel, the notebook's own folder as working
directory, cells in order, the first error fails the notebook, and every tag or
metadata flag that would let an error pass (``raises-exception``, ``allow_errors``)
is stripped before running. A deliberate failure in a lesson is shown with
``try/except`` that prints the message.

Each notebook's wall time is recorded and printed as a table at the end of the
session (see ``pytest_terminal_summary`` in conftest.py): measured, not asserted.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = ROOT / "notebooks"
# Recursive, so a translated edition (notebooks/ko/) is run too.
NOTEBOOKS = sorted(p for p in NOTEBOOK_DIR.glob("**/*.ipynb") if ".ipynb_checkpoints" not in p.parts)
CELL_TIMEOUT_S = 300  # generous: a slow CPU under load, never a speed assertion
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


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=notebook_id)
def test_notebook_runs_all_without_error(path, notebook_times):
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError

    notebook = as_run_all_sees_it(nbformat.read(path, as_version=4))
    client = NotebookClient(
        notebook,
        kernel_name="python3",
        timeout=CELL_TIMEOUT_S,
        allow_errors=False,
        shutdown_kernel="immediate",  # a graceful shutdown waits seconds per notebook for nothing we check
        resources={"metadata": {"path": str(path.parent)}},  # the notebook's folder is the cwd
    )
    start = time.perf_counter()
    failure, finished = None, False
    try:
        with client.setup_kernel():
            for index, cell in enumerate(notebook.cells):
                try:
                    client.execute_cell(cell, index)
                except CellExecutionError as error:
                    failure = f"{notebook_id(path)}: cell {index} raised {error.ename}: {error.evalue}\n\n{error}"
                    break
                except CellTimeoutError as error:
                    failure = f"{notebook_id(path)}: cell {index} ran past {CELL_TIMEOUT_S} s: {error}"
                    break
        finished = failure is None
    finally:
        notebook_times[notebook_id(path)] = (time.perf_counter() - start, finished)
    if failure:
        pytest.fail(failure, pytrace=False)
