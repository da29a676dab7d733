"""A graded cell with several checks with points: the grader gives each passing check its share.

The lab is written by the test: one graded cell ``pair`` (3 points) checks ``double`` (1 point) and
``square`` (2 points), each with ``check(..., points=...)``, and ends with ``finish_checks()``. The
share comes from the guard's signed record, so ✓ lines printed by the student's code earn nothing.
"""

from __future__ import annotations

import csv
import json

import nbformat
import pytest

from segedu.grading.labs.generate import student_version
from segedu.grading.run.batch import grade_batch
from segedu.grading.run.grade_one import Limits

LIMITS = Limits(cell_timeout=20, timeout=90, memory_mb=1500, fast=True)
PAIR = '''with check("double of 2", points=1, hint="multiply by 2"):
    expect(double(2) == 4, f"double(2) gave {double(2)}, expected 4")
with check("square of 3", points=2):
    expect(square(3) == 9, f"square(3) gave {square(3)}, expected 9", hint="x * x")
finish_checks()'''


def _solution() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    graded = nbformat.v4.new_code_cell(PAIR)
    graded.metadata["segedu"] = {"grade": True, "id": "pair", "points": 3}
    nb.cells = [
        nbformat.v4.new_code_cell("from segedu.grading import check, expect, finish_checks"),
        nbformat.v4.new_code_cell("def double(x):\n    # BEGIN SOLUTION\n    return 2 * x\n"
                                  "    # END SOLUTION"),
        nbformat.v4.new_code_cell("def square(x):\n    # BEGIN SOLUTION\n    return x * x\n"
                                  "    # END SOLUTION"),
        graded,
    ]
    return nb


def _answered(lab, double: str, square: str) -> str:
    nb = nbformat.from_dict(json.loads(json.dumps(lab)))
    nb.cells[1].source, nb.cells[2].source = double, square
    return nbformat.writes(nb)


@pytest.fixture(scope="module")
def gradebook(tmp_path_factory):
    folder = tmp_path_factory.mktemp("partial")
    solution = _solution()
    lab = student_version(solution)
    nbformat.write(solution, folder / "solution.ipynb")
    nbformat.write(lab, folder / "lab.ipynb")
    submissions = folder / "submissions"
    submissions.mkdir()
    right_double = "def double(x):\n    return 2 * x"
    right_square = "def square(x):\n    return x * x"
    wrong_square = "def square(x):\n    return 2 * x"
    # prints look-alike ✓ lines and a fake summary: the signed record decides
    liar = ("def square(x):\n    print('✓ square of 3')\n    return 2 * x")
    texts = {"right": _answered(lab, right_double, right_square),
             "square_wrong": _answered(lab, right_double, wrong_square),
             "double_wrong": _answered(lab, "def double(x):\n    return x + 1", right_square),
             "liar": _answered(lab, right_double, liar),
             "blank": nbformat.writes(lab)}
    for name, text in texts.items():
        (submissions / f"{name}.ipynb").write_text(text, encoding="utf8")
    grade_batch(folder / "lab.ipynb", submissions, folder / "out", solution=folder /
                "solution.ipynb", workers=1, limits=LIMITS)
    with open(folder / "out" / "gradebook.csv", encoding="utf8", newline="") as file:
        rows = {row["student_id"]: row for row in csv.DictReader(file)}
    feedback = {p.stem: p.read_text(encoding="utf8")
                for p in (folder / "out" / "feedback").glob("*.txt")}
    return rows, feedback


def test_each_check_earns_its_share(gradebook):
    rows, _ = gradebook
    points = {name: float(row["pair"]) for name, row in rows.items()}
    assert points == {"right": 3.0, "square_wrong": 1.0, "double_wrong": 2.0, "liar": 1.0,
                      "blank": 0.0}
    assert {row["status"] for row in rows.values()} == {"ok"}


def test_the_feedback_shows_every_tick_and_cross(gradebook):
    _, feedback = gradebook
    text = feedback["square_wrong"]
    assert "✓ double of 2" in text and "✗ square of 3: square(3) gave 6, expected 9" in text
    assert "Hint: x * x" in text and "this cell earns 1 of 3 points" in text
