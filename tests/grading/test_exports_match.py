"""The newest file of a student, exports that match the points, and overrides by hand.

The batch logic is what is tested here, not the notebooks: ``grade_submission`` is replaced by a
stand-in that reads a marker from the submitted notebook (``# EARN double square``: the cells that
pass), so the class of the tiny lab of ``test_grade`` is graded in a second.
"""

from __future__ import annotations

import csv
import json

import nbformat
import pytest

from segedu.grading.results.export import main as export_main
from segedu.grading.results.gradebook import CellGrade, Row
from segedu.grading.results.manual_points import POINTS
from segedu.grading.results.roster import parse_roster
from segedu.grading.run import batch
from segedu.grading.run.batch import grade_batch

from .test_grade import solved, tiny  # noqa: F401 (tiny is a fixture)

ROSTER = """id,name,email,canvas_id,sis_user_id
s001,Ada Lovelace,ada@uni.example,48213,A-1001
s002,Alan Turing,alan@uni.example,48214,A-1002
s003,Grace Hopper,grace@uni.example,48215,A-1003
"""


def stand_in(student_id, data, assignment, limits, **options):
    """A row whose cells pass as the notebook's ``# EARN`` marker says."""
    sources = ["".join(c["source"]) for c in json.loads(data)["cells"]]
    earn = next((s.split()[2:] for s in sources if s.startswith("# EARN")), [])
    cells = [CellGrade(g, g in earn, assignment.points[g] if g in earn else 0.0,
                       assignment.points[g], "✓ fine" if g in earn else "✗ wrong")
             for g in assignment.columns]
    return Row(student_id=student_id, status="ok", max_total=assignment.max_total, cells=cells)


def _notebook(lab, earn: str) -> str:
    notebook = solved(lab)
    notebook.cells.append(nbformat.v4.new_code_cell(f"# EARN {earn}"))
    return nbformat.writes(notebook)


def _csv(path):
    with open(path, encoding="utf-8", newline="") as file:
        return list(csv.reader(file))


@pytest.fixture()
def week(tiny, tmp_path, monkeypatch):  # noqa: F811 (the fixture imported above)
    solution, lab_path, lab = tiny
    monkeypatch.setattr(batch, "grade_submission", stand_in)
    submissions, out = tmp_path / "submissions", tmp_path / "out"
    submissions.mkdir()
    # a second Canvas download unzipped over the first: Ada's on-time file (attachment 9911)
    # and her late resubmission (9987, renamed lab-1 by Canvas)
    (submissions / "lovelaceada_48213_9911_lab.ipynb").write_text(_notebook(lab, ""))
    (submissions / "lovelaceada_LATE_48213_9987_lab-1.ipynb").write_text(
        _notebook(lab, "double double-hidden square"))
    (submissions / "turingalan_48214_9920_lab.ipynb").write_text(_notebook(lab, "double"))
    roster = tmp_path / "roster.csv"
    roster.write_text(ROSTER, encoding="utf-8")
    rows, warnings = grade_batch(lab_path, submissions, out, solution=solution,
                                 roster=parse_roster(ROSTER))
    return dict(lab=lab_path, solution=solution, submissions=submissions, out=out,
                roster=roster)


def _export(week, *extra):
    target = week["out"] / "canvas.csv"
    assert export_main(["--format", "canvas", "--grades", str(week["out"]), "--roster",
                        str(week["roster"]), "--assignment", "Lab (7)", "--to", str(target),
                        *extra]) == 0
    return {row[0]: row[-1] for row in _csv(target)[2:]}


def test_the_newest_canvas_file_is_graded_and_exported(week):
    book = {row[0]: row for row in _csv(week["out"] / "gradebook.csv")}
    header = _csv(week["out"] / "gradebook.csv")[0]
    reason = book["s001"][header.index("reason")]
    assert book["s001"][header.index("total")] == "6"
    assert reason == ("submitted late (Canvas); several notebooks: graded the newest, "
                      "lovelaceada_LATE_48213_9987_lab-1.ipynb; not graded: "
                      "lovelaceada_48213_9911_lab.ipynb")
    assert "s001.2" not in book
    # the missing student is exported blank (not submitted), or 0 when asked
    assert _export(week) == {"Ada Lovelace": "6", "Alan Turing": "2", "Grace Hopper": ""}
    assert _export(week, "--missing", "zero")["Grace Hopper"] == "0"


