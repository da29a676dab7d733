"""What a batch writes at its end, from the results in memory: the gradebook, the feedback, the
answers for the manual page and the similar answers.

:func:`write_batch` runs once every student is graded (or the batch was interrupted: then for what
is finished):

1. what matching said of each file (late, not in the roster, older files) opens its row's reason;
2. the written answers are read from the submitted files, and the points entered by hand are read
   again (the saves made on the manual page during the run included, :mod:`.manual_points`): written
   points are attached, and points on a graded code cell override what the checks gave (what the
   checks gave is kept for the manual page first);
3. the submissions that look like the solution itself are flagged ``solution-copy``, and
   ``OUT/similar_answers.csv`` lists the pairs of identical answers (:mod:`.similarity`);
4. ``gradebook.csv`` and ``feedback/<student_id>.txt`` (:mod:`.gradebook`), the feedback pages
   (:mod:`.feedback`) and ``manual/answers.json`` are written, each atomically.
"""

from __future__ import annotations

from pathlib import Path

from ..labs.assignment import Assignment, readable
from ..labs.written import student_answers
from .feedback import exercise_cells, graded_code, student_code, write_feedback_pages
from .gradebook import Row, write_outputs
from .manual_points import (
    ManualPointsError,
    apply_overrides,
    attach_points,
    code_answers,
    read_points,
    unused_points,
    write_answers,
)
from .similarity import similar_answers, solution_copies, write_similar

__all__ = ["write_batch"]


def write_batch(out: Path, assignment: Assignment, rows: list[Row], *,
                submitted: dict[str, bytes | None], solution: bytes | None,
                matching: dict[str, list[str]], marks: dict, log) -> list[str]:
    """Write into ``out`` the outputs of a batch of ``assignment`` for ``rows``; return the warnings
    about the points entered by hand (each also logged when it is a point not used).

    ``submitted``: each student's submitted bytes as the batch read them (``None``: unreadable; a
    file too large to read is left out); ``solution``: the solution's bytes (``None``: no
    solution); ``matching``: what matching said of each student's files; ``marks``: the points
    entered by hand as read at the start of the batch (:func:`.manual_points.read_points`)."""
    warnings = []
    # 1. what matching said (late, not in the roster, ...) opens each row's reason
    for row in rows:
        row.flags[:0] = matching.get(row.student_id, [])
    # 2. the written answers, read from the submitted files, with the points entered by hand
    notebooks = {i: readable(data) for i, data in submitted.items()}
    answers = {row.student_id: student_answers(notebooks.get(row.student_id), assignment.lab)
               for row in rows}
    try:  # the saves made on the page during the run included
        marks = read_points(out, assignment.written)
    except ManualPointsError as error:
        warnings.append(f"the points entered by hand could not be read again ({error}): "
                        "those read at the start are used")
    attach_points(rows, assignment.written, answers, marks)
    # what the checks gave each graded cell, for the manual page, before the overrides
    exercises = exercise_cells(assignment)
    code = code_answers(rows, {i: student_code(notebooks.get(i), exercises) for i in notebooks})
    apply_overrides(rows, marks)  # points given by hand to graded code cells
    for problem in unused_points(marks, [q.id for q in assignment.written], assignment.points,
                                 {r.student_id for r in rows}):
        warnings.append(problem)
        log(f"warning: {problem}")
    # 3. the submissions that look like the solution itself, and pairs of identical answers
    # (after renaming), a place for the instructor to look
    graded = {r.student_id for r in rows}
    finished = {i: notebooks.get(i) for i in notebooks if i in graded}
    model = readable(solution) if solution is not None else None
    copies, solution_pairs = solution_copies(
        finished, assignment.lab, model, [cell.source for cell, _ in assignment.hidden],
        assignment.written, answers)
    for row in rows:
        if row.student_id in copies:
            row.flags[:0] = copies[row.student_id]
            if row.status == "ok":
                row.status = "solution-copy"
    write_similar(out, similar_answers(finished, assignment.lab, model) + solution_pairs)
    # 4. the gradebook, the feedback, the answers for the manual page
    write_outputs(out, rows, assignment.columns, [q.id for q in assignment.written])
    write_feedback_pages(out, rows, assignment, notebooks)
    write_answers(out, assignment.written, answers, graded_code(assignment), code)
    return warnings
