"""The grader's outputs: one gradebook row per submission and one feedback text per student.

``gradebook.csv`` has the columns ``student_id``, one per graded cell id (points earned),
``total``, ``max_total``, ``status`` and ``reason``; rows are sorted by student id.
``feedback/<student_id>.txt`` lists every graded cell with ✓ or ✗ and its check message, then the
flags (restored cells, limits hit); a row whose graded cells were voided (``tampered``, ``library``)
opens with one plain sentence that says why; it is cut at :data:`FEEDBACK_CAP` characters.

Both are written atomically (a temporary file renamed over the old one) from the results held in
memory, after the whole batch: whatever a submission wrote at those paths while it ran is replaced.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["CellGrade", "Row", "FEEDBACK_CAP", "REASON_CAP", "feedback_text", "write_outputs"]

FEEDBACK_CAP = 20_000  # characters of one feedback file
REASON_CAP = 500  # characters of the gradebook's reason column
CELL_MESSAGE_CAP = 1_000  # characters of one cell's message in the feedback


@dataclass(frozen=True)
class CellGrade:
    """One graded cell of one submission: passed or not, points earned, and what it said."""

    id: str
    passed: bool
    earned: float
    points: float
    message: str = ""


@dataclass
class Row:
    """One submission's results: a gradebook row plus what its feedback text needs."""

    student_id: str
    status: str  # ok, invalid, timeout, memory, crashed, tampered, library
    max_total: float
    cells: list[CellGrade] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    # one plain sentence for the student when cells were voided (tampered, library)
    summary: str = ""

    @property
    def total(self) -> float:
        return sum(cell.earned for cell in self.cells)

    @property
    def reason(self) -> str:
        text = "; ".join(self.flags)
        return text if len(text) <= REASON_CAP else text[:REASON_CAP] + " […cut]"


def _number(value: float) -> str:
    """Points as written in the CSV: 3 rather than 3.0, 1.5 as it is."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def feedback_text(row: Row) -> str:
    """The feedback for one student, at most :data:`FEEDBACK_CAP` characters."""
    lines = [f"Feedback for {row.student_id}",
             f"Total: {_number(row.total)} / {_number(row.max_total)} (status: {row.status})", ""]
    if row.summary:
        lines[2:2] = ["", row.summary]  # the sentence that explains the voided cells, before them
    for cell in row.cells:
        mark = "✓" if cell.passed else "✗"
        lines.append(f"{mark} {cell.id}: {_number(cell.earned)} / {_number(cell.points)}")
        message = cell.message.strip()
        if len(message) > CELL_MESSAGE_CAP:
            message = message[:CELL_MESSAGE_CAP] + " […cut]"
        lines += [f"    {line}" for line in message.splitlines()]
    if row.flags:
        lines += ["", "Notes:"] + [f"- {flag}" for flag in row.flags]
    text = "\n".join(lines) + "\n"
    return text if len(text) <= FEEDBACK_CAP else text[:FEEDBACK_CAP] + "\n[…feedback cut]\n"


def gradebook_text(rows: list[Row], columns: list[str]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["student_id", *columns, "total", "max_total", "status", "reason"])
    for row in sorted(rows, key=lambda r: r.student_id):
        earned = {cell.id: cell.earned for cell in row.cells}
        writer.writerow([row.student_id, *(_number(earned.get(c, 0.0)) for c in columns),
                         _number(row.total), _number(row.max_total), row.status, row.reason])
    return buffer.getvalue()


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(handle, "w", encoding="utf8") as file:
        file.write(text)
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(temporary, 0o666 & ~mask)
    os.replace(temporary, path)


def write_outputs(out: str | Path, rows: list[Row], columns: list[str]) -> Path:
    """Write ``OUT/feedback/<id>.txt`` for every row, then ``OUT/gradebook.csv``; return
    its path."""
    out = Path(out)
    for row in rows:
        _write_atomic(out / "feedback" / f"{row.student_id}.txt", feedback_text(row))
    gradebook = out / "gradebook.csv"
    _write_atomic(gradebook, gradebook_text(rows, columns))
    return gradebook
