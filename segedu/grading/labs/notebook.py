"""Reading lab notebooks and finding their graded cells: what the generator and the grader share.

Conventions (ARCHITECTURE.md, "Labs and grading"; the README, "Adding a lab"):

- a *graded* test cell is a code cell with metadata ``{"segedu": {"grade": true, "id": "<unique>",
  "points": <n>}}``;
- a cell tagged ``hidden-tests`` exists only in the solution notebook: the student version drops
  it and the grader puts it back;
- in a solution cell, the lines between ``# BEGIN SOLUTION`` and ``# END SOLUTION`` are the answer.
"""

from __future__ import annotations

import ast
import hashlib
import json
import threading
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "NotebookError",
    "GradedCell",
    "META",
    "lab_metadata",
    "graded_id",
    "parse_cell",
    "read_notebook",
    "graded_cells",
    "is_hidden_tests",
    "source_checksum",
]

HIDDEN_TAG = "hidden-tests"
BEGIN, END = "# BEGIN SOLUTION", "# END SOLUTION"  # the answer's lines in a solution cell
ANSWER_MARK = "YOUR ANSWER HERE"  # what the answer becomes in a Markdown cell of the student lab
CODE_MARK = "# YOUR CODE HERE"  # ... and the first of its two lines in a code cell
META = "segedu"  # the key of a cell's metadata that the generator and the grader share


class NotebookError(ValueError):
    """A notebook that cannot be used: unreadable, not nbformat 4, or with bad grading metadata."""


@dataclass(frozen=True)
class GradedCell:
    """A graded test cell: its id, its points, its position in the notebook and its source."""

    id: str
    points: float
    index: int
    source: str


def read_notebook(path: str | Path):
    """Read and validate an nbformat-4 notebook (an ``nbformat.NotebookNode``), with errors that
    name the file and the problem."""
    # imported here: the kernel's call recorder imports this module (through .static_scan) before
    # any cell runs, and needs none of nbformat
    import nbformat

    path = Path(path)
    if not path.is_file():
        raise NotebookError(f"{path}: no such notebook")
    try:
        raw = json.loads(path.read_text(encoding="utf8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise NotebookError(f"{path}: not a notebook (invalid JSON: {error})") from None
    if not isinstance(raw, dict) or raw.get("nbformat") != 4:
        found = raw.get("nbformat") if isinstance(raw, dict) else type(raw).__name__
        raise NotebookError(f"{path}: nbformat 4 is required, found {found!r}")
    try:
        notebook = nbformat.reads(json.dumps(raw), as_version=4)
        nbformat.validate(notebook)
    except nbformat.ValidationError as error:
        raise NotebookError(f"{path}: malformed notebook: {error.message}") from None
    return notebook


def lab_metadata(cell) -> dict:
    """The cell's :data:`META` metadata (``grade``, ``id``, ``points``, ``written``, ``answer``);
    ``{}`` when it has none, or none that is a dict. Every reader of that key reads it here."""
    info = cell.get("metadata", {}).get(META)
    return info if isinstance(info, dict) else {}


def graded_id(cell) -> str | None:
    """The id of a graded cell (``grade`` true and a string ``id``), else ``None``."""
    info = lab_metadata(cell)
    return info["id"] if info.get("grade") and isinstance(info.get("id"), str) else None


# In CPython 3.11 (3.11.7 runs this project's CI), the AST constructor keeps one depth counter
# per interpreter and resets it at the start of every ``ast.parse``. When the garbage collector runs
# Python code in the middle of a parse, another thread may start parsing, and either parse fails
# with "SystemError: AST constructor recursion depth mismatch" (python/cpython#106905, fixed by
# #113035). The grader's workers are threads, so every parse of the grader holds this lock.
_PARSE_LOCK = threading.Lock()


def parse_cell(source: str) -> ast.Module | None:
    """The :mod:`ast` of a code cell's ``source`` (IPython magics and ``!commands`` allowed), or
    ``None`` when it does not parse. Safe to call from several threads at once."""
    with _PARSE_LOCK:
        try:
            return ast.parse(source)
        except SyntaxError:
            pass
        try:  # IPython syntax (magics, !commands)
            from IPython.core.inputtransformer2 import TransformerManager

            return ast.parse(TransformerManager().transform_cell(source))
        except Exception:  # a cell that does not parse fails when it runs; nothing to read here
            return None


def is_hidden_tests(cell) -> bool:
    return HIDDEN_TAG in cell.get("metadata", {}).get("tags", [])


def source_checksum(source: str) -> str:
    """sha256 of a cell's source, ignoring trailing whitespace at the ends of lines and of
    the cell."""
    normal = "\n".join(line.rstrip() for line in source.strip().splitlines())
    return hashlib.sha256(normal.encode("utf8")).hexdigest()


def graded_cells(notebook, *, where: str = "notebook") -> list[GradedCell]:
    """The graded cells in notebook order, after checking their metadata (unique ids, points
    >= 0)."""
    found: list[GradedCell] = []
    seen: set[str] = set()
    for index, cell in enumerate(notebook.cells):
        info = lab_metadata(cell)
        if not info.get("grade"):
            continue
        if cell.cell_type != "code":
            raise NotebookError(f"{where}: cell {index} is marked graded but is not a code cell")
        cell_id, points = info.get("id"), info.get("points")
        if not isinstance(cell_id, str) or not cell_id:
            raise NotebookError(f"{where}: graded cell {index} has no string 'id' in its segedu "
                                "metadata")
        if cell_id in seen:
            raise NotebookError(f"{where}: graded cell id {cell_id!r} is used twice")
        if isinstance(points, bool) or not isinstance(points, int | float) or points < 0:
            raise NotebookError(f"{where}: graded cell {cell_id!r} needs 'points' >= 0, got "
                                f"{points!r}")
        seen.add(cell_id)
        found.append(GradedCell(id=cell_id, points=float(points), index=index, source=cell.source))
    return found
