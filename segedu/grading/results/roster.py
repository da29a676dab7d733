"""The class list (``--roster``): who the students are, and their ids in each LMS.

A roster is a CSV file (UTF-8, a byte-order mark allowed) with a header row. Columns:

=================  ========  ============================================================
column             required  meaning
=================  ========  ============================================================
``id``             yes       the student's id in segedu: the gradebook's ``student_id``
                             and the name of ``feedback/<id>.*``; letters, digits,
                             ``.``, ``_`` and ``-`` only
``name``           yes       full name, as the LMS shows it (``Ada Lovelace``)
``email``          yes       e-mail address: Gradescope's identifier and Moodle's
                             ("Email address"); matched without regard to case
``canvas_id``      no        Canvas user id (the ``ID`` column of Canvas' gradebook, the
                             number in its bulk-download file names)
``sis_user_id``    no        Canvas ``SIS User ID``
``sis_login_id``   no        Canvas ``SIS Login ID``
``section``        no        Canvas ``Section``
``moodle_id``      no        the participant number of Moodle's bulk download (the
                             ``12345`` of ``Ada Lovelace_12345_assignsubmission_file_``)
=================  ========  ============================================================

Any other column is an error (a misspelt ``canvas id`` would otherwise be ignored in silence).
Empty optional cells are fine. :func:`read_roster` raises :class:`RosterError` naming the line and
the problem: a missing required column, an empty required cell, an ``id`` that is not a safe file
name, and an ``id``, ``email``, ``canvas_id``, ``sis_user_id`` or ``moodle_id`` used twice.

Example::

    id,name,email,canvas_id,sis_user_id,section,moodle_id
    s001,Ada Lovelace,ada@uni.example,48213,A-1001,Lab A,7301
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["RosterError", "Student", "Roster", "REQUIRED", "OPTIONAL", "read_roster",
           "parse_roster"]

REQUIRED = ("id", "name", "email")
OPTIONAL = ("canvas_id", "sis_user_id", "sis_login_id", "section", "moodle_id")
UNIQUE = ("id", "email", "canvas_id", "sis_user_id", "moodle_id")  # (non-empty) values once only
SAFE_ID = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}")


class RosterError(ValueError):
    """A roster that cannot be used; the message names the file, the line and the problem."""


@dataclass(frozen=True, kw_only=True)
class Student:
    """One row of the roster (optional ids are ``""`` when not given)."""

    id: str
    name: str
    email: str
    canvas_id: str = ""
    sis_user_id: str = ""
    sis_login_id: str = ""
    section: str = ""
    moodle_id: str = ""


def _normal_name(name: str) -> str:
    """A name compared without regard to case or runs of spaces."""
    return " ".join(name.split()).casefold()


@dataclass(frozen=True)
class Roster:
    """The students in roster order, with look-ups by each LMS's identifier."""

    students: tuple[Student, ...]

    def by_id(self, value: str) -> Student | None:
        return next((s for s in self.students if s.id == value), None)

    def by_email(self, value: str) -> Student | None:
        value = value.strip().casefold()
        return next((s for s in self.students if value and s.email.casefold() == value), None)

    def by_canvas_id(self, value: str) -> Student | None:
        return next((s for s in self.students if value and s.canvas_id == value), None)

    def by_moodle_id(self, value: str) -> Student | None:
        return next((s for s in self.students if value and s.moodle_id == value), None)

    def by_name(self, value: str) -> Student | None:
        """The only student with this full name (case and spaces aside), else ``None``."""
        found = [s for s in self.students if _normal_name(s.name) == _normal_name(value)]
        return found[0] if len(found) == 1 else None


def parse_roster(text: str, *, where: str = "roster") -> Roster:
    """A :class:`Roster` from the CSV text; :class:`RosterError` names what is wrong."""
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff")))
    rows = [row for row in reader if any(cell.strip() for cell in row)]
    if not rows:
        raise RosterError(f"{where}: empty file; the header needs the columns "
                          f"{', '.join(REQUIRED)}")
    header = [cell.strip() for cell in rows[0]]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise RosterError(f"{where}: missing column(s) {', '.join(missing)} (the header is "
                          f"{', '.join(header)}; required: {', '.join(REQUIRED)})")
    unknown = [c for c in header if c not in REQUIRED + OPTIONAL]
    if unknown:
        raise RosterError(f"{where}: unknown column(s) {', '.join(map(repr, unknown))}; the "
                          f"columns are {', '.join(REQUIRED + OPTIONAL)}")
    twice = sorted({c for c in header if header.count(c) > 1})
    if twice:
        raise RosterError(f"{where}: column(s) {', '.join(twice)} appear twice in the header")
    students: list[Student] = []
    seen: dict[tuple[str, str], int] = {}
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise RosterError(f"{where}, line {line}: {len(row)} cells for {len(header)} columns")
        values = {column: cell.strip() for column, cell in zip(header, row, strict=True)}
        for column in REQUIRED:
            if not values[column]:
                raise RosterError(f"{where}, line {line}: empty {column!r}")
        if not SAFE_ID.fullmatch(values["id"]):
            raise RosterError(f"{where}, line {line}: id {values['id']!r} may hold only letters, "
                              "digits, '.', '_' and '-' (it names the student's feedback file)")
        for column in UNIQUE:
            value = values.get(column, "")
            key = (column, value.casefold() if column == "email" else value)
            if value and key in seen:
                raise RosterError(f"{where}, line {line}: {column} {value!r} is already used on "
                                  f"line {seen[key]}")
            seen[key] = line
        students.append(Student(**values))
    return Roster(students=tuple(students))


def read_roster(path: str | Path) -> Roster:
    """Read a roster file (see the module's docstring for its columns)."""
    path = Path(path)
    if not path.is_file():
        raise RosterError(f"{path}: no such roster file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise RosterError(f"{path}: not UTF-8 text ({error})") from None
    return parse_roster(text, where=str(path))
