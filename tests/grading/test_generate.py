"""The lab generator: solution blocks stripped, hidden tests removed, outputs cleared,
metadata kept."""

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from segedu.grading.__main__ import main
from segedu.grading.labs.generate import generate_labs, stale_labs, strip_solution, student_version
from segedu.grading.labs.notebook import NotebookError, graded_cells, read_notebook, source_checksum

ROOT = Path(__file__).resolve().parents[2]

SOLUTION_CODE = """import math

def area(r):
    # BEGIN SOLUTION
    return math.pi * r ** 2
    # END SOLUTION

x = 1"""


def solution_notebook() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.metadata["accelerator"] = "GPU"
    code = nbformat.v4.new_code_cell(SOLUTION_CODE)
    code.outputs = [nbformat.v4.new_output("stream", text="hello\n")]
    code.execution_count = 3
    graded = nbformat.v4.new_code_cell("assert abs(area(1) - 3.14159) < 1e-4")
    graded.metadata["segedu"] = {"grade": True, "id": "area", "points": 2}
    hidden = nbformat.v4.new_code_cell("assert area(0) == 0")
    hidden.metadata["tags"] = ["hidden-tests"]
    hidden.metadata["segedu"] = {"grade": True, "id": "area-hidden", "points": 1}
    answer = nbformat.v4.new_markdown_cell("Why?\n# BEGIN SOLUTION\nBecause.\n# END SOLUTION")
    nb.cells = [nbformat.v4.new_markdown_cell("# Lab"), code, graded, hidden, answer]
    return nb


def test_student_version():
    solution = solution_notebook()
    before = nbformat.writes(solution)
    lab = student_version(solution)
    assert nbformat.writes(solution) == before  # the solution is not touched
    assert len(lab.cells) == 4  # the hidden-tests cell is gone
    code = lab.cells[1]
    assert code.source == ("import math\n\ndef area(r):\n    # YOUR CODE HERE\n    raise "
                           "NotImplementedError()\n\nx = 1")
    assert code.outputs == [] and code.execution_count is None
    assert lab.cells[2].metadata["segedu"] == {"grade": True, "id": "area", "points": 2}
    assert lab.cells[2].source == solution.cells[2].source
    assert lab.cells[2].id == solution.cells[2].id  # cell ids are kept
    assert lab.cells[3].source == "Why?\nYOUR ANSWER HERE"
    assert lab.metadata["accelerator"] == "GPU" and lab.metadata["kernelspec"]["name"] == "python3"
    nbformat.validate(lab)


@pytest.mark.parametrize("source, message", [
    ("# BEGIN SOLUTION\nx = 1", "never closed"),
    ("x = 1\n# END SOLUTION", "without"),
    ("# BEGIN SOLUTION\n# BEGIN SOLUTION\n# END SOLUTION", "inside another"),
])
def test_unbalanced_markers_are_errors(source, message):
    with pytest.raises(NotebookError, match=message):
        strip_solution(source)


def write(path: Path, notebook) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, path)
    return path


def test_generate_check_and_cli(tmp_path, capsys):
    solutions, labs = tmp_path / "solutions", tmp_path / "labs"
    write(solutions / "01_demo.ipynb", solution_notebook())
    assert stale_labs(solutions, labs) == [f"{labs / '01_demo.ipynb'}: missing"]
    assert main(["generate", "--solutions", str(solutions), "--labs", str(labs)]) == 0
    assert stale_labs(solutions, labs) == []
    # the lab is readable by everyone, like any file the user writes (not mkstemp's private 0600)
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE((labs / "01_demo.ipynb").stat().st_mode) == 0o666 & ~mask
    assert main(["generate", "--check", "--solutions", str(solutions), "--labs", str(labs)]) == 0
    # a hand edit of the lab is caught
    lab = read_notebook(labs / "01_demo.ipynb")
    lab.cells[0].source = "# Lab, edited"
    write(labs / "01_demo.ipynb", lab)
    assert main(["generate", "--check", "--solutions", str(solutions), "--labs", str(labs)]) == 1
    assert "differs" in capsys.readouterr().err
    # a lab without a solution is caught too
    write(labs / "02_orphan.ipynb", lab)
    assert any("has no solution" in p for p in stale_labs(solutions, labs))


def test_a_broken_solution_leaves_the_labs_untouched(tmp_path, capsys):
    solutions, labs = tmp_path / "solutions", tmp_path / "labs"
    write(solutions / "01_demo.ipynb", solution_notebook())
    generate_labs(solutions, labs)
    before = (labs / "01_demo.ipynb").read_bytes()
    broken = solution_notebook()
    broken.cells[1].source = "# BEGIN SOLUTION\nx = 1"
    write(solutions / "01_demo.ipynb", broken)
    (solutions / "00_bad.ipynb").write_text("{ not json")
    assert main(["generate", "--solutions", str(solutions), "--labs", str(labs)]) == 2
    assert "invalid JSON" in capsys.readouterr().err
    assert (labs / "01_demo.ipynb").read_bytes() == before


def test_graded_cell_metadata_is_validated():
    nb = solution_notebook()
    nb.cells[3].metadata["segedu"]["id"] = "area"  # the same id twice
    with pytest.raises(NotebookError, match="used twice"):
        graded_cells(nb)
    nb = solution_notebook()
    nb.cells[2].metadata["segedu"]["points"] = -1
    with pytest.raises(NotebookError, match="points"):
        graded_cells(nb)
    assert [c.id for c in graded_cells(solution_notebook())] == ["area", "area-hidden"]


def test_read_notebook_errors(tmp_path):
    with pytest.raises(NotebookError, match="no such notebook"):
        read_notebook(tmp_path / "missing.ipynb")
    (tmp_path / "v3.ipynb").write_text(json.dumps({"nbformat": 3, "worksheets": []}))
    with pytest.raises(NotebookError, match="nbformat 4 is required"):
        read_notebook(tmp_path / "v3.ipynb")
    (tmp_path / "bad.ipynb").write_text(json.dumps({"nbformat": 4, "nbformat_minor": 5,
                                                    "cells": "x", "metadata": {}}))
    with pytest.raises(NotebookError, match="malformed"):
        read_notebook(tmp_path / "bad.ipynb")


def test_checksum_ignores_trailing_whitespace_only():
    assert source_checksum("a = 1  \nb = 2\n") == source_checksum("a = 1\nb = 2")
    assert source_checksum("a = 1") != source_checksum("a = 2")


def test_the_repository_labs_are_generated_from_the_solutions():
    """labs/ must be exactly what the generator makes from solutions/ (never edited by hand)."""
    result = subprocess.run([sys.executable, "-m", "segedu.grading", "generate", "--check"],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
