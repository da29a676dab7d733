"""The page a student reads: ``feedback/<student_id>.html``, one self-contained HTML file.

From the top: the student's total in plain words ("Graded: 6 of 22 points", written answers
included, and the points still to be graded by hand), the notes that explain a syntax error, a
timeout (:mod:`.diagnose`) or voided cells, then **each TODO's code once** (the student's own)
with every graded cell that checks it under it (hidden tests included): ✓ or ✗, its points, one
line per check as the check said it (a traceback is reduced to its last line, the full text
folded below it), the hint, and the points set by hand if any; then every written question with
the student's answer, the instructor's points and comment; then the notes (restored cells, limits
hit).

The student's code of a graded cell is the exercise cells (the released lab's cells with
``# YOUR CODE HERE``) that it checks: those since the previous graded cell that define a name the
graded cell uses, else all of those, else the earlier exercise cells that define such a name. A
hidden test shows the code of the graded cell it follows. The cells are found in the submission by
their cell id, wherever the student moved them.

Everything that comes from a submission (code, messages, answers, comments) is HTML-escaped; a
written question's text (the lab's Markdown) is rendered by markdown-it-py with raw HTML escaped
and images left out (:func:`markdown`); the page has no script and loads nothing. The pages are
written after each batch, from the results and the points saved so far: after points are entered
by hand, the next run of the grader (the same command) writes them into the pages.
"""

from __future__ import annotations

import ast
import html
import re
from pathlib import Path

from markdown_it import MarkdownIt

from ..labs.assignment import Assignment
from ..labs.notebook import CODE_MARK, graded_id, parse_cell
from ..labs.written import WrittenQuestion
from .gradebook import CELL_MESSAGE_CAP, OVERRIDE, Row, total_remarks, write_atomic
from .manual_points import GradedCode

__all__ = ["exercise_cells", "graded_code", "student_code", "split_message", "markdown",
           "feedback_page", "write_feedback_pages"]

CODE_CAP = 20_000  # characters of one cell's code on the page
# the last line of a Python traceback: "NameError: name 'x' is not defined"
_ERROR_LINE = re.compile(r"^\s*([A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt|Warning))\b:?(.*)$")


def _bound(source: str) -> set[str]:
    """The names a cell binds at its top level (functions, classes, plain assignments)."""
    tree = parse_cell(source)
    names: set[str] = set()
    for node in tree.body if tree is not None else ():
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name))
    return names


def _used(source: str) -> set[str]:
    tree = parse_cell(source)
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} if tree is not None else set()


def exercise_cells(assignment: Assignment) -> dict[str, list[str]]:
    """Graded cell id (hidden tests included) -> the cell ids of the exercise cells it checks."""
    todos: list[tuple[str, set[str]]] = []  # (cell id, names it binds), in lab order
    recent: list[str] = []  # exercise cells since the previous graded cell
    found: dict[str, list[str]] = {}

    def pick(source: str) -> list[str]:
        used = _used(source)
        named = [cid for cid, names in todos if names & used]
        return [c for c in recent if c in named] or list(recent) or named

    for cell in assignment.lab.cells:
        if cell.cell_type != "code":
            continue
        if graded_id(cell) in assignment.points:
            found[graded_id(cell)] = pick(cell.source)
            recent = []
        elif CODE_MARK in cell.source and cell.get("id"):
            todos.append((cell["id"], _bound(cell.source)))
            recent.append(cell["id"])
    recent = []
    for cell, anchor in assignment.hidden:  # a hidden test checks what its graded cell checks
        gid = graded_id(cell)
        if gid in assignment.points:
            after = found.get(anchor[1]) if anchor and anchor[0] == "graded" else None
            found[gid] = after if after is not None else pick(cell.source)
    return found


def graded_code(assignment: Assignment) -> list[GradedCode]:
    """The graded code cells of the lab, hidden tests included, in the gradebook's order, with
    the source of their checks (what the manual page shows beside an override)."""
    cells = [*assignment.lab.cells, *(cell for cell, _ in assignment.hidden)]
    sources = {graded_id(cell): cell.source for cell in cells
               if cell.cell_type == "code" and graded_id(cell)}
    return [GradedCode(id=gid, points=assignment.points[gid], checks=sources.get(gid, ""))
            for gid in assignment.columns]


