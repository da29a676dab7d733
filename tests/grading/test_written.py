"""Written answers, the points entered by hand and the feedback page, without running a notebook.

The end-to-end run (grader, page in Chromium, grader again) is tests/grading/test_manual_page.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from segedu.grading import cli
from segedu.grading.labs.assignment import Assignment
from segedu.grading.labs.generate import student_version
from segedu.grading.labs.notebook import NotebookError, read_notebook
from segedu.grading.labs.written import WrittenQuestion, student_answers, written_questions
from segedu.grading.results.feedback import exercise_cells, feedback_page, split_message
from segedu.grading.results.gradebook import CellGrade, Row, WrittenGrade, gradebook_text
from segedu.grading.results.manual_page import main as manual_main
from segedu.grading.results.manual_points import (
    PENDING,
    POINTS,
    RUNNING,
    ManualPointsError,
    Mark,
    fold_pending,
    grading_finished,
    grading_pid,
    grading_started,
    parse_points,
    read_points,
    save_point,
    write_answers,
)
from segedu.grading.run import grade_one
from tests.grading.test_grade import tiny_solution

ROOT = Path(__file__).resolve().parents[2]
QUESTION = "**Question.** Why?\n\n# BEGIN SOLUTION\nBecause.\n# END SOLUTION\n\nAfter the answer."


def with_question(rubric="one point per reason", points=3, qid="why"):
    nb = tiny_solution()
    cell = nbformat.v4.new_markdown_cell(QUESTION)
    cell.metadata["segedu"] = {"written": {"id": qid, "points": points, "rubric": rubric}}
    nb.cells.insert(3, cell)
    return nb


def test_the_lab_keeps_the_id_and_points_of_a_question_not_its_rubric():
    solution = with_question()
    lab = student_version(solution)
    cell = lab.cells[3]
    assert cell.metadata["segedu"] == {"written": {"id": "why", "points": 3}}
    assert cell.source == "**Question.** Why?\n\nYOUR ANSWER HERE\n\nAfter the answer."
    (question,) = written_questions(solution)
    assert question == WrittenQuestion(id="why", points=3.0, prompt="**Question.** Why?",
                                       rubric="one point per reason", model_answer="Because.",
                                       cell_id=cell.id)
    assert written_questions(lab)[0].rubric == ""


@pytest.mark.parametrize("change, message", [
    (lambda nb: nb.cells[3].metadata["segedu"]["written"].pop("id"), "has no string 'id'"),
    (lambda nb: nb.cells[3].metadata["segedu"]["written"].update(id="square"), "used twice"),
    (lambda nb: nb.cells[3].metadata["segedu"]["written"].update(points=-1), "'points' >= 0"),
    (lambda nb: nb.cells[3].metadata["segedu"]["written"].update(rubric=3), "not a string"),
    (lambda nb: setattr(nb.cells[3], "cell_type", "raw"), "not a Markdown cell"),
])
def test_bad_question_metadata_is_named(change, message):
    solution = with_question()
    change(solution)
    with pytest.raises(NotebookError, match=message):
        student_version(solution)


def test_an_answer_is_found_wherever_the_student_put_it():
    lab = student_version(with_question())
    assert student_answers(lab, lab) == {"why": ""}, "the untouched lab answers nothing"
    assert student_answers(None, lab) == {"why": ""}, "an unreadable notebook answers nothing"
    # written in place of the marker, and the cell moved to the end
    moved = nbformat.from_dict(json.loads(json.dumps(lab)))
    moved.cells[3].source = moved.cells[3].source.replace("YOUR ANSWER HERE", "Since 2+2=4.")
    moved.cells.append(moved.cells.pop(3))
    assert student_answers(moved, lab) == {"why": "Since 2+2=4."}
    # the marker left, the answer in two new Markdown cells below the question
    below = nbformat.from_dict(json.loads(json.dumps(lab)))
    below.cells[4:4] = [nbformat.v4.new_markdown_cell("First."),
                        nbformat.v4.new_markdown_cell("Second.")]
    assert student_answers(below, lab) == {"why": "First.\n\nSecond."}
    # the grading metadata lost (a copy through another editor): found by its cell id
    stripped = nbformat.from_dict(json.loads(json.dumps(moved)))
    stripped.cells[-1].metadata = {}
    assert student_answers(stripped, lab) == {"why": "Since 2+2=4."}


def test_points_are_saved_atomically_within_bounds(tmp_path):
    question = WrittenQuestion(id="why", points=3, prompt="Why?")
    assert read_points(tmp_path) == {}
    save_point(tmp_path, question, "alice", 2.5, "good")
    save_point(tmp_path, question, "bob", 0)
    for bad, message in ((3.5, "at most 3"), (-1, "at least 0"), (float("nan"), "a number"),
                         ("2", "a number"), (True, "a number")):
        with pytest.raises(ManualPointsError, match=message):
            save_point(tmp_path, question, "carol", bad)
    assert read_points(tmp_path) == {"why": {"alice": Mark(2.5, "good"), "bob": Mark(0.0, "")}}
    save_point(tmp_path, question, "bob", None)  # cleared
    assert read_points(tmp_path) == {"why": {"alice": Mark(2.5, "good")}}
    assert [p.name for p in (tmp_path / "manual").iterdir()] == ["points.json"], "no temporary"
    # the saved points checked against the question's worth when read for grading
    assert parse_points((tmp_path / POINTS).read_bytes(), questions=[question])
    smaller = WrittenQuestion(id="why", points=2, prompt="Why?")
    with pytest.raises(ManualPointsError, match="at most 2"):
        parse_points((tmp_path / POINTS).read_bytes(), questions=[smaller])


def test_a_save_while_a_grader_runs_waits_beside_the_points_file(tmp_path):
    question = WrittenQuestion(id="why", points=3, prompt="Why?")
    save_point(tmp_path, question, "bob", 3)
    before = (tmp_path / POINTS).read_bytes()
    grading_started(tmp_path)  # this process grades: the guard would undo a save of the file
    assert grading_pid(tmp_path) == os.getpid()
    save_point(tmp_path, question, "alice", 1, "pending")
    save_point(tmp_path, question, "bob", None)  # a removal waits too
    assert (tmp_path / POINTS).read_bytes() == before  # the guarded file is untouched
    assert read_points(tmp_path) == {"why": {"alice": Mark(1.0, "pending")}}
    grading_finished(tmp_path)
    assert fold_pending(tmp_path) and not (tmp_path / PENDING).exists()
    assert read_points(tmp_path) == {"why": {"alice": Mark(1.0, "pending")}}
    with pytest.raises(ManualPointsError, match="question 'why', answer 7: points must be at "
                                                "least 0 and at most 3"):
        save_point(tmp_path, question, "alice", 4, who="answer 7")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / RUNNING).write_text(f"{dead.pid}\n", encoding="utf8")  # a grader that died
    assert grading_pid(tmp_path) is None
    save_point(tmp_path, question, "alice", 2)
    assert read_points(tmp_path)["why"]["alice"].points == 2


@pytest.mark.parametrize("text, message", [
    ('{"format": "segedu-manual-points", "version": 1, "points": {', "not valid JSON"),
    ('{"points": {}}', "not a points file"),
    ('{"format": "segedu-manual-points", "version": 1, "points": {"why": {"a": {"points": "x"}}}}',
     "points must be a number"),
    ('{"format": "segedu-manual-points", "version": 1, "points": {"why": {"a": {"pts": 1}}}}',
     "expected"),
])
def test_a_broken_points_file_stops_everything_and_is_kept(tiny_written, tmp_path, capsys,
                                                           monkeypatch, text, message):
    solution, lab, submissions = tiny_written
    out = tmp_path / "out"
    (out / POINTS).parent.mkdir(parents=True)
    (out / POINTS).write_text(text, encoding="utf8")
    with pytest.raises(ManualPointsError, match=message):
        read_points(out)

    def never(*args, **kwargs):
        raise AssertionError("a notebook ran although the points file is broken")

    monkeypatch.setattr(grade_one, "run_notebook", never)
    assert cli.main(["--lab", str(lab), "--solution", str(solution), "--submissions",
                       str(submissions), "--out", str(out)]) == 2
    assert message in capsys.readouterr().err
    write_answers(out, written_questions(with_question()), {"a": {"why": ""}})
    assert manual_main(["--out", str(out), "--port", "0"]) == 2
    assert message in capsys.readouterr().err
    assert (out / POINTS).read_text(encoding="utf8") == text, "never replaced"
    assert not (out / "gradebook.csv").exists()


@pytest.fixture(scope="module")
def tiny_written(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny_written")
    nbformat.write(with_question(), folder / "solution.ipynb")
    nbformat.write(student_version(with_question()), folder / "lab.ipynb")
    (folder / "submissions").mkdir()
    nbformat.write(student_version(with_question()), folder / "submissions" / "a.ipynb")
    return folder / "solution.ipynb", folder / "lab.ipynb", folder / "submissions"


def test_segedu_grade_lists_the_manual_subcommand_and_its_options(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    assert ("manual        grade the written answers, and override graded code cells, by hand"
            in capsys.readouterr().out)
    with pytest.raises(SystemExit):
        cli.main(["manual", "--help"])
    shown = capsys.readouterr().out
    assert all(option in shown for option in ("--out", "--names", "--port"))


def test_the_gradebook_has_a_column_per_question_blank_until_graded():
    cells = [CellGrade("double", True, 2, 2), CellGrade("square", False, 0, 3)]
    rows = [Row("b", "ok", 10, cells=cells, written=[WrittenGrade("why", 5, "text", 4.5, "ok")]),
            Row("a", "ok", 10, cells=cells, written=[WrittenGrade("why", 5, "text")])]
    assert gradebook_text(rows, ["double", "square"], ["why"]).splitlines() == [
        "student_id,double,square,why,total,max_total,status,reason",
        "a,2,0,,2,10,ok,", "b,2,0,4.5,6.5,10,ok,"]


def test_the_feedback_page_escapes_everything_from_the_submission():
    evil = "<script>alert(1)</script>"
    row = Row(student_id=f"x{evil}", status="ok", max_total=5, summary=evil, flags=[evil],
              cells=[CellGrade("double", False, 0, 2,
                               f"✗ double of 2: got {evil}\n  Hint: {evil}")],
              written=[WrittenGrade("why", 3, evil, 1, evil)])
    page = feedback_page(row, code={"double": [f"def double(x):\n    return '{evil}'", None]},
                         questions=[WrittenQuestion(id="why", points=3, prompt=evil)])
    assert "<script" not in page.lower()
    # the id twice (title, heading), summary, flag, error, hint, code, question, answer, comment
    assert page.count("&lt;script&gt;alert(1)&lt;/script&gt;") == 10
    assert "Graded: 1 of 5 points" in page and "2 points of written answers" not in page
    assert "this exercise's cell is not in your notebook" in page


def test_split_message_reduces_a_traceback_to_its_error():
    assert split_message("✗ double of 2: expected 4\n  Hint: multiply by 2") == (
        "✗ double of 2: expected 4", "multiply by 2", "")
    traceback = ("---------\nNameError  Traceback (most recent call last)\nCell In[3], line 1\n"
                 "----> 1 double(2)\nNameError: name 'double' is not defined")
    error, hint, full = split_message(traceback)
    assert error == "Your code stopped with NameError: name 'double' is not defined"
    assert hint == "" and full == traceback.strip()


def test_lab_06_feedback_shows_each_checks_own_exercise():
    """The one real-lab check: lab 06's graded cells map to the TODO cells that they check."""
    assignment = Assignment.from_bytes((ROOT / "labs" / "06_cells.ipynb").read_bytes(),
                                       (ROOT / "solutions" / "06_cells.ipynb").read_bytes())
    lab = read_notebook(ROOT / "labs" / "06_cells.ipynb")
    todo = {c.id for c in lab.cells if "# YOUR CODE HERE" in c.source}
    exercises = exercise_cells(assignment)
    assert set(exercises) == set(assignment.columns)
    assert exercises["star-distances"] == ["lab06-04"]
    # each TODO has its own graded cell: following the flows, then the masks
    assert exercises["follow"] == ["lab06-17"]
    assert exercises["masks"] == ["lab06-19"]
    assert exercises["watershed"] == ["lab06-29"]
    assert all(set(cells) <= todo for cells in exercises.values())
    assert [q.id for q in assignment.written] == ["watershed-failures"]
