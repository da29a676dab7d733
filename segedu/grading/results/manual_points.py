"""Points entered by hand for the written answers, and what the manual-grading page reads.

Two files in the grader's output folder:

- ``OUT/manual/answers.json`` (:data:`ANSWERS`), written by the grader on every run: the written
  questions (id, points, question, rubric, model answer) and every student's answer to each; and
  the graded code cells (:class:`GradedCode`: id, points, the checks' source) with, for every
  student who submitted, the code those checks test and what they gave (:class:`CodeAnswer`), so
  that the page can override them. The page (:mod:`.manual_page`) shows it; the export reads the
  questions.
- ``OUT/manual/points.json`` (:data:`POINTS`), written only by the page, one save at a time,
  atomically (a temporary file flushed to the disk, then renamed over the old one)::

      {"format": "segedu-manual-points", "version": 1,
       "points": {"<question id>": {"<student id>": {"points": 2.5, "comment": "..."}}}}

  The grader reads it (before anything runs, so a broken file stops it at once) and never writes
  it: a re-run, in any mode, keeps every point. An entry under a **graded code cell's id** is an
  override by hand (:func:`apply_overrides`): that cell earns the points given (0 to its worth)
  whatever the checks said, and the gradebook's reason and the student's feedback say so, with the
  comment. An entry the grader cannot use (an id that is neither a written question nor a graded
  cell of the lab, or a student without a row) is reported on every run, never ignored silently.
  A file that is not exactly this shape raises
  :class:`ManualPointsError`, which names the problem; nothing replaces it silently.
- ``OUT/manual/grading.pid`` (:data:`RUNNING`), the grader's process id while it grades: the
  grader guards the points file against the notebooks it runs (a change is undone), so a save
  made while a grader runs on the same folder goes to ``OUT/manual/points.pending.json``
  (:data:`PENDING`, the same shape, ``"points": null`` for a removed mark), which the grader
  merges at the end of its run and the page folds into the points file at its first save or load
  after the run (:func:`fold_pending`). :func:`read_points` reads both.

:func:`attach_points` gives each gradebook row its :class:`~.gradebook.WrittenGrade` list (the
answer, the points entered or ``None``, the comment), so that the gradebook, the feedback and the
row's total include them.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

from ..labs.written import WrittenQuestion
from .gradebook import OVERRIDE, Row, WrittenGrade, write_atomic

__all__ = ["ANSWERS", "POINTS", "FORMAT", "COMMENT_CAP", "ManualPointsError", "Mark",
           "parse_points", "read_points", "save_point", "attach_points", "write_answers",
           "read_answers", "RUNNING", "grading_started", "grading_finished", "grading_pid",
           "apply_overrides", "unused_points", "OVERRIDE", "PENDING", "fold_pending",
           "GradedCode", "CodeAnswer", "code_answers", "read_code"]


ANSWERS = Path("manual") / "answers.json"
POINTS = Path("manual") / "points.json"
RUNNING = Path("manual") / "grading.pid"
PENDING = Path("manual") / "points.pending.json"  # saves made while a grader runs
FORMAT = "segedu-manual-points"
COMMENT_CAP = 5_000  # characters of one comment
_SAVE_LOCK = threading.Lock()  # one save at a time within a process


class ManualPointsError(ValueError):
    """The points file cannot be used (unreadable, or not its documented shape), or a point entered
    is out of range; the message names the file and the problem."""


@dataclass(frozen=True)
class Mark:
    """The points given by hand to one answer, and the comment for the student."""

    points: float
    comment: str = ""


@dataclass(frozen=True)
class GradedCode:
    """A graded code cell as the manual page shows it: its id, its worth and the checks' source
    (the page saves an override of it like the points of a written question)."""

    id: str
    points: float
    checks: str = ""


@dataclass(frozen=True)
class CodeAnswer:
    """One student's answer to a graded code cell: the code its checks test (the student's
    exercise cells, joined), the points the checks gave and what they said."""

    code: str
    earned: float
    message: str = ""


NOT_IN_NOTEBOOK = "# (this exercise's cell is not in the notebook)"


def code_answers(rows: list[Row], code: dict[str, dict[str, list[str | None]]]
                 ) -> dict[str, dict[str, CodeAnswer]]:
    """Student id -> graded cell id -> :class:`CodeAnswer`, from the rows as the checks graded
    them (before any override) and ``code`` (student id -> :func:`.feedback.student_code`);
    a ``missing`` row has no answer."""
    found = {}
    for row in rows:
        if row.status == "missing":
            continue
        sources = code.get(row.student_id, {})
        found[row.student_id] = {
            cell.id: CodeAnswer(code="\n\n".join(NOT_IN_NOTEBOOK if s is None else s
                                                  for s in sources.get(cell.id, [])),
                                earned=cell.earned, message=cell.message)
            for cell in row.cells}
    return found


def _check_points(value, maximum: float | None, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ManualPointsError(f"{what}: points must be a number, got {value!r}")
    if value < 0 or (maximum is not None and value > maximum):
        bound = f" and at most {maximum:g}" if maximum is not None else ""
        raise ManualPointsError(f"{what}: points must be at least 0{bound}, got {value:g}")
    return float(value)


def parse_points(data: bytes | None, *, where: str = str(POINTS),
                 questions: list[WrittenQuestion] = (),
                 removals: bool = False) -> dict[str, dict[str, Mark]]:
    """Question id -> student id -> :class:`Mark`, from the bytes of a points file (``None``: no
    file, no points). Points above the worth of one of ``questions`` are an error too (the
    solution changed since they were entered); points of other questions are kept as they are.
    ``removals`` (the pending file): ``"points": null`` is read as ``None``, a removed mark."""
    if data is None:
        return {}
    fix = "; fix it or move it away (the grader never rewrites it)"
    try:
        raw = json.loads(data.decode("utf8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ManualPointsError(f"{where}: not valid JSON ({error}){fix}") from None
    if (not isinstance(raw, dict) or raw.get("format") != FORMAT or raw.get("version") != 1
            or not isinstance(raw.get("points"), dict)):
        raise ManualPointsError(f"{where}: not a points file (expected an object with "
                                f"\"format\": \"{FORMAT}\", \"version\": 1 and \"points\"){fix}")
    worth = {q.id: q.points for q in questions}
    points: dict[str, dict[str, Mark]] = {}
    for question, marks in raw["points"].items():
        if not isinstance(marks, dict):
            raise ManualPointsError(f"{where}: the points of question {question!r} are not an "
                                    f"object{fix}")
        for student, mark in marks.items():
            what = f"{where}: question {question!r}, student {student!r}"
            if not isinstance(mark, dict) or set(mark) - {"points", "comment"}:
                raise ManualPointsError(f"{what}: expected {{\"points\": ..., \"comment\": ...}}"
                                        f"{fix}")
            if removals and mark.get("points") is None:
                points.setdefault(question, {})[student] = None
                continue
            value = _check_points(mark.get("points"), worth.get(question), what)
            comment = mark.get("comment", "")
            if not isinstance(comment, str):
                raise ManualPointsError(f"{what}: the comment is not a string{fix}")
            points.setdefault(question, {})[student] = Mark(value, comment)
    return points


def read_points(out: str | Path,
                questions: list[WrittenQuestion] = ()) -> dict[str, dict[str, Mark]]:
    """The points saved in ``OUT/manual/points.json`` (``{}`` when there is no such file)."""
    marks = _read(Path(out) / POINTS, questions)
    for question, by_student in _read(Path(out) / PENDING, questions, removals=True).items():
        for student, mark in by_student.items():
            if mark is None:
                marks.get(question, {}).pop(student, None)
            else:
                marks.setdefault(question, {})[student] = mark
    return {q: by for q, by in marks.items() if by}


def _read(path: Path, questions, *, removals: bool = False) -> dict:
    try:
        data = path.read_bytes() if path.exists() else None
    except OSError as error:
        raise ManualPointsError(f"{path}: cannot be read ({error})") from None
    return parse_points(data, where=str(path), questions=questions, removals=removals)


def _write(path: Path, marks: dict) -> None:
    """Write marks (``None``: a removed one, in the pending file) durably and atomically."""
    body = {"format": FORMAT, "version": 1,
            "points": {q: {s: {"points": None} if m is None else asdict(m)
                           for s, m in sorted(by.items())}
                       for q, by in sorted(marks.items()) if by}}
    write_atomic(path, json.dumps(body, indent=1, ensure_ascii=False) + "\n", durable=True)


def fold_pending(out: str | Path) -> bool:
    """Fold the saves made during a grader's run into the points file, once no grader runs;
    whether there was anything to fold."""
    out = Path(out)
    if grading_pid(out) is not None or not (out / PENDING).is_file():
        return False
    with _SAVE_LOCK:
        _write(out / POINTS, read_points(out))
        (out / PENDING).unlink()
    return True


def save_point(out: str | Path, question: WrittenQuestion | GradedCode, student: str,
               points: float | None, comment: str = "", *,
               who: str | None = None) -> dict[str, dict[str, Mark]]:
    """Save one answer's points and comment (``points=None`` removes them); return every point.
    ``question`` is a written question, or a graded code cell (the points are an override).

    The file is read again first, so a save never loses another one; a broken file raises
    :class:`ManualPointsError` and is left as it is. Points must lie in ``[0, question.points]``.
    While a grader runs on ``out``, the save goes to the pending file (see the module). ``who``:
    how the messages name the answer ("answer 3" on the anonymous page; default: the student id).
    """
    kind = "graded cell" if isinstance(question, GradedCode) else "question"
    what = f"{kind} {question.id!r}, {who or f'student {student!r}'}"
    if points is not None:
        points = _check_points(points, question.points, what)
    if not isinstance(comment, str) or len(comment) > COMMENT_CAP:
        raise ManualPointsError(f"{what}: the comment must be text of at most {COMMENT_CAP} "
                                "characters")
    if grading_pid(out) is not None:  # the grader guards the points file: a pending save
        with _SAVE_LOCK:
            pending = _read(Path(out) / PENDING, (), removals=True)
            pending.setdefault(question.id, {})[student] = (
                None if points is None else Mark(points, comment))
            _write(Path(out) / PENDING, pending)
        return read_points(out)
    fold_pending(out)
    with _SAVE_LOCK:
        marks = read_points(out)
        if points is None:
            marks.get(question.id, {}).pop(student, None)
        else:
            marks.setdefault(question.id, {})[student] = Mark(points, comment)
        _write(Path(out) / POINTS, marks)
    return marks


def attach_points(rows: list[Row], questions: list[WrittenQuestion],
                  answers: dict[str, dict[str, str]], marks: dict[str, dict[str, Mark]]) -> None:
    """Set every row's ``written`` list: each question's answer and the points entered for it
    (``marks`` as :func:`parse_points` returns them, checked against ``questions``)."""
    for row in rows:
        grades = []
        for question in questions:
            mark = marks.get(question.id, {}).get(row.student_id)
            grades.append(WrittenGrade(id=question.id, points=question.points,
                                       answer=answers.get(row.student_id, {}).get(question.id, ""),
                                       earned=None if mark is None else mark.points,
                                       comment="" if mark is None else mark.comment))
        row.written = grades


def apply_overrides(rows: list[Row], marks: dict[str, dict[str, Mark]]) -> None:
    """Give each graded cell that has points entered by hand (``marks[cell id][student id]``)
    those points, capped to the cell's worth, with a note in the cell's message and in the row's
    reason (``points set by hand: double 1.5 / 2 (the checks gave 0): <comment>``)."""
    for row in rows:
        for number, cell in enumerate(row.cells):
            mark = marks.get(cell.id, {}).get(row.student_id)
            if mark is None or row.status == "missing":
                continue
            earned = min(mark.points, cell.points)
            note = (f"{OVERRIDE}: {earned:g} / {cell.points:g} (the checks gave "
                    f"{cell.earned:g})" + (f": {mark.comment}" if mark.comment else ""))
            row.cells[number] = dataclasses.replace(
                cell, earned=earned, message=f"{note}\n{cell.message}".strip())
            row.flags.append(f"{OVERRIDE}: {cell.id} {earned:g} / {cell.points:g} (the checks "
                             f"gave {cell.earned:g})")


def unused_points(marks: dict[str, dict[str, Mark]], questions: list[str], cells: dict[str, float],
                  students: set[str]) -> list[str]:
    """What the grader cannot use in the points entered by hand, one line each: an id that is
    neither a written question nor a graded cell of the lab, a student without a row, points
    above a graded cell's worth."""
    problems = []
    for item, by_student in sorted(marks.items()):
        if item not in questions and item not in cells:
            problems.append(f"points entered for {item!r}, which is neither a written question "
                            "nor a graded cell of this lab: not used")
            continue
        for student, mark in sorted(by_student.items()):
            if student not in students:
                problems.append(f"points entered for {item!r} of {student!r}, who has no row in "
                                "this gradebook: not used")
            elif item in cells and mark.points > cells[item]:
                problems.append(f"points entered for graded cell {item!r} of {student!r} "
                                f"({mark.points:g}) exceed its worth ({cells[item]:g}): "
                                f"{cells[item]:g} used")
    return problems