def student_code(submission, exercises: dict[str, list[str]]) -> dict[str, list[str | None]]:
    """Graded cell id -> the submission's source of each of its exercise cells (``None`` for one
    that is not in the submission); every list empty when ``submission`` is ``None``."""
    sources = ({c.get("id"): c.source for c in submission.cells if c.cell_type == "code"}
               if submission is not None else None)
    if sources is None:
        return {gid: [] for gid in exercises}
    return {gid: [sources.get(cid) for cid in cells] for gid, cells in exercises.items()}


def split_message(message: str) -> tuple[str, str, str]:
    """(the error a student reads, the hint, the full text when it was a traceback, else "").

    A check's message (``✗ name: what is wrong`` and ``Hint: ...``) is split at its hint; any other
    text (a traceback) is reduced to its last error line.
    """
    lines = message.strip().splitlines()
    hint = " ".join(line.strip()[len("Hint:"):].strip() for line in lines
                    if line.strip().startswith("Hint:"))
    rest = [line for line in lines if not line.strip().startswith("Hint:")]
    if not rest or rest[0].lstrip().startswith(("✓", "✗")):
        return "\n".join(rest).strip(), hint, ""
    errors = [m for m in map(_ERROR_LINE.match, rest) if m]
    if errors:
        last = errors[-1]
        error = f"Your code stopped with {last.group(1)}{':' if last.group(3) else ''}" \
                f"{last.group(3)}"
        return error.strip(), hint, "\n".join(rest)
    return "\n".join(rest).strip(), hint, ""


# CommonMark without raw HTML (a '<script>' in the text is shown as text) and without images (the
# page loads nothing); markdown-it refuses javascript:, vbscript:, file: and data: links
_MARKDOWN = MarkdownIt("commonmark", {"html": False}).disable("image")


def markdown(text: str) -> str:
    """``text`` (Markdown) as safe HTML: raw HTML escaped, no image, no script link."""
    return _MARKDOWN.render(text)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _e(text: str) -> str:
    return html.escape(text, quote=True)


_STYLE = """
body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;
color:#1b1b1b;line-height:1.45}
h1{font-size:1.5rem}.total{font-size:1.25rem;font-weight:600;padding:.6rem .8rem;
background:#eef3fb;border-radius:.4rem}.pending{font-weight:400;color:#555}
section.item{border:1px solid #ccd;border-radius:.4rem;margin:1rem 0;padding:.6rem .9rem}
section.pass{border-left:.45rem solid #2a7d3f}section.fail{border-left:.45rem solid #b3261e}
section.written{border-left:.45rem solid #6b5ca5}
h2{font-size:1.1rem;margin:.2rem 0}h3{font-size:1rem;margin:.6rem 0 .1rem}
.check,.error,.override{margin:.15rem 0}.override{font-weight:600;color:#6b4c00}
.points{float:right;font-weight:600}
pre{background:#f6f6f6;padding:.5rem;overflow-x:auto;white-space:pre-wrap;border-radius:.3rem}
.error{color:#8c1d18}.hint{color:#3d4e8a}.summary{background:#fff4e5;padding:.6rem;
border-radius:.4rem}.answer{white-space:pre-wrap;background:#f6f6f6;padding:.5rem;
border-radius:.3rem}.comment{white-space:pre-wrap}
"""


def _check_lines(cell, *, several: bool) -> str:
    """One graded cell's result under its TODO's code: a line per ✓ or ✗, the hint, the points
    set by hand, the full error folded."""
    parts = []
    if several:
        parts.append(f'<h3>{"✓" if cell.passed else "✗"} {_e(cell.id)}<span class="points">'
                     f"{_number(cell.earned)} / {_number(cell.points)}</span></h3>")
    message = cell.message if len(cell.message) <= CELL_MESSAGE_CAP else (
        cell.message[:CELL_MESSAGE_CAP] + " […cut]")
    # the points given by hand (an override, .manual) stand above what the checks said
    for line in message.splitlines():
        if line.startswith(OVERRIDE):
            parts.append(f'<p class="override">{_e(line[0].upper() + line[1:])}</p>')
    message = "\n".join(line for line in message.splitlines() if not line.startswith(OVERRIDE))
    error, hint, full = split_message(message)
    for line in (error.splitlines() if error else []):  # one line per ✓ (or ✗)
        if line.strip():
            parts.append(f'<p class="{"check" if cell.passed else "error"}">{_e(line)}</p>')
    if hint:
        parts.append(f'<p class="hint">Hint: {_e(hint)}</p>')
    if full:
        parts.append(f"<details><summary>The full error</summary><pre>{_e(full)}</pre>"
                     "</details>")
    return "".join(parts)


