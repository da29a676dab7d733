"""Similar answers: the submissions whose answer to a TODO is the same once names and formatting
are set aside.

A place for the instructor to look, not a sanction: two students may well write the same ten
lines, and a TODO with one natural answer is answered alike by many.

- :func:`normalised` turns a cell's source into its canonical form: the :mod:`ast` (so layout,
  comments and parentheses are gone), without docstrings (a string standing alone as a
  statement), every name the cell binds (functions, classes, parameters, variables, loop and
  ``with`` targets, ``import ... as`` names) renamed ``_0``, ``_1``... in order of first
  appearance; the names it only reads (``torch``, ``F``, ``len``), attributes and keyword
  arguments are kept, since they say what the code does;
- :func:`similar_answers` compares, for each TODO of the lab (a code cell with ``# YOUR CODE
  HERE``), the submissions' cells of the same id, and lists every pair whose canonical forms are
  equal. An answer equal to the released cell (not answered) is left out; one equal to the
  solution's is marked, since agreeing with the model answer says less;
- :func:`solution_copies` flags the submissions that look like the solution itself: they hold
  the solution's ``# BEGIN SOLUTION`` markers or one of its hidden tests, or answer every TODO
  with the solution's very lines, its comments included (without comments in the solution's
  answers, this test is off: a one-line answer is written alike by many); and each written answer
  equal to the model answer (after case and spaces). The grader writes these in the gradebook
  (status ``solution-copy``, and the reason) and adds to ``similar_answers.csv`` one row per such
  answer, paired with :data:`SOLUTION` (``first`` is ``(solution)``, ``same_as_solution`` is
  ``yes``);
- :func:`write_similar` writes them to ``OUT/similar_answers.csv`` and :func:`read_similar` reads
  them back.

Contract for the manual-grading page: ``read_similar(out)`` returns a list of
:class:`SimilarPair` (``todo``, ``first``, ``second``, ``group``, ``same_as_solution``,
``fingerprint``) sorted by TODO (in the lab's order), then ``first``, then ``second``, with
``first < second``; an empty list when the file is missing. Pairs with the same ``todo`` and
``fingerprint`` belong to one group of ``group`` submissions whose answers are identical.
"""

from __future__ import annotations

import ast
import csv
import hashlib
import io
import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..labs.notebook import BEGIN, CODE_MARK, END, parse_cell
from .gradebook import write_atomic

__all__ = ["SimilarPair", "FILE", "SOLUTION", "normalised", "todo_cells", "similar_answers",
           "solution_copies", "write_similar", "read_similar"]

SOLUTION = "(solution)"  # the other side of a pair whose answer is the solution's

FILE = "similar_answers.csv"
_COLUMNS = ["todo", "first", "second", "group", "same_as_solution", "fingerprint"]


@dataclass(frozen=True)
class SimilarPair:
    """Two submissions (student ids, ``first < second``) with the same answer to ``todo`` (the lab's
    cell id); ``group`` submissions share that answer, whose short hash is ``fingerprint``."""

    todo: str
    first: str
    second: str
    group: int
    same_as_solution: bool
    fingerprint: str


class _Renamer(ast.NodeTransformer):
    """Rename the names a piece of code binds to ``_0``, ``_1``... (first appearance first)."""

    def __init__(self, bound: list[str]):
        self.names = {name: f"_{i}" for i, name in enumerate(dict.fromkeys(bound))}

    def _new(self, name: str | None) -> str | None:
        return self.names.get(name, name) if name is not None else None

    def visit_Name(self, node: ast.Name) -> ast.Name:
        node.id = self._new(node.id)
        return node

    def visit_arg(self, node: ast.arg) -> ast.arg:
        node.arg, node.annotation = self._new(node.arg), self.visit(node.annotation) if (
            node.annotation is not None) else None
        return node

    def generic_visit(self, node: ast.AST) -> ast.AST:
        for field in ("name", "asname"):  # def, class, except ... as, import ... as
            value = getattr(node, field, None)
            if isinstance(value, str):
                setattr(node, field, self._new(value))
        if isinstance(node, ast.Global | ast.Nonlocal):
            node.names = [self._new(n) for n in node.names]
        return super().generic_visit(node)


def _bound(tree: ast.AST) -> list[str]:
    """The names ``tree`` binds, in the order :func:`ast.walk` meets them."""
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store | ast.Del):
            names.append(node.id)
        elif isinstance(node, ast.arg):
            names.append(node.arg)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.append(node.name)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.append(node.name)
        elif isinstance(node, ast.alias) and node.asname:
            names.append(node.asname)
    return names


def normalised(source: str) -> str | None:
    """The canonical form of a cell's code (see the module docstring), or ``None`` when it does
    not parse."""
    tree = parse_cell(source)
    if tree is None:
        return None
    for node in ast.walk(tree):  # docstrings and other lone strings: prose, not code
        body = getattr(node, "body", None)
        if isinstance(body, list):
            kept = [s for s in body if not (isinstance(s, ast.Expr) and isinstance(s.value,
                                                                                 ast.Constant)
                                            and isinstance(s.value.value, str))]
            node.body = kept or [ast.Pass()]
    tree = _Renamer(_bound(tree)).visit(tree)
    return ast.dump(tree, annotate_fields=False, include_attributes=False)


def todo_cells(lab) -> list[str]:
    """The ids of the lab's TODO cells (code cells with ``# YOUR CODE HERE``), in order."""
    return [c.get("id") for c in lab.cells
            if c.cell_type == "code" and CODE_MARK in c.source and c.get("id")]


