"""The autograder on a tiny lab: every kind of broken submission gets its row, nothing stops
the batch.

The lab is written by the test: a solution with three graded cells (``double`` 2 points, its
hidden test ``double-hidden`` 1 point, ``square`` 3 points), turned into the student lab by
:func:`segedu.grading.labs.generate.student_version`. Each submission is the lab with some cells
replaced; the expected points follow from which functions work when each graded cell runs.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from segedu.grading.cli import main
from segedu.grading.labs.assignment import Assignment
from segedu.grading.labs.generate import student_version
from segedu.grading.results.gradebook import FEEDBACK_CAP
from segedu.grading.run import grade_one
from segedu.grading.run.batch import MAX_SUBMISSION_MB, grade_batch
from segedu.grading.run.grade_one import Limits
from segedu.grading.run.prepare import prepare

ROOT = Path(__file__).resolve().parents[2]
ENV = dict(os.environ, SEGEDU_FAST="1", OMP_NUM_THREADS="1", MPLBACKEND="Agg")
# 10 s per cell: the first cell imports torch, which took over 4 s (the old limit) on two loaded
# cores and failed a correct submission; an endless loop is still cut after 10 s
LIMITS = Limits(cell_timeout=10, timeout=60, memory_mb=1500, fast=True)
COLUMNS = ["double", "double-hidden", "square"]
HEADER = ["student_id", *COLUMNS, "total", "max_total", "status", "reason"]

DOUBLE = "def double(x):\n    # BEGIN SOLUTION\n    return 2 * x\n    # END SOLUTION"
SQUARE = "def square(x):\n    # BEGIN SOLUTION\n    return x * x\n    # END SOLUTION"


def graded(source: str, cell_id: str, points: int, *, hidden: bool = False):
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["segedu"] = {"grade": True, "id": cell_id, "points": points}
    if hidden:
        cell.metadata["tags"] = ["hidden-tests"]
    return cell


def tiny_solution() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Tiny lab"),
        nbformat.v4.new_code_cell("from segedu.grading import check"),
        nbformat.v4.new_code_cell(DOUBLE),
        graded('with check("double of 2", hint="multiply by 2"):\n    assert double(2) == 4',
               "double", 2),
        graded('with check("double of a negative"):\n    assert double(-3) == -6', "double-hidden",
               1,
               hidden=True),
        nbformat.v4.new_code_cell(SQUARE),
        graded('with check("square of 3", hint="x * x"):\n    assert square(3) == 9', "square", 3),
    ]
    return nb


def solved(lab: nbformat.NotebookNode, **sources: str) -> nbformat.NotebookNode:
    """The lab with the code cells defining double/square replaced (the solutions by default)."""
    nb = nbformat.from_dict(json.loads(json.dumps(lab)))
    defaults = {"double": "def double(x):\n    return 2 * x",
                "square": "def square(x):\n    return x * x"}
    defaults.update(sources)
    for cell in nb.cells:
        for name, source in defaults.items():
            if cell.source.startswith(f"def {name}("):
                cell.source = source
    return nb


def cell_of(nb, graded_id: str) -> int:
    return next(i for i, c in enumerate(nb.cells)
                if c.metadata.get("segedu", {}).get("id") == graded_id)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The tiny lab on disk: (solution path, lab path, lab notebook)."""
    folder = tmp_path_factory.mktemp("tiny")
    solution = tiny_solution()
    lab = student_version(solution)
    nbformat.write(solution, folder / "solution.ipynb")
    nbformat.write(lab, folder / "lab.ipynb")
    return folder / "solution.ipynb", folder / "lab.ipynb", lab


