"""Grade only what changed, on the tiny lab of ``test_grade``, with a roster and a Canvas download.

One real batch is graded (three notebooks run); every later run replaces the notebook runner by
one that counts its calls and fails, so a run that should reuse the stored results proves it by
calling it zero times, and one that should regrade exactly N students calls it N times (their
rows then say ``crashed``). Keys and stored files are also checked without running anything.
"""

from __future__ import annotations

import csv
import json
import time

import nbformat
import pytest

from segedu.grading.cli import main
from segedu.grading.results.cache import (
    ResultStore,
    batch_key,
    files_digest,
    grader_version,
    result_key,
)
from segedu.grading.results.export import main as export_main
from segedu.grading.results.roster import parse_roster
from segedu.grading.run import grade_one
from segedu.grading.run.batch import grade_batch
from segedu.grading.run.submissions import SubmissionsError

from .test_grade import LIMITS, solved, tiny  # noqa: F401 (tiny is a fixture)

ROSTER = """id,name,email,canvas_id,sis_user_id,section
s001,Ada Lovelace,ada@uni.example,48213,A-1001,Lab A
s002,Alan Turing,alan@uni.example,48214,A-1002,Lab B
s003,Grace Hopper,grace@uni.example,48215,A-1003,Lab A
"""
# points entered by hand (segedu.grading.results.manual_points's format), for a question this lab
# does not have: kept as they are, and no run may touch the file
POINTS_FILE = ('{"format": "segedu-manual-points", "version": 1, "points": '
               '{"q1": {"s001": {"points": 2, "comment": ""}}}}\n')


def _gradebook(path):
    with open(path, encoding="utf-8", newline="") as file:
        return {row["student_id"]: row for row in csv.DictReader(file)}


class Counting:
    """A stand-in for ``run_notebook`` that counts its calls and fails (rows say ``crashed``)."""

    def __init__(self):
        self.calls = 0

    def __call__(self, text, **limits):
        self.calls += 1
        raise RuntimeError("run on purpose")


@pytest.fixture(scope="module")
def graded(tiny, tmp_path_factory):  # noqa: F811 (the fixture imported above)
    """A Canvas download graded once: s001 solved (late), s002 untouched and forging stored
    results for the next run, s003 missing, and a file of a user who is not in the roster (not a
    notebook, so that it costs no run)."""
    solution, lab_path, lab = tiny
    folder = tmp_path_factory.mktemp("regrade")
    submissions, out = folder / "submissions", folder / "out"
    submissions.mkdir()
    nbformat.write(solved(lab), submissions / "lovelaceada_LATE_48213_9911_lab.ipynb")
    forger = nbformat.from_dict(json.loads(json.dumps(lab)))
    forger.cells.append(nbformat.v4.new_code_cell(
        f"import os\nos.makedirs({str(out / 'results')!r}, exist_ok=True)\n"
        f"open({str(out / 'results' / 's001.json')!r}, 'w').write('{{}}')\n"
        f"open({str(out / 'results' / 's003.json')!r}, 'w').write('{{}}')"))
    nbformat.write(forger, submissions / "turingalan_48214_9920_lab.ipynb")
    (submissions / "stranger_50000_9950_lab.ipynb").write_text("{", encoding="utf-8")
    roster = parse_roster(ROSTER)
    start = time.monotonic()
    rows, warnings = grade_batch(lab_path, submissions, out, solution=solution, workers=2,
                                 limits=LIMITS, roster=roster)
    first = time.monotonic() - start
    # what s002 wrote into the stored results is undone (s001's own result is stored as soon as
    # s001 finishes: when that came after s002's forgery, it replaced it already)
    assert "the stored result s003.json was changed during the batch: restored" in warnings
    assert set(warnings) <= {
        "the stored result s001.json was changed during the batch: restored",
        "the stored result s003.json was changed during the batch: restored"}
    # the points entered by hand live in the output folder too: nothing here may touch them
    manual = out / "manual" / "points.json"
    manual.parent.mkdir(exist_ok=True)  # the grader wrote answers.json there
    manual.write_text(POINTS_FILE, encoding="utf-8")
    return dict(solution=solution, lab=lab_path, submissions=submissions, out=out,
                roster=roster, first=first, manual=manual)


def test_the_first_run_matches_the_roster(graded):
    book = _gradebook(graded["out"] / "gradebook.csv")
    assert {i: (r["total"], r["status"]) for i, r in book.items()} == {
        "s001": ("6", "ok"), "s002": ("0", "ok"), "s003": ("0", "missing"),
        "canvas-50000": ("0", "invalid")}
    assert book["s001"]["reason"] == "submitted late (Canvas)"
    assert book["s003"]["reason"] == "no submission"
    assert book["canvas-50000"]["reason"].startswith(
        "no student in the roster matches this submission (Canvas user 50000 (stranger)); not a "
        "notebook")
    assert sorted(p.name for p in (graded["out"] / "results").iterdir()) == [
        "canvas-50000.json", "s001.json", "s002.json"]
    assert (graded["out"] / "feedback" / "s003.txt").read_text(encoding="utf-8").startswith(
        "Feedback for s003\nTotal: 0 / 6 (status: missing; 1 note below)")


def test_an_unchanged_class_is_not_run_again(graded, monkeypatch):
    before = (graded["out"] / "gradebook.csv").read_bytes()
    runner = Counting()
    monkeypatch.setattr(grade_one, "run_notebook", runner)
    start = time.monotonic()
    grade_batch(graded["lab"], graded["submissions"], graded["out"], solution=graded["solution"],
                workers=2, limits=LIMITS, roster=graded["roster"])
    again = time.monotonic() - start
    assert runner.calls == 0
    assert (graded["out"] / "gradebook.csv").read_bytes() == before
    assert again <= graded["first"] / 4 or again < 20, (again, graded["first"])
    assert graded["manual"].read_text(encoding="utf-8") == POINTS_FILE


