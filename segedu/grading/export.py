"""``segedu-grade export``: the gradebook as the CSV file that Canvas, Moodle or Gradescope imports.

Usage::

    segedu-grade export --format canvas|moodle|gradescope --grades OUT --roster roster.csv
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
- **gradescope**: ``Name``, ``Email``, ``SID`` and the assignment's column with the score. The
  first three are Gradescope's roster columns ("Adding Students and Staff", help.gradescope.com:
  a header row, Name and Email required, one unique email per student); Gradescope identifies a
  student by Email.

A roster student whose row says ``missing`` gets 0, as the gradebook does. A roster student with
no row in the gradebook (graded without this roster) gets an empty cell, which these systems
leave unchanged, and is listed as a warning; so is every gradebook row that matches no roster
student (never exported, never dropped from the gradebook).
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from pathlib import Path

from .roster import Roster, RosterError, read_roster

__all__ = ["FORMATS", "ExportError", "read_gradebook", "export_rows", "export_text", "main"]

FORMATS = ("canvas", "moodle", "gradescope")


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


def _max_total(grades: dict[str, dict[str, str]]) -> str:
    values = sorted({row["max_total"] for row in grades.values()})
    if len(values) > 1:
        raise ExportError(f"the gradebook's rows disagree on max_total: {', '.join(values)}")
    return values[0] if values else ""


def export_rows(fmt: str, grades: dict[str, dict[str, str]], roster: Roster,
                assignment: str) -> tuple[list[list[str]], list[str]]:
    """The CSV rows (header first) of ``fmt`` and the warnings (see the module's docstring)."""
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
        scores[student.id] = "" if row is None else row["total"]
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
    elif fmt == "moodle":
        rows = [["Email address", "Full name", assignment]]
        rows += [[s.email, s.name, scores[s.id]] for s in roster.students]
    else:
        rows = [["Name", "Email", "SID", assignment]]
        rows += [[s.name, s.email, s.id, scores[s.id]] for s in roster.students]
    return rows, warnings


def export_text(rows: list[list[str]]) -> str:
    """CSV text: RFC 4180 quoting, ``\\r\\n`` line ends (what spreadsheets and the LMSs write)."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="segedu-grade export",
        description="Write the gradebook as the CSV that Canvas, Moodle or Gradescope imports.",
        epilog="canvas: Student, ID, SIS User ID, SIS Login ID, Section, <assignment> and a "
               "'Points Possible' row; moodle: Email address, Full name, <assignment> (import "
               "with 'Map from Email address to Email address'); gradescope: Name, Email, SID, "
               "<assignment>. See segedu.grading.export.")
    parser.add_argument("--format", required=True, choices=FORMATS, help="the LMS to import into")
    parser.add_argument("--grades", required=True, metavar="OUT",
                        help="the output folder of segedu-grade (holds gradebook.csv)")
    parser.add_argument("--roster", required=True, metavar="CSV",
                        help="the class list with each LMS's ids (see segedu-grade --help)")
    parser.add_argument("--assignment",
                        help="the assignment's column name (default: the output folder's name); "
                             "for Canvas, 'Name (id)' fills an existing assignment")
    parser.add_argument("--to", metavar="FILE",
                        help="where to write (default: OUT/export-<format>.csv)")
    args = parser.parse_args(argv)
    out = Path(args.grades)
    assignment = args.assignment or out.resolve().name
    target = Path(args.to) if args.to else out / f"export-{args.format}.csv"
    try:
        rows, warnings = export_rows(args.format, read_gradebook(out / "gradebook.csv"),
                                     read_roster(args.roster), assignment)
    except (ExportError, RosterError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(export_text(rows), encoding="utf-8", newline="")
    print(f"wrote {target} ({len(rows) - 1 - (args.format == 'canvas')} students)")
    return 0