def write_submissions(folder: Path, lab) -> dict[str, bytes]:
    """The bad (and good) submissions; returns their bytes."""
    folder.mkdir()
    subs: dict[str, nbformat.NotebookNode | str] = {}
    subs["correct"] = solved(lab)
    subs["untouched"] = lab
    subs["bad_json"] = '{"cells": [ not json'
    subs["nbformat3"] = json.dumps({"nbformat": 3, "nbformat_minor": 0, "metadata": {},
                                    "worksheets": []})
    # double is wrong and its test edited to pass; square is right
    edited = solved(lab, double="def double(x):\n    return x + 1")
    edited.cells[cell_of(edited, "double")].source = "assert True"
    subs["edited"] = edited
    # correct code, but the square test deleted (and its metadata with it)
    deleted = solved(lab)
    del deleted.cells[cell_of(deleted, "square")]
    subs["deleted"] = deleted
    duplicated = solved(lab)
    duplicated.cells[2].id = duplicated.cells[1].id
    subs["dup_id"] = json.dumps(duplicated)  # nbformat.writes would repair the duplicate
    # the cell defining square never ends, is interrupted, so square is undefined
    subs["loop"] = solved(lab, square="while True:\n    pass\ndef square(x):\n    return x * x")
    subs["sys_exit"] = solved(lab,
                              square="import sys\nsys.exit()\ndef square(x):\n    return x * x")
    subs["os_exit"] = solved(lab, square="import os\nos._exit(1)\ndef square(x):\n    return x * x")
    # 3x the memory limit, 100 MB at a time (b"x" * n really fills the pages)
    subs["memory_hog"] = solved(lab, square=(
        f"chunks = [b'x' * 100_000_000 for _ in range({3 * LIMITS.memory_mb // 100:.0f})]\n"
        "def square(x):\n    return x * x"))
    # megabytes printed, and an error message of megabytes inside a graded check
    subs["big_output"] = solved(lab, square=(
        "print('spam ' * 1_000_000)\ndef square(x):\n    raise ValueError('y' * 3_000_000)"))
    subs["huge"] = " " * (MAX_SUBMISSION_MB * 2**20 + 1)  # never read, never run
    data = {}
    for name, nb in subs.items():
        text = nb if isinstance(nb, str) else nbformat.writes(nb)
        (folder / f"{name}.ipynb").write_text(text, encoding="utf8")
        data[name] = (folder / f"{name}.ipynb").read_bytes()
    return data


