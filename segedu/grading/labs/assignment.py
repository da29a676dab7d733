"""A lab as the grader reads it: the released lab and its solution, and a submission's bytes read
as a notebook.

- :class:`Assignment` is the released lab and its solution, read once into memory: the graded cells
  with their points and sources, the hidden-test cells with the graded cell each one follows, and
  the written questions (:mod:`.written`);
- :func:`parse_submission` turns a submission's bytes into a notebook, or raises
  :class:`InvalidSubmission` with the reason (invalid JSON, not nbformat 4, not valid per
  ``nbformat.validate``, duplicated cell ids); :func:`readable` is the same, with ``None`` for a
  file that is missing or cannot be read.

What the grader runs is built from them by :func:`segedu.grading.run.prepare.prepare`.
"""

from __future__ import annotations

import json
import warnings
from collections import Counter
from dataclasses import dataclass, field

import nbformat

from .notebook import NotebookError, graded_cells, graded_id, is_hidden_tests
from .written import WrittenQuestion, written_questions

__all__ = ["InvalidSubmission", "Assignment", "parse_submission", "readable"]


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
