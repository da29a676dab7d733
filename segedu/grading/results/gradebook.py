"""The grader's outputs: one gradebook row per submission and one feedback text per student.

``gradebook.csv`` has the columns ``student_id``, one per graded cell id (points earned), one per
written question id (the points entered by hand, :mod:`.manual_points`; blank until graded),
``total`` (every point earned so far, written ones included: an ungraded question counts 0),
``max_total`` (written points included), ``status`` and ``reason``; rows are sorted by student id.
``feedback/<student_id>.txt`` opens with the total, the status and what the total needs said with
it (:func:`total_remarks`: points set by hand, written points not graded yet, the notes), then
lists every graded cell with ✓ or ✗ and its check message, then the written answers' points and
comments, then the flags (restored cells, limits hit); a row whose
graded cells were voided (``tampered``, ``library``) opens with one plain sentence that says why;
it is cut at :data:`FEEDBACK_CAP` characters. ``feedback/<student_id>.html`` is the page a student
reads (:mod:`.feedback`).

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

__all__ = ["CellGrade", "WrittenGrade", "Row", "FEEDBACK_CAP", "REASON_CAP", "OVERRIDE",
           "total_remarks", "feedback_text", "write_outputs", "write_atomic"]

FEEDBACK_CAP = 20_000  # characters of one feedback file
REASON_CAP = 500  # characters of the gradebook's reason column
CELL_MESSAGE_CAP = 1_000  # characters of one cell's message in the feedback
OVERRIDE = "points set by hand"  # opens the message of a graded cell overridden (.manual)


@dataclass(frozen=True)
class CellGrade:
    """One graded cell of one submission: passed or not, points earned, and what it said."""

    id: str
    passed: bool
    earned: float
    points: float
    message: str = ""


@dataclass(frozen=True)
class WrittenGrade:
    """One written answer of one submission: what was written and the points entered by hand.

    ``earned`` is ``None`` until the instructor grades it.
    """

    id: str
    points: float
    answer: str = ""
    earned: float | None = None
    comment: str = ""


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
    # the written answers with their manual points (set after the batch, see .manual)
    written: list[WrittenGrade] = field(default_factory=list)

    @property
    def total(self) -> float:
        """Points earned: graded cells, and the written answers graded so far."""
        return (sum(cell.earned for cell in self.cells)
                + sum(w.earned for w in self.written if w.earned is not None))

    @property
    def reason(self) -> str:
        text = "; ".join(self.flags)
        return text if len(text) <= REASON_CAP else text[:REASON_CAP] + " […cut]"


def _number(value: float) -> str:
    """Points as written in the CSV: 3 rather than 3.0, 1.5 as it is."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def total_remarks(row: Row) -> list[str]:
    """What a reader of the total must know with it, for the text and the page alike: the
    graded cells whose points were set by hand, the written points not graded yet, the notes
    at the end (``["points of square set by hand", "3 points of written answers are not graded
    yet", "2 notes below"]``)."""
    remarks = []
    by_hand = [cell.id for cell in row.cells if cell.message.startswith(OVERRIDE)]
    if by_hand:
        remarks.append(f"points of {', '.join(by_hand)} set by hand")
    pending = sum(w.points for w in row.written if w.earned is None)
    if pending:
        remarks.append(f"{_number(pending)} points of written answers are not graded yet")
    if row.flags:
        remarks.append(f"{len(row.flags)} note{'s' if len(row.flags) > 1 else ''} below")
    return remarks


def feedback_text(row: Row) -> str:
    """The feedback for one student, at most :data:`FEEDBACK_CAP` characters."""
    remarks = "".join(f"; {remark}" for remark in total_remarks(row))
    lines = [f"Feedback for {row.student_id}",
             f"Total: {_number(row.total)} / {_number(row.max_total)} (status: {row.status}"
             f"{remarks})", ""]
    if row.summary:
        lines[2:2] = ["", row.summary]  # the sentence that explains the voided cells, before them
    for cell in row.cells:
        mark = "✓" if cell.passed else "✗"
        lines.append(f"{mark} {cell.id}: {_number(cell.earned)} / {_number(cell.points)}")
        message = cell.message.strip()
        if len(message) > CELL_MESSAGE_CAP:
            message = message[:CELL_MESSAGE_CAP] + " […cut]"
        lines += [f"    {line}" for line in message.splitlines()]
    for answer in row.written:
        earned = "not graded yet" if answer.earned is None else _number(answer.earned)
        lines.append(f"✎ {answer.id} (written): {earned} / {_number(answer.points)}")
        lines += [f"    {line}" for line in answer.comment.strip()[:CELL_MESSAGE_CAP].splitlines()]
    if row.flags:
        lines += ["", "Notes:"] + [f"- {flag}" for flag in row.flags]
    text = "\n".join(lines) + "\n"
    return text if len(text) <= FEEDBACK_CAP else text[:FEEDBACK_CAP] + "\n[…feedback cut]\n"


def gradebook_text(rows: list[Row], columns: list[str], written: list[str] = ()) -> str:
    """The CSV: graded ``columns``, then the ``written`` question ids (blank until graded)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["student_id", *columns, *written, "total", "max_total", "status", "reason"])
    for row in sorted(rows, key=lambda r: r.student_id):
        earned = {cell.id: cell.earned for cell in row.cells}
        by_hand = {w.id: w.earned for w in row.written}
        writer.writerow([row.student_id, *(_number(earned.get(c, 0.0)) for c in columns),
                         *("" if by_hand.get(q) is None else _number(by_hand[q]) for q in written),
                         _number(row.total), _number(row.max_total), row.status, row.reason])
    return buffer.getvalue()


def write_atomic(path: Path, text: str, *, durable: bool = False) -> None:
    """Write ``text`` to a temporary file beside ``path``, then rename it over ``path``.

    ``durable``: flush the file to the disk before the rename (for what only a person can redo).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(handle, "w", encoding="utf8") as file:
        file.write(text)
        if durable:
            file.flush()
            os.fsync(file.fileno())
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(temporary, 0o666 & ~mask)
    os.replace(temporary, path)


def write_outputs(out: str | Path, rows: list[Row], columns: list[str],
                  written: list[str] = ()) -> Path:
    """Write ``OUT/feedback/<id>.txt`` for every row, then ``OUT/gradebook.csv``; return
    its path."""
    out = Path(out)
    for row in rows:
        write_atomic(out / "feedback" / f"{row.student_id}.txt", feedback_text(row))
    gradebook = out / "gradebook.csv"
    write_atomic(gradebook, gradebook_text(rows, columns, written))
    return gradebook
