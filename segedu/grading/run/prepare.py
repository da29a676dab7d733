"""What the grader runs: a submission's graded cells restored and the hidden tests added.

:func:`prepare` builds the notebook to execute from a parsed submission
(:func:`~segedu.grading.labs.assignment.parse_submission`) and the
:class:`~segedu.grading.labs.assignment.Assignment`. Every graded cell comes from the released
lab: one whose source differs (by :func:`~segedu.grading.labs.notebook.source_checksum`) is
restored, one that was deleted is put back after the nearest released cell that precedes it, and
both are flagged. Grading metadata in the submission is ignored: the points are the released ones.
The hidden tests go right after the graded cell each follows in the solution.
"""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass

import nbformat

from ..labs.assignment import Assignment
from ..labs.notebook import META, graded_id, lab_metadata, source_checksum

__all__ = ["Prepared", "prepare"]


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
