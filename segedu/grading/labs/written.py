"""Written answers: the questions a lab asks in prose, and what each student wrote.

A *written question* is a Markdown cell of the solution with the metadata::

    {"segedu": {"written": {"id": "<unique>", "points": <n>, "rubric": "<how to give the points>"}}}

and a ``# BEGIN SOLUTION`` ... ``# END SOLUTION`` block: the model answer. The lab generator
(:mod:`.generate`) replaces the block by ``YOUR ANSWER HERE`` and keeps ``id`` and ``points`` in the
student lab, without the rubric; the id lets the grader find the answer wherever the student moved
the cell.

- :func:`written_questions` reads and checks the questions of a notebook (the solution's have a
  rubric and a model answer; the lab's have neither);
- :func:`student_answers` reads what a student wrote for each question: the lines of the question's
  cell that are not in the released cell, followed by the Markdown cells the student added right
  after it (a common way to answer). An untouched question gives ``""``.

The points are entered by hand (:mod:`.manual_points`, :mod:`.manual_page`).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from .notebook import ANSWER_MARK, BEGIN, END, NotebookError, graded_cells, lab_metadata

__all__ = ["WrittenQuestion", "written_questions", "student_answers"]


@dataclass(frozen=True)
class WrittenQuestion:
    """A question answered in prose: its id, points, the question's text, rubric and model answer.

    ``rubric`` and ``model_answer`` are ``""`` when read from a student lab. ``cell_id`` is the
    notebook cell id of the question (the grader's second way to find it).
    """

    id: str
    points: float
    prompt: str
    rubric: str = ""
    model_answer: str = ""
    cell_id: str = ""


def _split(source: str) -> tuple[str, str]:
    """(the question's text, the model answer): the lines before the solution block (or before
    ``YOUR ANSWER HERE`` in a lab), and the lines inside it."""
    before, inside, state = [], [], "before"
    for line in source.split("\n"):
        marker = line.strip()
        if marker.startswith(BEGIN) or marker == ANSWER_MARK:
            state = "inside" if marker.startswith(BEGIN) else "after"
        elif marker.startswith(END):
            state = "after"
        elif state == "inside":
            inside.append(line)
        elif state == "before":
            before.append(line)
    return "\n".join(before).strip(), "\n".join(inside).strip()


def written_questions(notebook, *, where: str = "notebook") -> list[WrittenQuestion]:
    """The written questions of a notebook in order, after checking their metadata.

    Raises:
        NotebookError: a ``written`` entry on a code cell, an id that is not a non-empty string or
            is used twice (by another question or a graded cell), points that are not a number
            >= 0, or a rubric that is not a string.
    """
    taken = {cell.id for cell in graded_cells(notebook, where=where)}
    found: list[WrittenQuestion] = []
    for index, cell in enumerate(notebook.cells):
        written = lab_metadata(cell).get("written")
        if written is None:
            continue
        if cell.cell_type != "markdown" or not isinstance(written, dict):
            raise NotebookError(f"{where}: cell {index} has 'written' metadata but is not a "
                                "Markdown cell with a dict of id, points and rubric")
        qid, points, rubric = written.get("id"), written.get("points"), written.get("rubric", "")
        if not isinstance(qid, str) or not qid:
            raise NotebookError(f"{where}: written question in cell {index} has no string 'id'")
        if qid in taken:
            raise NotebookError(f"{where}: the id {qid!r} of the written question in cell {index} "
                                "is used twice")
        if isinstance(points, bool) or not isinstance(points, int | float) or points < 0:
            raise NotebookError(f"{where}: written question {qid!r} needs 'points' >= 0, got "
                                f"{points!r}")
        if not isinstance(rubric, str):
            raise NotebookError(f"{where}: the rubric of written question {qid!r} is not a string")
        taken.add(qid)
        prompt, model = _split(cell.source)
        found.append(WrittenQuestion(id=qid, points=float(points), prompt=prompt, rubric=rubric,
                                     model_answer=model, cell_id=str(cell.get("id", ""))))
    return found


def _question_id(cell) -> str | None:
    written = lab_metadata(cell).get("written")
    return written.get("id") if isinstance(written, dict) else None


def _new_lines(released: str, written: str) -> str:
    """The lines of ``written`` that are not in ``released`` (the question), without the marker."""
    old, new = released.splitlines(), written.splitlines()
    mine: list[str] = []
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    for tag, _, _, j1, j2 in matcher.get_opcodes():
        if tag != "equal":
            mine += [line for line in new[j1:j2] if line.strip() != ANSWER_MARK
                     and not line.strip().startswith((BEGIN, END))]
    return "\n".join(mine).strip()


def student_answers(submission, lab) -> dict[str, str]:
    """Question id -> what the student wrote (``""`` when nothing), for every question of ``lab``.

    ``submission`` is a parsed notebook (or ``None`` for one that could not be read: every answer
    is then ``""``). A question's cell is found by its ``written`` id, else by its cell id; the
    answer is the cell's lines that differ from the released cell, then the text of the Markdown
    cells that follow it and are not in the released lab.
    """
    questions = written_questions(lab, where="the released lab")
    answers = {q.id: "" for q in questions}
    if submission is None:
        return answers
    released_ids = {cell.get("id") for cell in lab.cells}
    released = {_question_id(c): c.source for c in lab.cells if _question_id(c)}
    cells = submission.cells
    for question in questions:
        index = next((i for i, c in enumerate(cells) if c.cell_type == "markdown"
                      and _question_id(c) == question.id), None)
        if index is None:
            index = next((i for i, c in enumerate(cells) if c.cell_type == "markdown"
                          and question.cell_id and c.get("id") == question.cell_id), None)
        if index is None:
            continue
        parts = [_new_lines(released[question.id], cells[index].source)]
        for cell in cells[index + 1:]:  # the student's own Markdown cells right after the question
            if cell.get("id") in released_ids or cell.cell_type != "markdown":
                break
            parts.append(cell.source.strip())
        answers[question.id] = "\n\n".join(p for p in parts if p)
    return answers