def feedback_page(row: Row, *, code: dict[str, list[str | None]] | None = None,
                  questions: list[WrittenQuestion] = (), title: str = "") -> str:
    """The HTML page of one row (see the module docstring); ``code`` is :func:`student_code`'s."""
    code = code or {}
    prompts = {q.id: q.prompt for q in questions}
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             f"<title>Feedback: {_e(row.student_id)}</title><style>{_STYLE}</style></head><body>",
             f"<h1>Feedback{': ' + _e(title) if title else ''}</h1>",
             f"<p>For <strong>{_e(row.student_id)}</strong> (status: {_e(row.status)})</p>",
             f'<p class="total">Graded: {_number(row.total)} of {_number(row.max_total)} points']
    remarks = total_remarks(row)  # points set by hand, written ones not graded, the notes
    if remarks:
        parts.append(f' <span class="pending">({_e("; ".join(remarks))})</span>')
    parts.append("</p>")
    if row.summary:
        parts.append(f'<p class="summary">{_e(row.summary)}</p>')
    # each TODO's code once, with the checks that test it (hidden ones included) under it
    groups: list[tuple[tuple, list]] = []
    for cell in row.cells:
        key = tuple(code.get(cell.id, []))
        if groups and groups[-1][0] == key and key:
            groups[-1][1].append(cell)
        else:
            groups.append((key, [cell]))
    for sources, cells in groups:
        passed = all(c.passed for c in cells)
        earned, worth = sum(c.earned for c in cells), sum(c.points for c in cells)
        names = ", ".join(c.id for c in cells)
        parts.append(f'<section class="item {"pass" if passed else "fail"}">'
                     f'<h2>{"✓" if passed else "✗"} {_e(names)}<span class="points">'
                     f"{_number(earned)} / {_number(worth)}</span></h2>")
        for source in sources:
            if source is None:
                parts.append("<p>Your code: (this exercise's cell is not in your notebook)</p>")
            else:
                cut = source if len(source) <= CODE_CAP else source[:CODE_CAP] + "\n[…cut]"
                parts.append(f"<p>Your code:</p><pre><code>{_e(cut)}</code></pre>")
        for cell in cells:
            parts.append(_check_lines(cell, several=len(cells) > 1))
        parts.append("</section>")
    for answer in row.written:
        earned = ("not graded yet" if answer.earned is None
                  else f"{_number(answer.earned)} / {_number(answer.points)}")
        parts.append(f'<section class="item written"><h2>✎ {_e(answer.id)} (written answer)'
                     f'<span class="points">{earned}</span></h2>')
        if prompts.get(answer.id):
            parts.append(f'<div class="question">{markdown(prompts[answer.id])}</div>')
        parts.append(f'<p>Your answer:</p><div class="answer">'
                     f'{_e(answer.answer) if answer.answer else "(no answer)"}</div>')
        if answer.comment:
            parts.append(f'<p>Comment:</p><p class="comment">{_e(answer.comment)}</p>')
        parts.append("</section>")
    if row.flags:
        parts.append("<h2>Notes</h2><ul>" + "".join(f"<li>{_e(f)}</li>" for f in row.flags)
                     + "</ul>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_feedback_pages(out: str | Path, rows: list[Row], assignment: Assignment,
                         submissions: dict[str, object]) -> None:
    """Write ``OUT/feedback/<student_id>.html`` for every row; ``submissions`` maps a student id
    to the parsed submission (``None`` when it could not be read)."""
    exercises = exercise_cells(assignment)
    title = next((line.lstrip("# ").strip() for cell in assignment.lab.cells
                  if cell.cell_type == "markdown" for line in cell.source.splitlines()
                  if line.startswith("# ")), "")
    for row in rows:
        code = student_code(submissions.get(row.student_id), exercises)
        write_atomic(Path(out) / "feedback" / f"{row.student_id}.html",
                     feedback_page(row, code=code, questions=assignment.written, title=title))