def write_answers(out: str | Path, questions: list[WrittenQuestion],
                  answers: dict[str, dict[str, str]], cells: list[GradedCode] = (),
                  code: dict[str, dict[str, CodeAnswer]] | None = None) -> Path:
    """Write ``OUT/manual/answers.json``: the questions and student id -> question id -> answer;
    the graded code ``cells`` and student id -> cell id -> :class:`CodeAnswer`."""
    path = Path(out) / ANSWERS
    code = code or {}
    body = {"questions": [asdict(q) for q in questions],
            "answers": {student: answers[student] for student in sorted(answers)},
            "cells": [asdict(c) for c in cells],
            "code": {student: {gid: asdict(a) for gid, a in code[student].items()}
                     for student in sorted(code)}}
    write_atomic(path, json.dumps(body, indent=1, ensure_ascii=False) + "\n")
    return path


def read_answers(out: str | Path) -> tuple[list[WrittenQuestion], dict[str, dict[str, str]]]:
    """The questions and answers that the grader wrote to ``OUT/manual/answers.json``."""
    path = Path(out) / ANSWERS
    if not path.is_file():
        raise ManualPointsError(f"{path}: no such file; run segedu-grade with --out {out} first "
                                "(a lab with written questions writes it)")
    try:
        raw = json.loads(path.read_text(encoding="utf8"))
        questions = [WrittenQuestion(**q) for q in raw["questions"]]
        answers = {str(s): {str(q): str(t) for q, t in a.items()}
                   for s, a in raw["answers"].items()}
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise ManualPointsError(f"{path}: not the grader's answers file ({error}); run "
                                "segedu-grade again to rewrite it") from None
    return questions, answers