def similar_answers(submissions: Mapping[str, object], lab, solution=None) -> list[SimilarPair]:
    """The pairs of ``submissions`` (student id -> notebook, ``None`` for one that cannot be read)
    whose answers to a TODO of ``lab`` are the same once normalised; ``solution`` (optional) marks
    the answers equal to the model one. Sorted as the module docstring says."""
    released = {c.get("id"): c.source for c in lab.cells if c.cell_type == "code"}
    model = ({c.get("id"): c.source for c in solution.cells if c.cell_type == "code"}
             if solution is not None else {})
    pairs = []
    for todo in todo_cells(lab):
        blank = normalised(released[todo])
        reference = normalised(model[todo]) if todo in model else None
        groups: dict[str, list[str]] = {}
        for student, notebook in submissions.items():
            cell = next((c for c in getattr(notebook, "cells", [])
                         if c.get("id") == todo and c.cell_type == "code"), None)
            form = normalised(cell.source) if cell is not None else None
            if form is not None and form != blank:
                groups.setdefault(form, []).append(student)
        for form, students in groups.items():
            fingerprint = hashlib.sha256(form.encode("utf8")).hexdigest()[:12]
            for first, second in itertools.combinations(sorted(students), 2):
                pairs.append(SimilarPair(todo, first, second, len(students),
                                         reference is not None and form == reference, fingerprint))
    order = {todo: i for i, todo in enumerate(todo_cells(lab))}
    return sorted(pairs, key=lambda p: (order[p.todo], p.first, p.second))


def _answer_lines(source: str) -> list[str]:
    """The lines between the solution's markers."""
    lines, inside = [], False
    for line in source.splitlines():
        if BEGIN in line:
            inside = True
        elif END in line:
            inside = False
        elif inside:
            lines.append(line)
    return lines


def _text(source: str) -> tuple[str, ...]:
    """A cell's lines as written (comments kept), without the solution's markers, blank lines and
    trailing spaces."""
    return tuple(line.rstrip() for line in source.splitlines()
                 if line.strip() and BEGIN not in line and END not in line)


def _prose(text: str) -> str:
    return " ".join(text.split()).casefold()


def solution_copies(submissions: Mapping[str, object], lab, solution, hidden_sources=(),
                    written=(), answers: Mapping[str, Mapping[str, str]] | None = None,
                    ) -> tuple[dict[str, list[str]], list[SimilarPair]]:
    """(student id -> what makes the submission look like the solution, the pairs to add to
    ``similar_answers.csv``). ``hidden_sources``: the solution's hidden tests; ``written``: the
    :class:`~.written.WrittenQuestion` list (with model answers) and ``answers`` the students'
    written answers (student id -> question id -> text)."""
    model = ({c.get("id"): c.source for c in solution.cells if c.cell_type == "code"}
             if solution is not None else {})
    todos = [t for t in todo_cells(lab) if t in model]
    # the solution's own comments inside its answers: what a copy keeps and a student does not
    # write alike (an answer without them, as `return 2 * x`, is answered alike by many)
    commented = any(line.strip().startswith("#") and BEGIN not in line and END not in line
                    for t in todos for line in _answer_lines(model[t]))
    hidden = {normalised(source) for source in hidden_sources} - {None}
    flags: dict[str, list[str]] = {}
    pairs: list[SimilarPair] = []
    for student, notebook in sorted(submissions.items()):
        cells = getattr(notebook, "cells", None) or []
        found = []
        if any(BEGIN in c.source or END in c.source for c in cells):
            found.append(f"it holds the solution's `{BEGIN}` markers")
        if hidden and any(c.cell_type == "code" and normalised(c.source) in hidden
                          for c in cells):
            found.append("it holds the solution's hidden tests")
        texts = {c.get("id"): _text(c.source) for c in cells if c.cell_type == "code"}
        same = [t for t in todos if texts.get(t) == _text(model[t])]
        if commented and len(same) == len(todos):
            found.append(f"its {len(todos)} answer(s) are the solution's, comments included")
        if found:
            flags[student] = [f"looks like the solution: {'; '.join(found)}"]
            pairs += [SimilarPair(t, SOLUTION, student, 2, True, hashlib.sha256(
                "\n".join(_text(model[t])).encode("utf8")).hexdigest()[:12]) for t in same]
        for question in written:
            text = (answers or {}).get(student, {}).get(question.id, "")
            if question.model_answer.strip() and _prose(text) == _prose(question.model_answer):
                flags.setdefault(student, []).append(
                    f"written answer '{question.id}' is the model answer, word for word")
                pairs.append(SimilarPair(question.id, SOLUTION, student, 2, True, hashlib.sha256(
                    _prose(text).encode("utf8")).hexdigest()[:12]))
    return flags, pairs


def write_similar(out: str | Path, pairs: list[SimilarPair]) -> Path:
    """Write ``OUT/similar_answers.csv`` (one row per pair, the columns of :class:`SimilarPair`)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(_COLUMNS)
    for p in pairs:
        writer.writerow([p.todo, p.first, p.second, p.group, "yes" if p.same_as_solution else "no",
                         p.fingerprint])
    path = Path(out) / FILE
    write_atomic(path, buffer.getvalue())
    return path


def read_similar(out: str | Path) -> list[SimilarPair]:
    """The pairs written by :func:`write_similar` in ``out`` (``[]`` when there is no file)."""
    path = Path(out) / FILE
    if not path.is_file():
        return []
    with open(path, encoding="utf8", newline="") as file:
        return [SimilarPair(row["todo"], row["first"], row["second"], int(row["group"]),
                            row["same_as_solution"] == "yes", row["fingerprint"])
                for row in csv.DictReader(file)]
