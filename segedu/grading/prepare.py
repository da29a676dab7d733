"""What the grader runs: a submission checked, its graded cells restored, the hidden tests added.

- :class:`Assignment` is the released lab and its solution, read once into memory: the graded cells
  with their points and sources, and the hidden-test cells with the graded cell each one follows;
- :func:`parse_submission` turns a submission's bytes into a notebook, or raises
  :class:`InvalidSubmission` with the reason (invalid JSON, not nbformat 4, not valid per
  ``nbformat.validate``, duplicated cell ids);
- :func:`prepare` builds the notebook to execute. Every graded cell comes from the released lab:
  one whose source differs (by :func:`~segedu.grading.notebook.source_checksum`) is restored, one
  that was deleted is put back after the nearest released cell that precedes it, and both are
  flagged. Grading metadata in the submission is ignored: the points are the released ones.
"""

from __future__ import annotations

import copy
import json
import uuid
import warnings
from collections import Counter
from dataclasses import dataclass, field

import nbformat

from .notebook import (
    META,
    NotebookError,
    graded_cells,
    graded_id,
    is_hidden_tests,
    lab_metadata,
    source_checksum,
)
from .written import WrittenQuestion, written_questions

__all__ = ["InvalidSubmission", "Assignment", "Prepared", "parse_submission", "readable", "prepare"]


class InvalidSubmission(ValueError):
    """A submission that cannot be run; the message is the reason written to the gradebook."""