def read_code(out: str | Path) -> tuple[list[GradedCode], dict[str, dict[str, CodeAnswer]]]:
    """The graded code cells and the code answers in ``OUT/manual/answers.json`` (none in a file
    written before they were added to it)."""
    path = Path(out) / ANSWERS
    try:
        raw = json.loads(path.read_text(encoding="utf8"))
        cells = [GradedCode(**c) for c in raw.get("cells", [])]
        code = {str(s): {str(g): CodeAnswer(**a) for g, a in by_cell.items()}
                for s, by_cell in raw.get("code", {}).items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise ManualPointsError(f"{path}: not the grader's answers file ({error}); run "
                                "segedu-grade again to rewrite it") from None
    return cells, code


def grading_started(out: str | Path) -> None:
    """Record that this process grades into ``out`` (saves are refused until it finishes)."""
    write_atomic(Path(out) / RUNNING, f"{os.getpid()}\n")


def grading_finished(out: str | Path) -> None:
    (Path(out) / RUNNING).unlink(missing_ok=True)


def grading_pid(out: str | Path) -> int | None:
    """The id of the grader's process grading into ``out`` now, or ``None`` (none, or it died)."""
    try:
        pid = int((Path(out) / RUNNING).read_text(encoding="utf8").strip())
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return None  # a grader that died: nothing runs
    except PermissionError:
        pass  # it exists, as another user
    return pid