def test_only_a_changed_submission_is_run_again(graded, monkeypatch, tmp_path):
    # the same class, with s002's file changed: only s002 runs
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    for path in graded["submissions"].iterdir():
        (submissions / path.name).write_bytes(path.read_bytes())
    (submissions / "turingalan_48214_9920_lab.ipynb").write_text(
        nbformat.writes(solved(nbformat.read(graded["lab"], as_version=4))), encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir()
    for path in (graded["out"] / "results").iterdir():
        (out / "results").mkdir(exist_ok=True)
        (out / "results" / path.name).write_bytes(path.read_bytes())
    runner = Counting()
    monkeypatch.setattr(grade_one, "run_notebook", runner)
    grade_batch(graded["lab"], submissions, out, solution=graded["solution"], limits=LIMITS,
                roster=graded["roster"])
    assert runner.calls == 1
    statuses = {i: r["status"] for i, r in _gradebook(out / "gradebook.csv").items()}
    assert statuses == {"s001": "ok", "s002": "crashed", "s003": "missing",
                        "canvas-50000": "invalid"}


def test_only_and_force(graded, monkeypatch, tmp_path):
    out = tmp_path / "out"
    (out / "results").mkdir(parents=True)
    for path in (graded["out"] / "results").iterdir():
        (out / "results" / path.name).write_bytes(path.read_bytes())
    (out / "manual.json").write_text("{}", encoding="utf-8")
    common = ["--lab", str(graded["lab"]), "--submissions", str(graded["submissions"]), "--out",
              str(out), "--solution", str(graded["solution"]), "--cell-timeout", "10",
              "--timeout", "60", "--memory-mb", "1500", "--fast"]
    roster = tmp_path / "roster.csv"
    roster.write_text(ROSTER, encoding="utf-8")
    runner = Counting()
    monkeypatch.setattr(grade_one, "run_notebook", runner)
    # --only: s002 is regraded; the others keep their stored results
    assert main(["grade", *common, "--roster", str(roster), "--only", "s002"]) == 0
    assert runner.calls == 1
    book = _gradebook(out / "gradebook.csv")
    assert (book["s002"]["status"], book["s001"]["total"]) == ("crashed", "6")
    # a failure inside the grader is not stored: a plain run finds s002's earlier result
    assert main(["grade", *common, "--roster", str(roster)]) == 0
    assert runner.calls == 1
    assert _gradebook(out / "gradebook.csv")["s002"]["status"] == "ok"
    # --force: everyone with a notebook (the invalid file is read again, not run); the files
    # written by others are still there
    assert main([*common, "--roster", str(roster), "--force"]) == 0
    assert runner.calls == 3
    assert (out / "manual.json").read_text(encoding="utf-8") == "{}"
    # an unknown id is an error that names it, before anything runs
    assert main([*common, "--roster", str(roster), "--only", "s999"]) == 2
    assert runner.calls == 3
    with pytest.raises(SubmissionsError, match="--only: no student s999"):
        grade_batch(graded["lab"], graded["submissions"], out, only=["s999"])


def test_the_key_changes_with_every_input(graded, tmp_path):
    lab, solution = graded["lab"].read_bytes(), graded["solution"].read_bytes()
    options = {"cell_timeout": 10, "fast": True}
    base = batch_key(lab, solution, options)
    assert batch_key(lab, solution, options) == base
    assert batch_key(lab, solution, {"cell_timeout": 10.0, "fast": True}) == base
    assert len({base, batch_key(lab + b" ", solution, options),
                batch_key(lab, solution + b" ", options), batch_key(lab, None, options),
                batch_key(lab, solution, {**options, "fast": False}),
                batch_key(lab, solution, {**options, "cell_timeout": 11})}) == 6
    assert result_key(base, b"a") != result_key(base, b"b")
    assert grader_version().startswith("0.1.0+")
    # the grader's part of the key: every file of the package, by name and bytes
    package = tmp_path / "package"
    (package / "zoo").mkdir(parents=True)
    (package / "zoo" / "weights.pt").write_bytes(b"\x00\x01")
    (package / "__pycache__").mkdir()
    (package / "__pycache__" / "x.pyc").write_bytes(b"compiled")
    digest = files_digest(package)
    (package / "__pycache__" / "x.pyc").write_bytes(b"compiled again")
    assert files_digest(package) == digest
    (package / "zoo" / "weights.pt").write_bytes(b"\x00\x02")
    assert files_digest(package) != digest
    # a stored result is read back only under its own key
    store = ResultStore(graded["out"])
    stored = store.stored("s001")
    assert stored is not None and store.load("s001", stored["key"]).total == 6
    assert store.load("s001", "0" * 64) is None


def test_the_graded_class_exports_to_canvas(graded, tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text(ROSTER, encoding="utf-8")
    target = tmp_path / "canvas.csv"
    assert export_main(["--format", "canvas", "--grades", str(graded["out"]), "--roster",
                        str(roster), "--assignment", "Tiny lab", "--to", str(target)]) == 0
    with open(target, encoding="utf-8", newline="") as file:
        rows = list(csv.reader(file))
    assert rows == [["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Tiny lab"],
                    ["Points Possible", "", "", "", "", "6"],
                    ["Ada Lovelace", "48213", "A-1001", "", "Lab A", "6"],
                    ["Alan Turing", "48214", "A-1002", "", "Lab B", "0"],
                    ["Grace Hopper", "48215", "A-1003", "", "Lab A", ""]]  # missing: blank