def read_gradebook(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf8", newline="") as file:
        rows = list(csv.DictReader(file))
    assert rows and list(rows[0]) == HEADER
    return rows


def test_a_batch_of_broken_submissions(tiny, tmp_path):
    solution, lab_path, lab = tiny
    submissions, out = tmp_path / "submissions", tmp_path / "out"
    before = write_submissions(submissions, lab)
    times = {p.name: p.stat().st_mtime_ns for p in submissions.iterdir()}
    lab_bytes = lab_path.read_bytes()

    rows, warnings = grade_batch(lab_path, submissions, out, solution=solution, workers=2,
                                 limits=LIMITS)
    assert warnings == []

    got = {r["student_id"]: r for r in read_gradebook(out / "gradebook.csv")}
    assert list(got) == sorted(before), "one row per submission, sorted by student id"
    # (double, double-hidden, square, total, status); max_total is 2 + 1 + 3 = 6
    expected = {
        "correct": (2, 1, 3, 6, "ok"),
        "untouched": (0, 0, 0, 0, "ok"),  # raise NotImplementedError everywhere
        "bad_json": (0, 0, 0, 0, "invalid"),
        "nbformat3": (0, 0, 0, 0, "invalid"),
        "edited": (0, 0, 3, 3, "ok"),  # the restored test catches double(2) == 3
        "deleted": (2, 1, 3, 6, "ok"),  # the square test is put back and passes
        "dup_id": (0, 0, 0, 0, "invalid"),
        "loop": (2, 1, 0, 3, "timeout"),  # interrupted before square is defined
        "sys_exit": (2, 1, 0, 3, "ok"),  # SystemExit is a cell error; the kernel lives on
        "os_exit": (2, 1, 0, 3, "crashed"),  # the kernel dies before square is defined
        "memory_hog": (2, 1, 0, 3, "memory"),  # killed in the cell that defines square
        "big_output": (2, 1, 0, 3, "ok"),  # square raises
        "huge": (0, 0, 0, 0, "invalid"),
    }
    for name, (d, dh, sq, total, status) in expected.items():
        row = got[name]
        scores = (row["double"], row["double-hidden"], row["square"])
        assert scores == (str(d), str(dh), str(sq)), name
        totals = (row["total"], row["max_total"], row["status"])
        assert totals == (str(total), "6", status), (name, row)
    reasons = {name: row["reason"] for name, row in got.items()}
    assert (reasons["correct"] == reasons["untouched"] == reasons["sys_exit"]
            == reasons["big_output"] == "")
    assert reasons["bad_json"].startswith("not a notebook: invalid JSON")
    assert reasons["nbformat3"] == "nbformat 4 is required, found 3"
    assert reasons["dup_id"].startswith("duplicated cell id(s)")
    assert reasons["huge"] == f"the file is larger than {MAX_SUBMISSION_MB} MiB"
    assert reasons["edited"] == "graded cell 'double' was edited: restored from the released lab"
    assert reasons["deleted"] == "graded cell 'square' was deleted: put back from the released lab"
    # code cell 4 of the graded notebook: import, double, its test, the hidden test, then square's
    assert reasons["loop"] == ("code cell 4 (`while True:`) ran longer than "
                               f"{LIMITS.cell_timeout:g} s and was interrupted")
    assert reasons["os_exit"] == ("the kernel died (exit or crash) in code cell 4 (`import os`); "
                                  "the cells after it did not run")
    assert reasons["memory_hog"] == (f"killed: used more than {LIMITS.memory_mb:g} MiB of memory in"
                                     " code cell 4 (`chunks = [b'x' * 100_000_000 for _ in "
                                     "range(45)]`)")

    # feedback: ✓/✗ per graded cell with the check's message; small even for megabytes of output
    feedback = {p.stem: p.read_text(encoding="utf8") for p in (out / "feedback").glob("*.txt")}
    assert sorted(feedback) == sorted(before)
    assert "✓ double: 2 / 2" in feedback["correct"] and "✓ double of 2" in feedback["correct"]
    assert "✗ square: 0 / 3" in feedback["untouched"] and "not done yet" in feedback["untouched"]
    assert "✗ double: 0 / 2" in feedback["edited"] and "double of 2" in feedback["edited"]
    assert "was edited" in feedback["edited"]
    assert "ValueError: yyy" in feedback["big_output"]
    assert all(len(text) <= FEEDBACK_CAP + 100 for text in feedback.values())
    assert (out / "gradebook.csv").stat().st_size < 10_000

    # nothing submitted or released was touched
    assert lab_path.read_bytes() == lab_bytes
    for name, data in before.items():
        path = submissions / f"{name}.ipynb"
        assert path.read_bytes() == data and path.stat().st_mtime_ns == times[path.name], name
    assert not list(tmp_path.glob("**/*.ipynb.*")), "no stray temporary files"


def test_cli_help_and_a_submission_that_tampers(tiny, tmp_path):
    solution, lab_path, lab = tiny
    result = subprocess.run([Path(sys.executable).parent / "segedu-grade", "--help"],
                            capture_output=True, text=True, env=ENV, check=True)
    for option in ("--lab", "--submissions", "--out", "--solution", "--workers", "--cell-timeout",
                   "--timeout", "--memory-mb"):
        assert option in result.stdout

    submissions, out = tmp_path / "submissions", tmp_path / "out"
    submissions.mkdir()
    nbformat.write(solved(lab), submissions / "a_correct.ipynb")
    correct = submissions / "a_correct.ipynb"
    times = correct.stat().st_mtime_ns
    lab_bytes, correct_bytes = lab_path.read_bytes(), correct.read_bytes()
    # a correct submission that also forges the gradebook, breaks the lab and another submission
    tamper = solved(lab)
    tamper.cells.append(nbformat.v4.new_code_cell(
        f"import os\nopen({str(lab_path)!r}, 'w').write('nothing')\n"
        f"open({str(correct)!r}, 'w').write('{{}}')\n"
        f"os.makedirs({str(out)!r}, exist_ok=True)\n"
        f"open({str(out / 'gradebook.csv')!r}, 'w').write('student_id,total\\nb_tamper,1000\\n')"))
    nbformat.write(tamper, submissions / "b_tamper.ipynb")
    tamper_bytes = (submissions / "b_tamper.ipynb").read_bytes()

    result = subprocess.run(
        [sys.executable, "-m", "segedu.grading", "grade", "--lab", str(lab_path),
         "--submissions", str(submissions), "--out", str(out), "--solution", str(solution),
         "--workers", "1", "--cell-timeout", "20", "--timeout", "60", "--fast"],
        capture_output=True, text=True, env=ENV, timeout=120)
    assert result.returncode == 0, result.stderr
    rows = {r["student_id"]: r for r in read_gradebook(out / "gradebook.csv")}
    assert [(r["total"], r["status"]) for r in rows.values()] == [("6", "ok"), ("6", "ok")]
    assert rows["a_correct"]["reason"] == ""
    reason = rows["b_tamper"]["reason"]
    assert "the released lab was modified during this run: restored" in reason
    assert "the gradebook was modified during this run: restored" in reason
    assert "submission a_correct was modified during this run: restored" in reason
    assert lab_path.read_bytes() == lab_bytes
    assert correct.read_bytes() == correct_bytes and correct.stat().st_mtime_ns == times
    assert (submissions / "b_tamper.ipynb").read_bytes() == tamper_bytes


def test_cli_errors(tmp_path, capsys):
    assert main(["--lab", str(tmp_path / "missing.ipynb"), "--submissions", str(tmp_path),
                 "--out", str(tmp_path / "out")]) == 2
    assert "no such notebook" in capsys.readouterr().err
    assert main(["--lab", "x", "--submissions", str(tmp_path / "none"), "--out", "o"]) == 2


def test_prepare_restores_graded_cells_and_adds_hidden_tests(tiny):
    solution_path, lab_path, lab = tiny
    assignment = Assignment.from_bytes(lab_path.read_bytes(), solution_path.read_bytes())
    assert assignment.columns == COLUMNS and assignment.max_total == 6
    # the square test deleted, the double test edited, a forged graded cell worth 100 points
    submission = solved(lab)
    square_test = submission.cells.pop(cell_of(submission, "square"))
    submission.cells[cell_of(submission, "double")].source = "assert True"
    forged = graded("assert True", "bonus", 100)
    submission.cells.append(forged)
    before = nbformat.writes(submission)
    prepared = prepare(submission, assignment)
    assert nbformat.writes(submission) == before, "the submission itself is not modified"
    sources = [c.source for c in prepared.notebook.cells]
    solution_sources = [c.source for c in tiny_solution().cells]
    # the released order is back: the hidden test right after the double test, the square test
    # right after the cell before it in the lab (def square), the forged cell kept but not graded
    assert sources[:3] == ["# Tiny lab", "from segedu.grading import check",
                           "def double(x):\n    return 2 * x"]
    assert sources[3:5] == solution_sources[3:5]
    assert sources[5] == "def square(x):\n    return x * x"
    assert sources[6] == square_test.source and sources[7] == "assert True"
    assert prepared.graded == {2: "double", 3: "double-hidden", 5: "square"}  # code-cell numbers
    assert "segedu" not in prepared.notebook.cells[7].metadata
    assert prepared.flags == ["graded cell 'double' was edited: restored from the released lab",
                              "graded cell 'square' was deleted: put back from the released lab"]
    nbformat.validate(prepared.notebook)


def test_a_grader_failure_is_a_row_not_a_stop(tiny, tmp_path, monkeypatch):
    solution, lab_path, lab = tiny
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    for name in ("a", "b"):
        nbformat.write(solved(lab), submissions / f"{name}.ipynb")
    (submissions / "c.ipynb").write_text("[]", encoding="utf8")

    def boom(text, **limits):
        raise RuntimeError("boom")

    monkeypatch.setattr(grade_one, "run_notebook", boom)
    rows, _ = grade_batch(lab_path, submissions, tmp_path / "out", solution=solution, workers=2,
                          limits=LIMITS)
    got = {r["student_id"]: (r["total"], r["status"], r["reason"])
           for r in read_gradebook(tmp_path / "out" / "gradebook.csv")}
    assert got == {"a": ("0", "crashed", "grader error: RuntimeError: boom"),
                   "b": ("0", "crashed", "grader error: RuntimeError: boom"),
                   "c": ("0", "invalid", "nbformat 4 is required, found 'list'")}
