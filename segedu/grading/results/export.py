"""``segedu-grade export``: the gradebook as the CSV file that Canvas or Moodle imports.

Usage::

    segedu-grade export --format canvas|moodle --grades OUT --roster roster.csv
                        [--assignment NAME] [--to FILE]

It reads ``OUT/gradebook.csv`` (written by ``segedu-grade``: each student's ``total``, written
answers graded by hand included, and ``max_total``) and the roster (:mod:`.roster`), and writes
one row per roster student, in roster order, with the identifier that each system documents:

- **canvas** (Grades → Import): the columns of Canvas' own gradebook export, ``Student``, ``ID``
  (``canvas_id``), ``SIS User ID``, ``SIS Login ID``, ``Section``, then the assignment's column;
  a second row ``Points Possible`` holds the maximum, as in Canvas' export. Canvas identifies a
  student by ``ID`` or ``SIS User ID`` (``SIS Login ID`` and ``Section`` come along), so each
  student needs at least one of ``canvas_id``, ``sis_user_id``, ``sis_login_id``. Give
  ``--assignment`` as Canvas writes an existing assignment's column, ``Lab 02 (12345)``, to fill
  that assignment; a new name makes a new assignment. (The Ohio State University's guide
  "Import a CSV File to Carmen Grades" lists what Canvas requires: Student Name or Student ID or
  SIS User ID, then SIS Login ID, Section and the assignment's column.)
- **moodle** (Grades → Import → CSV file): ``Email address``, ``Full name`` and the assignment's
  column. In Moodle's import form, choose "Identify user by: Map from *Email address* to *Email
  address*" (Moodle's ``useremail`` mapping, ``grade/import/csv``) and map the assignment's
  column to its grade item.
- **no Gradescope export**: Gradescope documents a CSV import for its *roster* only (``Name``,
  ``Email``, ``SID``: "Adding Students and Staff", help.gradescope.com), and no documented CSV
  form in which it takes the scores of an assignment (its scores come from its own autograder or
  its graders). A roster-shaped file would, if uploaded, write segedu's ids over the students'
  real SIDs, so segedu writes none: grade Gradescope submissions here (the bulk download is read,
  :mod:`.submissions`) and enter the scores into the LMS that Gradescope feeds, with ``canvas`` or
  ``moodle``. ``--format gradescope`` is refused with this reason.

**The exported scores match the points.** Each total is recomputed (:func:`current_totals`) from
the stored results (``OUT/results/``), the points entered by hand since (``manual/points.json``:
written answers and overrides of graded cells) and the lab's record (``OUT/lab.json``); a total
that differs from the gradebook's is exported as recomputed, with a warning (run the grader again
to bring the gradebook and the feedback pages up to date). Where the folder has no record (graded
by an older grader), the export refuses when the points file is newer than the gradebook.

A roster student whose row says ``missing`` (no submission) is exported **blank**: Canvas and
Moodle leave an empty cell ungraded, so the student shows as missing there; with
``--missing zero`` the student gets 0. A roster student with no row in the gradebook (graded
without this roster) gets an empty cell too, and is listed as a warning; so is every gradebook row
that matches no roster student (never exported, never dropped from the gradebook).
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from pathlib import Path

from .cache import ResultStore
from .gradebook import CellGrade, Row
from .manual_points import (
    ANSWERS,
    POINTS,
    ManualPointsError,
    apply_overrides,
    read_answers,
    read_points,
)
from .outfolder import read_record
from .roster import Roster, RosterError, read_roster

__all__ = ["FORMATS", "ExportError", "read_gradebook", "current_totals", "export_rows",
           "export_text", "main"]

FORMATS = ("canvas", "moodle")
REFUSED = {"gradescope": "Gradescope documents no CSV import of an assignment's scores (only of "
                         "its roster, which this file would overwrite with segedu's ids): export "
                         "for Canvas or Moodle (see segedu.grading.results.export)"}


class ExportError(ValueError):
    """Grades that cannot be exported as asked; the message says why."""


def read_gradebook(path: str | Path) -> dict[str, dict[str, str]]:
    """``student_id`` -> its row (column -> text) of a ``gradebook.csv``."""
    path = Path(path)
    if not path.is_file():
        raise ExportError(f"{path}: no gradebook (run segedu-grade first)")
    with open(path, encoding="utf-8", newline="") as file:
        rows = list(csv.DictReader(file))
    needed = {"student_id", "total", "max_total", "status"}
    if rows and not needed <= set(rows[0]):
        raise ExportError(f"{path}: not a segedu gradebook (columns {', '.join(sorted(needed))} "
                          "are needed)")
    return {row["student_id"]: row for row in rows}


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def current_totals(out: str | Path,
                   grades: dict[str, dict[str, str]]) -> tuple[dict[str, str], list[str]]:
    """Each gradebook row's total as the stored results and the points entered by hand make it
    now (student id -> text), and a warning per total that differs from the gradebook's. Raises
    :class:`ExportError` when it cannot recompute and the points are newer than the gradebook."""
    out = Path(out)
    record = read_record(out)
    points_path, gradebook = out / POINTS, out / "gradebook.csv"
    if record is None or not isinstance(record.get("points"), dict):
        if points_path.is_file() and points_path.stat().st_mtime > gradebook.stat().st_mtime:
            raise ExportError(f"{points_path} is newer than {gradebook}, and this folder has no "
                              "record of its lab to recompute the totals: run segedu-grade again "
                              "(it regrades nothing that did not change), then export")
        return {i: row["total"] for i, row in grades.items()}, []
    try:
        questions = read_answers(out)[0] if (out / ANSWERS).is_file() else []
        marks = read_points(out, questions)
    except ManualPointsError as error:
        raise ExportError(str(error)) from None
    worth = {str(k): float(v) for k, v in record["points"].items()}
    written = [str(q) for q in record.get("written") or []]
    store = ResultStore(out)
    totals, warnings = {}, []
    for student_id, row in grades.items():
        stored = store.load(student_id, None)
        if stored is None:  # not stored (missing, too large, a grader error): the gradebook's cells
            stored_cells = []
            for gid, points in worth.items():
                try:
                    earned = float(row.get(gid) or 0)
                except ValueError:
                    earned = 0.0
                stored_cells.append(CellGrade(gid, False, earned, points))
            stored = Row(student_id=student_id, status=row["status"], max_total=0.0,
                         cells=stored_cells)
        apply_overrides([stored], marks)  # sets the points given by hand (idempotent)
        total = sum(c.earned for c in stored.cells) + sum(
            marks.get(q, {})[student_id].points for q in written
            if student_id in marks.get(q, {}))
        totals[student_id] = _number(total)
        try:
            differs = abs(float(row["total"]) - total) > 1e-9
        except ValueError:
            differs = True
        if differs:
            warnings.append(f"{student_id}: total {row['total']} in the gradebook, {_number(total)}"
                            " from the stored results and the points entered since: exported "
                            f"{_number(total)} (run segedu-grade again to update the gradebook "
                            "and the feedback)")
    return totals, warnings


def _max_total(grades: dict[str, dict[str, str]]) -> str:
    values = sorted({row["max_total"] for row in grades.values()})
    if len(values) > 1:
        raise ExportError(f"the gradebook's rows disagree on max_total: {', '.join(values)}")
    return values[0] if values else ""


def export_rows(fmt: str, grades: dict[str, dict[str, str]], roster: Roster,
                assignment: str, *, totals: dict[str, str] | None = None,
                missing: str = "blank") -> tuple[list[list[str]], list[str]]:
    """The CSV rows (header first) of ``fmt`` and the warnings (see the module's docstring).

    ``totals``: the score of each student id (default: the gradebook's ``total``); ``missing``:
    ``"blank"`` or ``"zero"``, what a student without a submission gets."""
    if fmt in REFUSED:
        raise ExportError(f"--format {fmt}: {REFUSED[fmt]}")
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if not assignment.strip():
        raise ExportError("the assignment's column needs a name (--assignment)")
    warnings = [f"{student_id} is not in the roster: not exported"
                for student_id in grades if roster.by_id(student_id) is None]
    scores = {}
    for student in roster.students:
        row = grades.get(student.id)
        if row is None:
            warnings.append(f"{student.id} has no row in the gradebook: exported empty")
        if row is None:
            scores[student.id] = ""
        elif row["status"] == "missing":
            scores[student.id] = "0" if missing == "zero" else ""
        else:
            scores[student.id] = (totals or {}).get(student.id, row["total"])
    if fmt == "canvas":
        unnamed = [s.id for s in roster.students
                   if not (s.canvas_id or s.sis_user_id or s.sis_login_id)]
        if unnamed:
            raise ExportError("Canvas needs canvas_id, sis_user_id or sis_login_id for "
                              + ", ".join(unnamed[:10]) + (" …" if len(unnamed) > 10 else ""))
        rows = [["Student", "ID", "SIS User ID", "SIS Login ID", "Section", assignment],
                ["Points Possible", "", "", "", "", _max_total(grades)]]
        rows += [[s.name, s.canvas_id, s.sis_user_id, s.sis_login_id, s.section, scores[s.id]]
                 for s in roster.students]
    else:
        rows = [["Email address", "Full name", assignment]]
        rows += [[s.email, s.name, scores[s.id]] for s in roster.students]
    return rows, warnings


def export_text(rows: list[list[str]]) -> str:
    """CSV text: RFC 4180 quoting, ``\\r\\n`` line ends (what spreadsheets and the LMSs write)."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="segedu-grade export",
        description="Write the gradebook as the CSV that Canvas or Moodle imports.",
        epilog="canvas: Student, ID, SIS User ID, SIS Login ID, Section, <assignment> and a "
               "'Points Possible' row; moodle: Email address, Full name, <assignment> (import "
               "with 'Map from Email address to Email address'). No Gradescope format: Gradescope "
               "documents no CSV import of scores. See segedu.grading.results.export.")
    parser.add_argument("--format", required=True, help="the LMS to import into: canvas or "
                        "moodle")
    parser.add_argument("--grades", required=True, metavar="OUT",
                        help="the output folder of segedu-grade (holds gradebook.csv)")
    parser.add_argument("--roster", required=True, metavar="CSV",
                        help="the class list with each LMS's ids (see segedu-grade --help)")
    parser.add_argument("--assignment",
                        help="the assignment's column name (default: the output folder's name); "
                             "for Canvas, 'Name (id)' fills an existing assignment")
    parser.add_argument("--missing", choices=("blank", "zero"), default="blank",
                        help="a student without a submission: left blank, which each system "
                             "shows as not submitted (default), or 0")
    parser.add_argument("--to", metavar="FILE",
                        help="where to write (default: OUT/export-<format>.csv)")
    args = parser.parse_args(argv)
    out = Path(args.grades)
    assignment = args.assignment or out.resolve().name
    target = Path(args.to) if args.to else out / f"export-{args.format}.csv"
    if args.format in REFUSED or args.format not in FORMATS:
        print(f"error: --format {args.format}: "
              f"{REFUSED.get(args.format, 'choose canvas or moodle')}", file=sys.stderr)
        return 2
    try:
        grades = read_gradebook(out / "gradebook.csv")
        totals, warnings = current_totals(out, grades)
        rows, more = export_rows(args.format, grades, read_roster(args.roster), assignment,
                                 totals=totals, missing=args.missing)
        warnings += more
    except (ExportError, RosterError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(export_text(rows), encoding="utf-8", newline="")
    print(f"wrote {target} ({len(rows) - 1 - (args.format == 'canvas')} students)")
    return 0
