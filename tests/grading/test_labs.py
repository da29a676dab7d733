"""The labs: every graded cell fails on the untouched lab; badge, metadata and no outputs.

tests/test_colab.py checks what Colab needs. That every graded cell passes on the solution is
proven by tests/test_student_install.py, which runs the solution notebooks in fast mode on the
students' install: any cell that raises fails it.
"""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from segedu.grading.generate import strip_solution, student_version
from segedu.grading.notebook import graded_cells, is_hidden_tests, read_notebook

ROOT = Path(__file__).resolve().parents[2]
SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))

def blank_lab_with_hidden_tests(solution: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The untouched student lab as the grader runs it: solutions stripped, hidden tests kept."""
    blank = nbformat.from_dict(solution)  # a copy
    for index, cell in enumerate(blank.cells):
        if cell.cell_type in ("code", "markdown"):
            cell.source = strip_solution(cell.source, cell_type=cell.cell_type,
                                         where=f"cell {index}")
    return blank


def test_the_first_four_labs_are_there():
    assert [p.stem for p in SOLUTIONS][:4] == ["00_masks", "01_losses", "02_conv_arithmetic",
                                               "03_metrics"]


@pytest.mark.parametrize("solution", SOLUTIONS, ids=lambda p: p.stem)
def test_every_graded_cell_fails_on_the_blank_lab(solution, tmp_path):
    solution_notebook = read_notebook(solution)
    lab_ids = {cell.id for cell in graded_cells(student_version(solution_notebook))}
    assert lab_ids, f"{solution.name} has no graded cell"
    assert any(is_hidden_tests(c) for c in solution_notebook.cells), (
        f"{solution.name} has no hidden tests")
    blank = blank_lab_with_hidden_tests(solution_notebook)
    graded = graded_cells(blank)
    assert lab_ids < {cell.id for cell in graded}, "the hidden tests are graded cells too"
    # run every cell, errors included, as a student who changed nothing (in an empty folder)
    client = NotebookClient(blank, timeout=300, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute(env=dict(os.environ, SEGEDU_FAST="1", MPLBACKEND="Agg"))
    for cell in graded:
        outputs = blank.cells[cell.index].outputs
        errors = [o for o in outputs if o.output_type == "error"]
        assert errors, f"graded cell {cell.id!r} of {solution.name} passes on the blank lab"
        shown = "\n".join(errors[0].traceback)
        assert "✗" in shown, f"graded cell {cell.id!r} fails with a bare traceback:\n{shown[:500]}"
        assert "Traceback" not in shown, (f"graded cell {cell.id!r} shows a "
                                          f"traceback:\n{shown[:500]}")


@pytest.mark.parametrize("solution", SOLUTIONS, ids=lambda p: p.stem)
def test_lab_metadata_and_colab_cell(solution):
    notebook = read_notebook(solution)
    assert notebook.metadata["kernelspec"]["name"] == "python3"
    assert notebook.metadata.get("accelerator") == "GPU", "request a GPU runtime on Colab"
    first_code = next(c for c in notebook.cells if c.cell_type == "code")
    assert '"google.colab" in sys.modules' in first_code.source, (
        "the first code cell installs segedu on Colab")
    assert "torch" not in first_code.source, "Colab's preinstalled torch must be kept"
    badge = f"https://colab.research.google.com/github/segedu/segedu/blob/main/labs/{solution.name}"
    assert f"]({badge})" in notebook.cells[0].source, "the first cell has the lab's Colab badge"
    assert all(not c.get("outputs") for c in notebook.cells if c.cell_type == "code"), (
        "solution notebooks are committed without outputs")
    nbformat.validate(notebook)