def parse_submission(data: bytes) -> nbformat.NotebookNode:
    """A validated nbformat-4 notebook from a file's bytes, or :class:`InvalidSubmission`."""
    try:
        raw = json.loads(data.decode("utf8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InvalidSubmission(f"not a notebook: invalid JSON ({error})") from None
    if not isinstance(raw, dict) or raw.get("nbformat") != 4:
        found = raw.get("nbformat") if isinstance(raw, dict) else type(raw).__name__
        raise InvalidSubmission(f"nbformat 4 is required, found {found!r}")
    cells = raw.get("cells")
    if isinstance(cells, list):
        ids = Counter(c["id"] for c in cells if isinstance(c, dict)
                      and isinstance(c.get("id"), str))
        twice = sorted(i for i, n in ids.items() if n > 1)
        if twice:
            raise InvalidSubmission(f"duplicated cell id(s): {', '.join(map(repr, twice[:5]))}")
    try:
        with warnings.catch_warnings():
            # nbformat warns about missing ids of old minor versions
            warnings.simplefilter("ignore")
            notebook = nbformat.reads(json.dumps(raw), as_version=4)
            nbformat.validate(notebook)
    except nbformat.ValidationError as error:
        raise InvalidSubmission(f"not a valid notebook: {str(error.message)[:300]}") from None
    except Exception as error:  # nbformat can fail in other ways on odd JSON
        raise InvalidSubmission(f"not a valid notebook: {type(error).__name__}: "
                                f"{str(error)[:300]}") from None
    return notebook


def readable(data: bytes | None) -> nbformat.NotebookNode | None:
    """:func:`parse_submission`, or ``None`` for a file that is missing or cannot be read."""
    try:
        return parse_submission(data) if data is not None else None
    except InvalidSubmission:
        return None


@dataclass
class Assignment:
    """The released lab (and its solution's hidden tests), with the gradebook's columns.

    Attributes:
        lab: the released student notebook.
        columns: graded cell ids, in the solution's order (the lab's without a solution).
        points: points of each graded cell id.
        hidden: hidden-test cells of the solution, each with the graded id (or, lacking one, the
            cell id) of the cell it follows there; ``None`` when it follows nothing.
        written: the questions answered in prose, graded by hand (:mod:`.written`): the
            solution's, with their rubric and model answer (the lab's, without, when there is no
            solution). ``max_total`` counts their points.
    """

    lab: nbformat.NotebookNode
    columns: list[str]
    points: dict[str, float]
    hidden: list[tuple[nbformat.NotebookNode, tuple[str, str] | None]] = field(default_factory=list)
    written: list[WrittenQuestion] = field(default_factory=list)

    @classmethod
    def from_bytes(cls, lab: bytes, solution: bytes | None = None) -> Assignment:
        try:
            lab_nb = parse_submission(lab)
            solution_nb = parse_submission(solution) if solution is not None else None
        except InvalidSubmission as error:
            raise NotebookError(f"released notebook: {error}") from None
        lab_graded = graded_cells(lab_nb, where="the released lab")
        points = {cell.id: cell.points for cell in lab_graded}
        columns = list(points)
        hidden: list[tuple[nbformat.NotebookNode, tuple[str, str] | None]] = []
        if solution_nb is not None:
            solution_graded = graded_cells(solution_nb, where="the solution")
            missing = set(points) - {cell.id for cell in solution_graded}
            if missing:
                raise NotebookError(f"the solution lacks the lab's graded cells {sorted(missing)}")
            anchor: tuple[str, str] | None = None
            for cell in solution_nb.cells:
                if is_hidden_tests(cell):
                    hidden.append((cell, anchor))
                elif graded_id(cell) in points:
                    anchor = ("graded", graded_id(cell))
                elif cell.get("id") and (anchor is None or anchor[0] == "cell"):
                    anchor = ("cell", cell["id"])  # only until a graded cell is seen
            points.update({c.id: c.points for c in solution_graded
                           if is_hidden_tests(solution_nb.cells[c.index])})
            columns = [c.id for c in solution_graded if c.id in points]
        written = written_questions(solution_nb if solution_nb is not None else lab_nb,
                                    where="the solution" if solution_nb is not None else
                                    "the released lab")
        missing = ({q.id for q in written}
                   - {q.id for q in written_questions(lab_nb, where="the released lab")})
        if missing:
            raise NotebookError(f"the released lab lacks the solution's written questions "
                                f"{sorted(missing)} (regenerate the labs)")
        return cls(lab=lab_nb, columns=columns, points=points, hidden=hidden, written=written)

    @property
    def max_total(self) -> float:
        """The most points a submission can earn: graded cells and written questions."""
        return sum(self.points.values()) + sum(q.points for q in self.written)


@dataclass
class Prepared:
    """The notebook to execute, which code-cell number is which graded cell, and the
    flags raised."""

    notebook: nbformat.NotebookNode
    graded: dict[int, str]  # nbval's cell number (index among code cells) -> graded cell id
    flags: list[str]


def _grade_id(cell) -> str | None:
    gid = lab_metadata(cell).get("id")  # graded or not: a student may have dropped "grade"
    return gid if isinstance(gid, str) else None


def prepare(submission: nbformat.NotebookNode, assignment: Assignment) -> Prepared:
    """Build the notebook to run from a parsed submission (which is not modified)."""
    cells = [nbformat.from_dict(copy.deepcopy(dict(c))) for c in submission.cells]
    lab_cells = assignment.lab.cells
    released = {_grade_id(c): c for c in lab_cells
                if graded_id(c)}
    flags: list[str] = []

    # 1. find each released graded cell: by its grading id, else by its cell id
    found: dict[str, nbformat.NotebookNode] = {}
    for cell in cells:
        gid = _grade_id(cell)
        if cell.cell_type == "code" and gid in released and gid not in found:
            found[gid] = cell
    for gid, lab_cell in released.items():
        if gid not in found:
            match = [c for c in cells if c.cell_type == "code" and c.get("id") == lab_cell.get("id")
                     and all(c is not f for f in found.values())]
            if match:
                found[gid] = match[0]
    # nothing the student wrote is graded or hidden: only released cells carry grading metadata
    for cell in cells:
        cell.metadata.pop(META, None)
        if "tags" in cell.metadata:
            cell.metadata["tags"] = [t for t in cell.metadata["tags"] if t != "hidden-tests"]

    # 2. an edited graded cell gets the released source (and metadata) back
    for gid, cell in found.items():
        lab_cell = released[gid]
        if source_checksum(cell.source) != source_checksum(lab_cell.source):
            cell.source = lab_cell.source
            flags.append(f"graded cell {gid!r} was edited: restored from the released lab")
        cell.metadata = copy.deepcopy(lab_cell.metadata)

    def locate(lab_cell) -> int | None:
        """Where a released cell is in the submission now (None: not there)."""
        gid = _grade_id(lab_cell)
        target = found.get(gid) if gid in released else None
        for index, cell in enumerate(cells):
            if cell is target or (target is None and lab_cell.get("id")
                                  and cell.get("id") == lab_cell.get("id")):
                return index
        return None

    # 3. a deleted graded cell is put back after the nearest released cell before it that is there
    for position, lab_cell in enumerate(lab_cells):
        gid = _grade_id(lab_cell)
        if gid not in released or gid in found:
            continue
        restored = nbformat.from_dict(copy.deepcopy(dict(lab_cell)))
        before = next((i for i in (locate(c) for c in reversed(lab_cells[:position]))
                       if i is not None), None)
        if before is not None:
            cells.insert(before + 1, restored)
        else:  # nothing before it survived: put it before the first released cell after it
            after = next((i for i in (locate(c) for c in lab_cells[position + 1:])
                          if i is not None), len(cells))
            cells.insert(after, restored)
        found[gid] = restored
        flags.append(f"graded cell {gid!r} was deleted: put back from the released lab")

    # 4. each hidden-test cell goes right after the graded cell it follows in the solution
    last_after: dict[tuple[str, str] | None, nbformat.NotebookNode] = {}
    for hidden_cell, anchor in assignment.hidden:
        new = nbformat.from_dict(copy.deepcopy(dict(hidden_cell)))
        after = last_after.get(anchor)
        if after is None and anchor is not None:
            after = found.get(anchor[1]) if anchor[0] == "graded" else next(
                (c for c in cells if c.get("id") == anchor[1]), None)
        index = (next((i for i, c in enumerate(cells) if c is after), None) if after is not None
                 else None)
        cells.insert(len(cells) if index is None else index + 1, new)
        last_after[anchor] = new

    # 5. a clean notebook: no outputs, unique cell ids, and no `raises-exception` tag (the
    #    labs' graded
    # cells carry it for JupyterLab's Run All; under nbval it would turn a failed check into a pass)
    seen: set[str] = set()
    for cell in cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        if "raises-exception" in cell.metadata.get("tags", []):
            cell.metadata["tags"] = [t for t in cell.metadata["tags"] if t != "raises-exception"]
        if "id" in cell:
            while cell.id in seen:
                cell.id = uuid.uuid4().hex[:8]
            seen.add(cell.id)
    notebook = nbformat.v4.new_notebook(metadata=copy.deepcopy(dict(submission.metadata)))
    notebook.nbformat, notebook.nbformat_minor = 4, max(submission.nbformat_minor, 5)
    notebook.cells = cells
    for cell in cells:
        if "id" not in cell:
            cell.id = uuid.uuid4().hex[:8]
            while cell.id in seen:
                cell.id = uuid.uuid4().hex[:8]
            seen.add(cell.id)

    # which code cell is which graded cell (hidden tests included)
    graded: dict[int, str] = {}
    code_number = 0
    for cell in cells:
        if cell.cell_type != "code":
            continue
        gid = _grade_id(cell)
        if graded_id(cell) and gid in assignment.points:
            graded[code_number] = gid
        code_number += 1
    return Prepared(notebook=notebook, graded=graded, flags=flags)
