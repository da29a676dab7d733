"""The library's functions that a TODO forbids, observed while the notebook runs.

:mod:`~segedu.grading.run.static_scan` reads the code; this module is the grader's side of the check
that watches it run, which sees what only appears at run time (a module name built from strings, a
function fetched by ``getattr``, ``exec``, ``pickle``, a reference taken in an earlier cell):

- :func:`answer_rules` gives the kernel's call recorder
  (:mod:`~segedu.grading.kernel.call_recorder`, started by the guard before any cell) what each TODO
  of the lab forbids and allows, the names its cell defines, the student's source of that cell and
  the lines of it that the student wrote;
- :func:`library_findings` reads the calls it saw back from the guard's signed records
  (:mod:`~segedu.grading.run.cell_guard_channel`) as
  :class:`~segedu.grading.run.static_scan.Finding` of kind ``"library"``, which
  :func:`~segedu.grading.run.static_scan.voided_cells` turns into the graded cells that earn 0, like
  the findings of the reading.
"""

from __future__ import annotations

from .cell_guard_channel import signed_bodies
from .static_scan import Finding, exercises, written_lines

__all__ = ["answer_rules", "library_findings"]


def answer_rules(notebook, lab) -> dict[str, dict]:
    """TODO cell id -> ``{"forbid", "allow", "defines", "source", "mine"}`` for the prepared
    ``notebook`` (the one that runs) and its released ``lab``; JSON-ready.

    ``source`` is the student's source of the TODO cell (``""`` when it was deleted) and ``mine``
    the numbers of its lines that differ from the lab's.
    """
    released = {c.get("id"): c.source for c in lab.cells if c.cell_type == "code"}
    students = {c.get("id"): c.source for c in notebook.cells if c.cell_type == "code"}
    rules = {}
    for exercise in exercises(lab):
        source = students.get(exercise.cell_id, "")
        rules[exercise.cell_id] = {
            "forbid": list(exercise.forbid), "allow": list(exercise.allow),
            "defines": list(exercise.defines), "source": source,
            "mine": sorted(written_lines(released.get(exercise.cell_id), source)) if source else []}
    return rules


def library_findings(records, key: bytes, rules: dict[str, dict]) -> list[Finding]:
    """One finding per TODO whose answer called what it forbids, from the signed ``records`` of
    the run (every graded cell's; each lists the calls seen so far). Unsigned records are ignored
    (the guard's own check reports them as forged)."""
    bodies, _ = signed_bodies(records, key)
    found: dict[str, Finding] = {}
    for body in bodies:
        for item in body["calls"].split(";"):
            todo, _, rest = item.partition("~")
            used, _, where = rest.partition("~")
            if todo in rules and used and todo not in found:
                found[todo] = Finding("library", used, exercise=todo,
                                      defines=tuple(rules[todo]["defines"]), where=where)
    return list(found.values())