def test_points_given_after_grading_reach_the_export_and_then_the_feedback(week, capsys):
    points = week["out"] / POINTS
    points.parent.mkdir(parents=True, exist_ok=True)
    points.write_text(json.dumps({"format": "segedu-manual-points", "version": 1, "points": {
        "square": {"s002": {"points": 2.5, "comment": "right idea; x ** 2 would do"}},
        "no-such-cell": {"s001": {"points": 1, "comment": ""}}}}), encoding="utf-8")
    # the export recomputes from the stored results and the points: 2 + 2.5, with a warning
    assert _export(week)["Alan Turing"] == "4.5"
    assert "s002: total 2 in the gradebook, 4.5 from the stored results" in capsys.readouterr().err
    # the next run merges the override: gradebook, reason and feedback say it was given by hand
    rows, warnings = grade_batch(week["lab"], week["submissions"], week["out"],
                                 solution=week["solution"],
                                 roster=parse_roster(week["roster"].read_text()))
    assert warnings == ["points entered for 'no-such-cell', which is neither a written question "
                        "nor a graded cell of this lab: not used"]
    book = {row[0]: row for row in _csv(week["out"] / "gradebook.csv")}
    header = _csv(week["out"] / "gradebook.csv")[0]
    assert book["s002"][header.index("square")] == "2.5"
    assert book["s002"][header.index("total")] == "4.5"
    assert book["s002"][header.index("reason")] == ("points set by hand: square 2.5 / 3 (the "
                                                     "checks gave 0)")
    page = (week["out"] / "feedback" / "s002.html").read_text(encoding="utf-8")
    assert ('<p class="override">Points set by hand: 2.5 / 3 (the checks gave 0): right idea; '
            "x ** 2 would do</p>") in page
    assert _export(week)["Alan Turing"] == "4.5"
    assert "total" not in capsys.readouterr().err  # gradebook and export agree again


def test_a_copy_of_the_solution_is_flagged(tiny, tmp_path, monkeypatch):  # noqa: F811
    solution, lab_path, lab = tiny
    monkeypatch.setattr(batch, "grade_submission", stand_in)
    submissions, out = tmp_path / "submissions", tmp_path / "out"
    submissions.mkdir()
    # the solution notebook itself (markers and hidden test), and an honest one
    (submissions / "copy.ipynb").write_bytes(solution.read_bytes())
    (submissions / "honest.ipynb").write_text(_notebook(lab, "double"))
    grade_batch(lab_path, submissions, out, solution=solution)
    book = {row[0]: row for row in _csv(out / "gradebook.csv")}
    header = _csv(out / "gradebook.csv")[0]
    assert book["copy"][header.index("status")] == "solution-copy"
    assert book["copy"][header.index("reason")] == (
        "looks like the solution: it holds the solution's `# BEGIN SOLUTION` markers; it holds "
        "the solution's hidden tests")
    assert book["honest"][header.index("status")] == "ok"
    similar = _csv(out / "similar_answers.csv")
    assert [row[1:3] for row in similar[1:] if row[1] == "(solution)"] == [
        ["(solution)", "copy"], ["(solution)", "copy"]]  # its double and square answers


def test_commented_answers_and_written_answers_equal_to_the_model():
    from segedu.grading.labs.generate import student_version
    from segedu.grading.labs.written import WrittenQuestion
    from segedu.grading.results.similarity import solution_copies

    from .test_grade import tiny_solution

    solution = tiny_solution()
    for cell in solution.cells:
        cell.source = cell.source.replace("    return 2 * x", "    # twice x\n    return 2 * x")
    lab = student_version(solution)
    copied = nbformat.from_dict(json.loads(json.dumps(lab)))
    honest = nbformat.from_dict(json.loads(json.dumps(lab)))
    model = {cell.id: cell.source for cell in solution.cells}
    for mine, theirs in zip(copied.cells, honest.cells, strict=True):
        if "YOUR CODE HERE" in mine.source:  # the solution's lines, its comment included
            mine.source = "\n".join(line for line in model[mine.id].splitlines()
                                    if "SOLUTION" not in line)
            theirs.source = mine.source.replace("    # twice x\n", "")
    question = WrittenQuestion(id="why", points=2, prompt="Why?", model_answer="Because  Two.")
    flags, pairs = solution_copies({"copied": copied, "honest": honest}, lab, solution, (),
                                   [question], {"copied": {"why": "because two."},
                                                "honest": {"why": "Two, because."}})
    assert flags == {"copied": ["looks like the solution: its 2 answer(s) are the solution's, "
                                "comments included",
                                "written answer 'why' is the model answer, word for word"]}
    assert [(p.todo, p.first, p.second) for p in pairs][-1] == ("why", "(solution)", "copied")
