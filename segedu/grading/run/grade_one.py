"""Grading one submission: :func:`grade_submission`, in its own temporary folder and processes.

1. the notebook is validated (JSON, nbformat 4, ``nbformat.validate``, unique cell ids); an invalid
   one gets a row with status ``invalid`` and the reason, and is not run;
2. every graded cell is compared with the released one by checksum of its source; an edited or
   deleted graded cell is restored and flagged (see :mod:`.prepare`);
3. the hidden tests of the solution are added;
4. the code the student wrote is read, not run (:mod:`.static_scan`): a TODO answered with the
   library's function that the exercise forbids voids the graded cells that use it; code that
   reaches into the grader voids them all;
5. the notebook runs under ``pytest --nbval-lax`` with the :class:`Limits` (:mod:`.sandbox`);
   each graded cell runs through the kernel's guard (:mod:`.cell_guard`), with the grader's own
   ``check`` and comparison helpers, which signs whether the cell passed, what the notebook had
   replaced and which calls into what a TODO forbids its answer made while it ran
   (:mod:`.call_recorder`, :mod:`.library_calls`, :mod:`.cell_guard_channel`);
6. every graded cell (hidden tests included) that nbval saw pass, whose signed record says it
   passed with nothing replaced, and that neither step 4 nor the recorded calls void, earns its
   points; the status, the flags and the notes for the student follow from the run
   (:mod:`.scoring`).
"""

from __future__ import annotations

import argparse
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path

import nbformat

from ..labs.assignment import Assignment, InvalidSubmission, parse_submission
from ..results.gradebook import CellGrade, Row
from .cell_guard_channel import GuardPlan, guard_config, guard_plan
from .library_calls import answer_rules, library_findings
from .prepare import prepare
from .sandbox import run_notebook
from .scoring import failure_notes, library_flags, run_status, score_cells, tamper_flags
from .static_scan import scan, voided_cells

__all__ = ["Limits", "add_limit_options", "grade_submission"]


@dataclass(frozen=True)
class Limits:
    """The limits of one run: per cell and per notebook (seconds), memory (MiB); fast mode;
    bubblewrap isolation (:mod:`.sandbox`)."""

    cell_timeout: float = 120
    timeout: float = 900
    memory_mb: float = 4096
    fast: bool = False
    isolate: bool = False


def add_limit_options(parser: argparse.ArgumentParser) -> None:
    """Add the command-line options of :class:`Limits` that every grading command shares
    (``--cell-timeout``, ``--timeout``, ``--memory-mb``, ``--fast``), with its defaults."""
    limits = Limits()
    parser.add_argument("--cell-timeout", type=float, default=limits.cell_timeout,
                        help="seconds per cell before it is interrupted "
                             f"(default {limits.cell_timeout:g})")
    parser.add_argument("--timeout", type=float, default=limits.timeout,
                        help="seconds per notebook before it is killed "
                             f"(default {limits.timeout:g})")
    parser.add_argument("--memory-mb", type=float, default=limits.memory_mb,
                        help="MiB of resident memory per notebook before it is killed "
                             f"(default {limits.memory_mb:g})")
    parser.add_argument("--fast", action="store_true", help="run the notebooks with SEGEDU_FAST=1")


def grade_submission(student_id: str, data: bytes, assignment: Assignment, limits: Limits,
                     *, hidden: tuple[Path, ...] = (), plan: GuardPlan | None = None,
                     cancel: threading.Event | None = None) -> Row:
    """Grade one submission given its bytes: validate, restore, add hidden tests, run, score.

    ``hidden``: folders an isolated run must not see; ``plan``: the lab's
    :class:`~.cell_guard_channel.GuardPlan` (made once per batch; computed here when ``None``);
    ``cancel``: set from outside to stop the run (its processes are killed; raises
    :class:`~.sandbox.Cancelled`)."""
    row = Row(student_id=student_id, status="ok", max_total=assignment.max_total)
    # 1-3. valid, graded cells as released, hidden tests added
    try:
        notebook = parse_submission(data)
    except InvalidSubmission as error:
        row.status = "invalid"
        row.flags.append(str(error))
        row.cells = [CellGrade(gid, False, 0.0, assignment.points[gid], "not run: invalid notebook")
                     for gid in assignment.columns]
        return row
    prepared = prepare(notebook, assignment)
    row.flags += prepared.flags
    code = [c for c in prepared.notebook.cells if c.cell_type == "code"]
    graded_sources = {gid: code[number].source for number, gid in prepared.graded.items()}
    # 4. read before anything runs: TODOs answered by the library, code aimed at the grader
    findings = scan(prepared.notebook, assignment.lab)
    voided = voided_cells(findings, prepared.notebook, graded_sources)
    # 5. the notebook that runs: each graded cell is a call to the guard, which runs its source
    key = secrets.token_bytes(32)
    to_run = nbformat.from_dict(nbformat.reads(nbformat.writes(prepared.notebook), as_version=4))
    to_run_code = [c for c in to_run.cells if c.cell_type == "code"]
    for number, gid in prepared.graded.items():
        to_run_code[number].source = f"__segedu_grade__({gid!r})"
    rules = answer_rules(prepared.notebook, assignment.lab)  # what each TODO forbids
    run = run_notebook(nbformat.writes(to_run), cell_timeout=limits.cell_timeout,
                       timeout=limits.timeout, memory_mb=limits.memory_mb,
                       env={"SEGEDU_FAST": "1"} if limits.fast else {},
                       guard=guard_config(plan or guard_plan(assignment), key, graded_sources,
                                          rules),
                       isolate=limits.isolate, hidden=list(hidden), cancel=cancel)
    # what the answers called while they ran voids like what the reading found
    runtime = library_findings([r for cell in run.cells.values() for r in cell.guard], key, rules)
    for gid, why in voided_cells(runtime, prepared.notebook, graded_sources).items():
        voided.setdefault(gid, why)
    # 6. the points, the status, tampering and library answers, the notes on top
    row.cells, voiding = score_cells(assignment, prepared.graded, run, key, voided)
    sources = [cell.source for cell in code]
    run_status(row, run, sources, limits)
    internals = tamper_flags(row, voiding, findings)
    if not internals:
        library_flags(row, {gid: why for gid, why in voided.items()
                            if gid in prepared.graded.values()})
    failure_notes(row, run, sources, prepared.graded, limits)
    return row
