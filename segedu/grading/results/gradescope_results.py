"""A graded submission as Gradescope's ``results.json``: what the student sees on Gradescope.

Gradescope's autograder specification
(https://gradescope-autograders.readthedocs.io/en/latest/specs/, "Output format") asks for a JSON
object with an optional top-level ``score`` (it overrides the sum of the tests), ``execution_time``
(seconds), ``output`` (text about the whole submission), ``output_format``, ``visibility``,
``stdout_visibility``, ``extra_data`` and ``tests``: a list of test cases, each with ``score``,
``max_score``, ``status`` (``passed`` or ``failed``), ``name``, ``output``, ``visibility``
(``hidden``, ``after_due_date``, ``after_published`` or ``visible``) and ``tags``.

:func:`results_json` turns segedu's :class:`~.gradebook.Row` (what ``segedu-grade`` writes into a
gradebook row and a feedback page) into that object:

- one test per graded cell, hidden tests included, in the gradebook's order: its id as the name,
  its points and what it earned, ``passed`` or ``failed``, and the check's message as the output
  (the text ``feedback/<id>.txt`` shows under that cell); a hidden test's test gets the
  visibility ``hidden_visibility`` (``after_due_date`` hides its details until the due date);
- the written answers: with ``written="tests"`` one test each, 0 of its points and no status until
  it is graded by hand (on Gradescope: by adjusting that test's score), the student's answer as its
  output; with ``written="manual"`` none (the instructor grades them as Gradescope's own manual
  questions, whose points are not the autograder's);
- ``output``: the top of the feedback page: "Graded: X of Y points" with what it needs said
  with it (:func:`~.gradebook.total_remarks`), the sentence that explains a syntax error, a
  timeout, voided cells or a copy of the solution (the row's ``summary``), then the notes
  (the row's flags);
- ``score``: the points of the graded cells (and of the written answers graded so far, none on
  Gradescope); ``extra_data``: segedu's status (``ok``, ``timeout``, ``tampered``, ...).
"""

from __future__ import annotations

from .gradebook import CELL_MESSAGE_CAP, Row, total_remarks

__all__ = ["VISIBILITIES", "WRITTEN_MODES", "OUTPUT_CAP", "results_json", "problem_results"]

VISIBILITIES = ("hidden", "after_due_date", "after_published", "visible")
WRITTEN_MODES = ("tests", "manual")
OUTPUT_CAP = 20_000  # characters of the top-level output


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def top_note(row: Row, *, written: str = "tests") -> str:
    """The text above the tests: the total as the feedback page says it, why cells earned
    nothing, the notes."""
    remarks = total_remarks(row)
    if written == "manual" and row.written:
        remarks = [r for r in remarks if "written answers" not in r]
        remarks.append("the written answers are graded separately, by hand")
    shown_max = row.max_total - (sum(w.points for w in row.written) if written == "manual" else 0)
    lines = [f"Graded: {_number(row.total)} of {_number(shown_max)} points"
             + (f" ({'; '.join(remarks)})" if remarks else "")]
    if row.summary:
        lines += ["", row.summary]
    if row.flags:
        lines += ["", "Notes:"] + [f"- {flag}" for flag in row.flags]
    text = "\n".join(lines)
    return text if len(text) <= OUTPUT_CAP else text[:OUTPUT_CAP] + " […cut]"


def _cell_output(message: str) -> str:
    message = message.strip()
    return message if len(message) <= CELL_MESSAGE_CAP else message[:CELL_MESSAGE_CAP] + " […cut]"


def results_json(row: Row, *, hidden: set[str] = frozenset(), hidden_visibility: str = "visible",
                 written: str = "tests", seconds: float | None = None) -> dict:
    """Gradescope's results object for one graded submission (see the module's docstring).

    ``hidden``: the graded ids of the solution's hidden tests; ``hidden_visibility``: their
    tests' visibility (one of :data:`VISIBILITIES`); ``written``: ``"tests"`` or ``"manual"``;
    ``seconds``: the run's duration (``execution_time``, whole seconds)."""
    if hidden_visibility not in VISIBILITIES:
        raise ValueError(f"hidden_visibility {hidden_visibility!r}: one of {VISIBILITIES}")
    if written not in WRITTEN_MODES:
        raise ValueError(f"written {written!r}: one of {WRITTEN_MODES}")
    tests = []
    for cell in row.cells:
        test = {"name": cell.id + (" (hidden test)" if cell.id in hidden else ""),
                "score": cell.earned, "max_score": cell.points,
                "status": "passed" if cell.passed else "failed",
                "output": _cell_output(cell.message), "output_format": "text",
                "visibility": hidden_visibility if cell.id in hidden else "visible",
                "tags": ["hidden test" if cell.id in hidden else "graded cell"]}
        tests.append(test)
    if written == "tests":
        for answer in row.written:
            test = {"name": f"{answer.id} (written answer)",
                    "score": 0.0 if answer.earned is None else answer.earned,
                    "max_score": answer.points,
                    "output": ("Not graded yet: your answer is read and graded by hand.\n\n"
                               if answer.earned is None else "")
                              + "Your answer:\n" + (answer.answer.strip() or "(no answer)")
                              + (f"\n\nComment:\n{answer.comment}" if answer.comment else ""),
                    "output_format": "text", "visibility": "visible", "tags": ["written answer"]}
            if answer.earned is not None:
                test["status"] = "passed" if answer.earned >= answer.points else "failed"
            tests.append(test)
    results = {"score": row.total, "output": top_note(row, written=written),
               "output_format": "text", "stdout_visibility": "hidden",
               "extra_data": {"segedu_status": row.status}, "tests": tests}
    if seconds is not None:
        results["execution_time"] = int(round(seconds))
    return results


def problem_results(message: str, *, seconds: float | None = None) -> dict:
    """The results of a submission that could not be graded (no notebook, several, the grader
    stopped): 0 points and ``message`` for the student."""
    results = {"score": 0.0, "output": message, "output_format": "text",
               "stdout_visibility": "hidden", "extra_data": {"segedu_status": "not graded"},
               "tests": []}
    if seconds is not None:
        results["execution_time"] = int(round(seconds))
    return results
