"""``segedu-grade``: grade a folder of submitted notebooks into a gradebook and feedback texts.

Usage::

    segedu-grade [grade] --lab labs/02_conv_arithmetic.ipynb --submissions DIR --out DIR
                 [--solution solutions/02_conv_arithmetic.ipynb] [--roster CSV]
                 [--only ID ...] [--force] [--workers N]
                 [--cell-timeout S] [--timeout S] [--memory-mb M] [--fast] [--isolate]
    segedu-grade export --format canvas|moodle --grades OUT --roster CSV

(the subcommands are listed in :mod:`.cli`; ``export`` is :mod:`.export`)

Options:

--lab PATH          the released student lab (graded cells and their sources come from it)
--submissions DIR   the submitted notebooks, ``DIR/<student_id>.ipynb`` (the id is the file stem),
                    or an unzipped bulk download of Canvas, Moodle or Gradescope
                    (:mod:`.submissions`)
--out DIR           where ``gradebook.csv``, ``feedback/<student_id>.txt`` and ``.html`` (the page a
                    student reads, :mod:`.feedback`), the stored results
                    ``results/<student_id>.json`` and the answers for the manual page
                    ``manual/answers.json`` are written; the points entered by hand
                    (``manual/points.json``, :mod:`.manual`) are read, never written
--roster CSV        the class list (:mod:`.roster`): submissions are matched to its students; a
                    student without a submission gets a row ``missing`` with 0 points; a
                    submission that matches no student is graded, and flagged
--only ID ...       regrade these students; every other student keeps its stored result
--force             regrade everyone; by default a stored result is reused when the submission,
                    the lab, the solution, the grader and the options are unchanged (:mod:`.cache`)
--solution PATH     the solution notebook: its cells tagged ``hidden-tests`` are added to every
                    submission, right after the graded cell they follow there
--workers N         submissions run at the same time (default 1)
--cell-timeout S    seconds one cell may run; it is then interrupted and fails (default 120)
--timeout S         seconds one notebook may run in all; then its processes are killed (default 900)
--memory-mb M       resident memory (MiB) of one notebook's processes before they are killed
                    (default 4096)
--fast              run the notebooks with ``SEGEDU_FAST=1`` (small sizes and step counts)
--isolate           run each notebook in bubblewrap (see :mod:`.sandbox`): read-only system, no
                    network, only its own temporary folder writable, and the folders of the lab, the
                    solution, the submissions and the output hidden

For each submission, in its own temporary folder and processes (see :mod:`.sandbox`):

1. the notebook is validated (JSON, nbformat 4, ``nbformat.validate``, unique cell ids); an invalid
   one gets a row with status ``invalid`` and the reason, and is not run;
2. every graded cell is compared with the released one by checksum of its source; an edited or
   deleted graded cell is restored and flagged (see :mod:`.prepare`);
3. the hidden tests of the solution are added;
4. the code the student wrote is read, not run (:mod:`.answers`): a TODO answered with the library's
   function that the exercise forbids voids the graded cells that use it; code that reaches into
   the grader voids them all;
5. the notebook runs under ``pytest --nbval-lax`` with the limits above; each graded cell runs
   through the kernel's guard (:mod:`.guard`), with the grader's own ``check`` and comparison
   helpers, which signs whether the cell passed, what the notebook had replaced and which calls
   into what a TODO forbids its answer made while it ran (:mod:`.recorder`, :mod:`.library_calls`);
6. every graded cell (hidden tests included) that nbval saw pass, whose signed record says it
   passed with nothing replaced, and that neither step 4 nor the recorded calls void, earns its
   points. ``OUT/similar_answers.csv`` then lists the pairs of identical answers
   (:mod:`.similarity`).

Statuses: ``ok``; ``missing`` (a roster student without a submission: 0 points); ``invalid`` (not
run; also a file over 20 MiB); ``timeout`` (a cell was interrupted, or the notebook was killed at
its time limit); ``memory`` (killed above the memory limit); ``crashed`` (the kernel
died, e.g. ``os._exit``, or the run failed otherwise); ``tampered`` (graded cells voided: the
notebook replaced functions that the checks rely on, ran a graded cell without the guard or hid its
error, forged the guard's records, or reaches into the grader; it outranks the others);
``library`` (graded cells voided because a TODO was answered with the library's own function);
``solution-copy`` (its points stand, but it looks like the solution itself: its markers, hidden
tests or commented answers, or a written answer that is the model answer; see
:func:`.similarity.solution_copies`). A broken submission never stops the batch.

Safety: the lab and the solution are read and hashed before anything runs; a submitted file is
read, never written (it is copied into the temporary folder). After each run, and after the batch,
the lab, the solution, the gradebook path and the submissions are compared with what was read; a
change is undone (same bytes, same modification time) and flagged in the row of the submission
after whose run it was seen — with several workers, a change made while two submissions ran is
blamed on the one that finished first. The gradebook and the feedback are written at the end,
atomically, from the results in memory. Processes that a run leaves behind are killed with it.

Limits of the approach: without ``--isolate`` the student's code runs as the grader's user: it can
read what the grader can (the solution too) and use the network; and the guard shares the student's
process, so code written to dig the guard's objects out of it could still forge its records (code
that names them is voided). ``--isolate`` closes the first; only running the checks in another
process would close the second.
"""

from __future__ import annotations

import argparse
import ast
import copy
import dataclasses
import hashlib
import os
import secrets
import shutil
import signal
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import nbformat

from .answers import parse_cell, scan, voided_cells
from .cache import ResultStore, batch_key, result_key
from .cli import split_subcommand, subcommand_help
from .diagnose import syntax_notes, timeout_note
from .feedback import exercise_cells, graded_code, student_code, write_feedback_pages
from .gradebook import CellGrade, Row, write_outputs
from .library_calls import answer_rules, library_findings
from .manual import (
    POINTS,
    ManualPointsError,
    apply_overrides,
    attach_points,
    code_answers,
    grading_finished,
    grading_started,
    parse_points,
    read_points,
    unused_points,
    write_answers,
)
from .notebook import NotebookError
from .outfolder import OutFolderError, claim
from .prepare import Assignment, InvalidSubmission, parse_submission, prepare, readable
from .records import partial_share, signed_bodies
from .roster import Roster, RosterError, read_roster
from .sandbox import Cancelled, IsolationError, isolation_problem, run_notebook
from .similarity import similar_answers, solution_copies, write_similar
from .submissions import SubmissionsError, collect_submissions
from .written import student_answers

__all__ = ["Limits", "Guard", "GuardPlan", "guard_plan", "check_record", "grade_submission",
           "grade_batch", "main"]

MAX_SUBMISSION_MB = 20  # a larger file is not read: its row says "invalid"


@dataclass(frozen=True)
class Limits:
    """The limits of one run: per cell and per notebook (seconds), memory (MiB); fast mode."""

    cell_timeout: float = 120
    timeout: float = 900
    memory_mb: float = 4096
    fast: bool = False
    isolate: bool = False


class Guard:
    """Files that no submission may change: their bytes and times, read before the batch.

    :meth:`restore` puts back any that changed (or removes one that did not exist) and says which.
    """

    def __init__(self, paths: dict[str, Path]):
        self._lock = threading.Lock()
        self.saved: dict[str, tuple[Path, bytes | None, tuple[int, int] | None]] = {}
        for name, path in paths.items():
            if path.is_file():
                info = path.stat()
                self.saved[name] = (path, path.read_bytes(), (info.st_atime_ns, info.st_mtime_ns))
            else:
                self.saved[name] = (path, None, None)

    def data(self, name: str) -> bytes | None:
        return self.saved[name][1]

    def refresh(self, name: str) -> None:
        """Read ``name`` again: the grader itself changed it (``--force`` on another lab's folder
        removed its gradebook)."""
        path = self.saved[name][0]
        with self._lock:
            if path.is_file():
                info = path.stat()
                self.saved[name] = (path, path.read_bytes(), (info.st_atime_ns, info.st_mtime_ns))
            else:
                self.saved[name] = (path, None, None)

    def restore(self) -> list[str]:
        """Undo every change to the guarded files; the names of those that had changed."""
        changed = []
        with self._lock:
            for name, (path, data, times) in self.saved.items():
                try:
                    now = path.read_bytes() if path.is_file() else None
                    same_time = times is None or path.stat().st_mtime_ns == times[1]
                except OSError:  # unreadable now: put it back
                    now, same_time = None, False
                if now == data and (data is None or same_time) and not (data is None
                                                                        and path.exists()):
                    continue
                changed.append(name)
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path, ignore_errors=True)  # a folder made where a file belongs
                if data is None:
                    path.unlink(missing_ok=True)
                    continue
                temporary = path.with_name(f".{path.name}.restore")
                temporary.write_bytes(data)
                os.utime(temporary, ns=times)
                os.replace(temporary, path)
        return changed


def _hash(data: bytes | None) -> str:
    return hashlib.sha256(data or b"").hexdigest()[:12]


def _describe(sources: list[str], number: int | None) -> str:
    """``code cell 4 (`while True:`)``: nbval's number of a code cell and its first line."""
    if number is None or number >= len(sources):
        return "the teardown (after the last cell)"
    first = next((line.strip() for line in sources[number].splitlines() if line.strip()), "")
    return f"code cell {number} (`{first[:60]}`)"


@dataclass(frozen=True)
class GuardPlan:
    """What the kernel's guard (:mod:`.guard`) watches and re-binds for one lab.

    ``modules``: the modules the graded cells import (snapshotted with the standard ones);
    ``names``: the names that the released lab binds by ``import`` and the graded cells use, with
    what they stand for: ``{"F": "torch.nn.functional", "check": "segedu.grading:check"}`` (a module
    for ``import m as F``; ``module:name`` for ``from module import name``, which is the module's
    attribute, as Python binds it, and a submodule only when there is no such attribute).
    """

    modules: tuple[str, ...]
    names: dict[str, str]


def guard_plan(assignment: Assignment) -> GuardPlan:
    """The :class:`GuardPlan` of a lab, from its released cells and its graded cells' sources."""
    graded = {c.metadata["segedu"]["id"] for c in assignment.lab.cells
              if c.get("metadata", {}).get("segedu", {}).get("grade")}
    sources = [c.source for c in assignment.lab.cells
               if c.get("metadata", {}).get("segedu", {}).get("id") in graded]
    sources += [cell.source for cell, _ in assignment.hidden]
    used: set[str] = set()
    modules: set[str] = set()
    for source in sources:
        tree = parse_cell(source)
        for node in ast.walk(tree) if tree is not None else ():
            if isinstance(node, ast.Name):
                used.add(node.id)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                modules.add(node.module)
            elif isinstance(node, ast.Import):
                modules.update(alias.name for alias in node.names)
    names: dict[str, str] = {}
    for cell in assignment.lab.cells:
        if (cell.cell_type != "code"
            or cell.get("metadata", {}).get("segedu", {}).get("id") in graded):
            continue
        tree = parse_cell(cell.source)
        for node in tree.body if tree is not None else ():  # the cell's top-level imports
            if isinstance(node, ast.Import):
                for alias in node.names:
                    bound = alias.asname or alias.name.split(".")[0]
                    names[bound] = alias.name if alias.asname else bound
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for alias in node.names:
                    names[alias.asname or alias.name] = f"{node.module}:{alias.name}"
    names = {name: dotted for name, dotted in names.items() if name in used}
    modules.update(dotted.partition(":")[0] for dotted in names.values())
    return GuardPlan(modules=tuple(sorted(modules)), names=names)


def check_record(records, gid: str, key: bytes) -> tuple[str, bool, list[str]]:
    """Read the guard's records of graded cell ``gid``: (state, passed, what was replaced).

    ``state`` is ``"ok"`` (a signed record of this cell), ``"missing"`` (none: the guard did not run
    the cell) or ``"forged"`` (a record whose signature is wrong was displayed by the cell, whatever
    else it displayed; ``passed`` and the replaced names still come from the signed record, if any).
    """
    found = None
    bodies, forged = signed_bodies(records, key)
    for body in bodies:
        if body["gid"] == gid:
            found = (body["passed"] == "1", [r for r in body["replaced"].split(";") if r])
    if found is None:
        return ("forged" if forged else "missing"), False, []
    return ("forged" if forged else "ok"), found[0], found[1]


def _plural(names: list[str]) -> str:
    quoted = [f"'{n}'" for n in names]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


def grade_submission(student_id: str, data: bytes, assignment: Assignment, limits: Limits,
                     *, hidden: tuple[Path, ...] = (), plan: GuardPlan | None = None,
                     cancel: threading.Event | None = None) -> Row:
    """Grade one submission given its bytes: validate, restore, add hidden tests, run, score.

    ``cancel``: set from outside to stop the run (its processes are killed; raises
    :class:`~.sandbox.Cancelled`)."""
    row = Row(student_id=student_id, status="ok", max_total=assignment.max_total)
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
    # read before anything runs: TODOs answered by the library, code aimed at the grader
    findings = scan(prepared.notebook, assignment.lab)
    voided = voided_cells(findings, prepared.notebook, graded_sources)
    # the notebook that runs: each graded cell is a call to the guard, which runs its source
    plan = plan or guard_plan(assignment)
    key = secrets.token_bytes(32)
    to_run = nbformat.from_dict(nbformat.reads(nbformat.writes(prepared.notebook), as_version=4))
    to_run_code = [c for c in to_run.cells if c.cell_type == "code"]
    for number, gid in prepared.graded.items():
        to_run_code[number].source = f"__segedu_grade__({gid!r})"
    # what each TODO forbids, for the kernel's call recorder (.recorder, .library_calls)
    rules = answer_rules(prepared.notebook, assignment.lab)
    guard = {"key": key.hex(), "cells": graded_sources, "modules": list(plan.modules),
             "names": plan.names, "answers": rules}
    env = {"SEGEDU_FAST": "1"} if limits.fast else {}
    run = run_notebook(nbformat.writes(to_run), cell_timeout=limits.cell_timeout,
                       timeout=limits.timeout, memory_mb=limits.memory_mb, env=env, guard=guard,
                       isolate=limits.isolate, hidden=list(hidden), cancel=cancel)
    # what the answers called while they ran voids like what the reading found
    runtime = library_findings([r for cell in run.cells.values() for r in cell.guard], key, rules)
    for gid, why in voided_cells(runtime, prepared.notebook, graded_sources).items():
        voided.setdefault(gid, why)

    # points: a graded cell earns them when nbval reports it passed, and the guard's signed record
    # says it passed with nothing replaced, and no finding voids it
    by_id = {gid: number for number, gid in prepared.graded.items()}
    tampered: dict[str, list[str]] = {}  # graded id -> what was replaced
    silent: list[str] = []  # graded cells that ran without the guard's record
    forged: list[str] = []
    for gid in assignment.columns:
        points = assignment.points[gid]
        result = run.cells.get(by_id[gid]) if gid in by_id else None
        if result is None:
            row.cells.append(CellGrade(gid, False, 0.0, points,
                                       "✗ not run (the notebook stopped before it)"))
            continue
        state, passed, replaced = check_record(result.guard, gid, key)
        if state == "forged":
            forged.append(gid)
        if replaced:
            tampered[gid] = replaced
            row.cells.append(CellGrade(gid, False, 0.0, points,
                                       "✗ voided: it ran after the notebook"
                                       f" replaced {', '.join(replaced[:5])}"))
        elif state == "forged" or (state == "missing" and result.passed):
            if state == "missing":
                silent.append(gid)
            row.cells.append(CellGrade(gid, False, 0.0, points,
                                       "✗ voided: the grader's check of this"
                                       " cell did not run (the notebook disabled or forged it)"))
        elif gid in voided and result.passed:
            row.cells.append(CellGrade(gid, False, 0.0, points, f"✗ voided: {voided[gid]}"))
        elif result.passed and passed:
            row.cells.append(CellGrade(gid, True, points, points, result.output))
        elif result.passed:  # nbval saw no error, the guard saw one: the error display was hidden
            silent.append(gid)
            row.cells.append(CellGrade(gid, False, 0.0, points, "✗ voided: the cell failed but the"
                                       " notebook hid its error"))
        else:  # a cell of checks with points earns the share of those that passed
            share = partial_share(result.guard, gid, key)
            if share is None:
                row.cells.append(CellGrade(gid, False, 0.0, points, result.message or "✗ failed"))
            else:  # its ✓ and ✗ lines were printed, the error is the summary
                row.cells.append(CellGrade(gid, False, round(points * share, 6), points,
                                           f"{result.output.rstrip()}\n{result.message}".strip()))

    # status: what stopped or slowed the run, the worst first
    sources = [c.source for c in prepared.notebook.cells if c.cell_type == "code"]
    stopped = next((n for n in range(len(sources)) if n not in run.cells), None)
    timed_out = [n for n in sorted(run.cells) if run.cells[n].timeout]
    if run.killed == "memory":
        row.status = "memory"
        row.flags.append(f"killed: used more than {limits.memory_mb:g} MiB of memory"
                         f" in {_describe(sources, stopped)}")
    elif run.killed == "timeout":
        row.status = "timeout"
        row.flags.append(f"killed: the notebook ran longer than {limits.timeout:g} s"
                         f" (in {_describe(sources, stopped)})")
    elif timed_out:
        row.status = "timeout"
        stuck = "; the kernel could not be interrupted and was stopped" if run.kernel_died else ""
        row.flags.append(f"{_describe(sources, timed_out[0])} ran longer than"
                         f" {limits.cell_timeout:g} s and was interrupted{stuck}")
    elif run.kernel_died:
        row.status = "crashed"
        dead = next((n for n in sorted(run.cells) if "Kernel dead" in run.cells[n].message), None)
        where = stopped if dead is None else max(dead - 1, 0)
        row.flags.append(f"the kernel died (exit or crash) in {_describe(sources, where)};"
                         " the cells after it did not run")
    elif run.returncode not in (0, 1) or not run.cells:
        row.status = "crashed"
        last = run.log_tail.strip().splitlines()[-1:] or [""]
        row.flags.append(f"the run failed (pytest exit code {run.returncode}): {last[0][:200]}")

    # tampering and library answers: what the instructor must see first
    library = {gid: why for gid, why in voided.items() if gid in by_id}
    internals = [f for f in findings if f.kind == "internals"]
    if tampered or silent or forged or internals:
        row.status = "tampered"
        if tampered:
            what = sorted({name for names in tampered.values() for name in names})
            row.flags.insert(0, f"tampered: the notebook replaced {', '.join(what[:8])}"
                             f"{' …' if len(what) > 8 else ''}; graded cell(s) "
                             f"{_plural(list(tampered))} ran after it: 0 points")
            row.summary = ("Some graded cells earned 0 points because your notebook replaced "
                           f"functions that the checks rely on ({', '.join(what[:3])}).")
        if silent:
            row.flags.insert(0,
                             f"tampered: graded cell(s) {_plural(silent)} ran without the grader's"
                             " check (disabled, or its error hidden): 0 points")
            row.summary = row.summary or ("Some graded cells earned 0 points because your notebook "
                                          "stopped the grader from checking them.")
        if forged:
            row.flags.insert(0,
                             f"tampered: forged grader records in graded cell(s) {_plural(forged)}")
        if internals:
            row.flags.insert(0,
                             "tampered: the notebook reaches into the grader "
                             f"(`{internals[0].used}` in {internals[0].where}): every graded cell "
                             "voided")
            row.summary = ("Every graded cell earned 0 points because your notebook uses the "
                           f"grader's internals (`{internals[0].used}`).")
    if library and not internals:
        by_reason: dict[str, list[str]] = {}
        for gid, why in library.items():
            by_reason.setdefault(why, []).append(gid)
        for why, gids in by_reason.items():
            row.flags.append(f"graded cell(s) {_plural(gids)} voided: {why}")
        if row.status == "ok":
            row.status = "library"
        first = next(iter(by_reason))
        sentence = (f"Graded cells {_plural(sorted(library))} earned 0 points because "
                    f"{first.split(',')[0]}, and an exercise answered by the library's own "
                    "function is not an answer.")
        row.summary = f"{row.summary} {sentence}".strip() if row.summary else sentence
    # a syntax error and a timeout mislead through the checks' messages: plain notes on top
    notes = syntax_notes(sources, set(prepared.graded))
    if run.killed == "timeout" or timed_out:
        stuck = stopped if run.killed == "timeout" else timed_out[0]
        stuck = stuck if stuck is not None else -1
        notes.append(timeout_note(sources, stuck, prepared.graded,
                                  limits.timeout if run.killed == "timeout"
                                  else limits.cell_timeout,
                                  interrupted=run.cells[stuck].interrupted
                                  if stuck in run.cells else ""))
    if notes:
        row.summary = " ".join([*notes, row.summary]).strip()
    return row


def _safe_grade(student_id: str, data: bytes, assignment: Assignment, limits: Limits,
                guard: Guard, names: dict[str, str], hidden: tuple[Path, ...] = (),
                plan: GuardPlan | None = None,
                cancel: threading.Event | None = None) -> tuple[Row, float]:
    """:func:`grade_submission` that always returns a row (and the seconds it took), then undoes
    changes to guarded files; only a cancelled run raises (:class:`~.sandbox.Cancelled`)."""
    start = time.monotonic()
    try:
        if cancel is not None and cancel.is_set():
            raise Cancelled("the batch was stopped before this submission started")
        row = grade_submission(student_id, data, assignment, limits, hidden=hidden, plan=plan,
                               cancel=cancel)
    except Cancelled:
        guard.restore()
        raise
    except Exception as error:  # a bug or an OS failure while grading one: a row, not a stop
        row = Row(student_id=student_id, status="crashed", max_total=assignment.max_total,
                  cells=[CellGrade(g, False, 0.0, assignment.points[g], "not graded")
                         for g in assignment.columns],
                  flags=[f"grader error: {type(error).__name__}: {str(error)[:200]}"])
    try:
        changed = guard.restore()
    except OSError as error:  # e.g. a folder made read-only: say so, and go on
        changed = []
        row.flags.append(f"could not check the guarded files: {error}")
    for name in changed:
        row.flags.append(f"{names.get(name, name)} was modified during this run: restored")
    return row, time.monotonic() - start


def grade_batch(
    lab: str | Path,
    submissions: str | Path,
    out: str | Path,
    *,
    solution: str | Path | None = None,
    workers: int = 1,
    limits: Limits = Limits(),
    log=None,
    roster: Roster | None = None,
    only: list[str] | tuple[str, ...] | None = None,
    force: bool = False,
) -> tuple[list[Row], list[str]]:
    """Grade the submissions folder; write the outputs; return (rows, batch warnings).

    The submissions are found and matched to ``roster`` by :mod:`.submissions` (plain
    ``<id>.ipynb`` files, or Canvas', Moodle's and Gradescope's bulk downloads); a roster student
    without a submission gets a row with status ``missing``. A student's stored result
    (:mod:`.cache`) is reused when nothing it depends on changed, unless ``force``; ``only``
    regrades these student ids and keeps every other stored result as it is. The warnings name
    the guarded files found changed after the batch (they are restored).
    """
    lab, submissions, out = Path(lab), Path(submissions), Path(out)
    log = log or (lambda message: None)
    entries = collect_submissions(submissions, roster, prefer=lab.name)
    unknown = sorted(set(only or ()) - {e.student_id for e in entries})
    if unknown:
        raise SubmissionsError(f"--only: no student {', '.join(unknown)} in this batch")
    paths = {e.student_id: e.path for e in entries if e.path is not None}
    guarded = {"lab": lab, "gradebook": out / "gradebook.csv", "manual points": out / POINTS}
    if solution is not None:
        guarded["solution"] = Path(solution)
    # a file too large to be a lab is not read at all (nor kept in memory to guard it)
    too_large = {i for i, p in paths.items() if p.stat().st_size > MAX_SUBMISSION_MB * 2**20}
    guarded.update({f"submission {i}": p for i, p in paths.items() if i not in too_large})
    # everything is read into memory (and hashed) before anything runs
    guard = Guard(guarded)
    names = {"lab": "the released lab", "solution": "the solution", "gradebook": "the gradebook",
             "manual points": "the points entered by hand"}
    if guard.data("lab") is None:
        raise NotebookError(f"{lab}: no such notebook")
    if solution is not None and guard.data("solution") is None:
        raise NotebookError(f"{solution}: no such notebook")
    assignment = Assignment.from_bytes(guard.data("lab"),
                                       guard.data("solution") if solution else None)
    plan = guard_plan(assignment)
    # the points entered by hand, read now: a broken file stops the batch before anything runs
    marks = parse_points(guard.data("manual points"), where=str(out / POINTS),
                         questions=assignment.written)
    marks = read_points(out, assignment.written)  # with the saves pending from an earlier run
    # under --isolate, no submission sees these folders (nor /tmp, where the others run)
    hidden = tuple(dict.fromkeys(p.resolve() for p in [lab.parent, submissions, out]
                                 + ([Path(solution).parent] if solution is not None else [])))
    if limits.isolate:
        problem = isolation_problem()
        if problem is not None:
            raise IsolationError(f"--isolate: {problem}")
    # the folder belongs to one lab: another lab's grades stop the batch before anything is written
    for line in claim(out, lab=lab, lab_data=guard.data("lab"),
                      solution=Path(solution) if solution is not None else None,
                      solution_data=guard.data("solution") if solution else None,
                      columns={g: assignment.points[g] for g in assignment.columns},
                      written=[q.id for q in assignment.written],
                      force=force):
        log(line)
    guard.refresh("gradebook")
    # what every result depends on besides its submission; then each student's stored result
    store = ResultStore(out)
    stored_before = store.snapshot()  # what a submission changes there is undone after the batch
    batch = batch_key(guard.data("lab"), guard.data("solution") if solution else None,
                      dataclasses.asdict(limits))
    keys = {i: result_key(batch, guard.data(f"submission {i}")) for i in paths
            if i not in too_large}
    rows: list[Row] = []
    to_grade: list[str] = []
    stale = 0  # results that --only keeps although an input changed
    for student_id in keys:
        if force or (only is not None and student_id in only):
            to_grade.append(student_id)
            continue
        stored = store.load(student_id, keys[student_id] if only is None else None)
        if stored is None:
            to_grade.append(student_id)
        else:
            rows.append(stored)
            stale += (store.stored(student_id) or {}).get("key") != keys[student_id]
    if stale:
        log(f"--only keeps {stale} stored result(s) whose submission, lab, solution, grader or "
            "options changed since: run without --only to regrade them")
    log(f"lab {lab} ({_hash(guard.data('lab'))}), {len(assignment.columns)} graded cells, "
        f"{len(entries)} students, {len(to_grade)} to grade ({len(rows)} unchanged), "
        f"{workers} worker(s){', isolated' if limits.isolate else ''}")

    not_run = [CellGrade(g, False, 0.0, assignment.points[g], "not run")
               for g in assignment.columns]
    rows += [Row(student_id=i, status="invalid", max_total=assignment.max_total,
                 cells=list(not_run), flags=[f"the file is larger than {MAX_SUBMISSION_MB} MiB"])
             for i in sorted(too_large)]
    rows += [Row(student_id=e.student_id, status="missing", max_total=assignment.max_total,
                 cells=[CellGrade(g, False, 0.0, assignment.points[g], "no submission")
                        for g in assignment.columns]) for e in entries if e.path is None]
    out.mkdir(parents=True, exist_ok=True)
    grading_started(out)  # saves on the manual page wait for the batch's end (see .manual)
    cancel = threading.Event()  # set on Ctrl-C / SIGTERM: every running notebook is killed
    interrupted = False
    finished: list[str] = []  # graded in this run, in the order they finished

    def keep(row: Row, seconds: float) -> None:
        """A finished student: stored at once (a later Ctrl-C keeps it), then logged."""
        store.store(row.student_id, keys[row.student_id], batch, row)
        stored_before.pop(store.path(row.student_id).name, None)
        if store.path(row.student_id).is_file():
            stored_before[store.path(row.student_id).name] = (
                store.path(row.student_id).read_bytes())
        rows.append(copy.deepcopy(row))
        finished.append(row.student_id)
        log(f"{row.student_id}: {row.total:g}/{row.max_total:g} {row.status} ({seconds:.1f} s)")

    with _signals_stop():
        pool = ThreadPoolExecutor(max_workers=max(1, workers))
        futures = [pool.submit(_safe_grade, student_id, guard.data(f"submission {student_id}"),
                               assignment, limits, guard, names, hidden, plan, cancel)
                   for student_id in to_grade]
        try:
            for future in as_completed(futures):
                keep(*future.result())  # _safe_grade raises only when cancelled
        except (KeyboardInterrupt, Cancelled):
            interrupted = True
            cancel.set()  # the running notebooks are killed within a tenth of a second
            _ignore_signals()  # what is finished is written out whatever else arrives
            pool.shutdown(wait=True, cancel_futures=True)
            for future in futures:  # those that finished while the others were stopped
                if future.done() and not future.cancelled() and future.exception() is None:
                    row, seconds = future.result()
                    if row.student_id not in finished:
                        keep(row, seconds)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        # what matching said (late, not in the roster, ...) opens each row's reason
        matching = {e.student_id: list(e.flags) for e in entries}
        for row in rows:
            row.flags[:0] = matching.get(row.student_id, [])
        # after the batch: the released files must be as they were read
        warnings = [f"{names.get(n, n)} had changed after the batch: restored"
                    for n in guard.restore()]
        warnings += [f"the stored result {name} was changed during the batch: restored"
                     for name in store.restore(stored_before)]
        grading_finished(out)
        for warning in warnings:
            log(f"warning: {warning}")
        # the written answers, read from the submitted files, with the points entered by hand
        notebooks = {i: readable(guard.data(f"submission {i}")) for i in paths
                     if i not in too_large}
        answers = {row.student_id: student_answers(notebooks.get(row.student_id), assignment.lab)
                   for row in rows}
        # the points entered by hand now: the saves made on the page during the run included
        try:
            marks = read_points(out, assignment.written)
        except ManualPointsError as error:
            warnings.append(f"the points entered by hand could not be read again ({error}): "
                            "those read at the start are used")
        attach_points(rows, assignment.written, answers, marks)
        # what the checks gave each graded cell, for the manual page, before the overrides
        exercises = exercise_cells(assignment)
        code = code_answers(rows, {i: student_code(notebooks.get(i), exercises) for i in notebooks})
        apply_overrides(rows, marks)  # points given by hand to graded code cells
        for problem in unused_points(marks, [q.id for q in assignment.written],
                                     assignment.points, {r.student_id for r in rows}):
            warnings.append(problem)
            log(f"warning: {problem}")
        # pairs of identical answers (after renaming), a place for the instructor to look, and
        # the submissions that look like the solution itself
        finished_notebooks = {i: notebooks.get(i) for i in notebooks
                              if i in {r.student_id for r in rows}}
        model = readable(guard.data("solution")) if solution else None
        copies, solution_pairs = solution_copies(
            finished_notebooks, assignment.lab, model,
            [cell.source for cell, _ in assignment.hidden], assignment.written, answers)
        for row in rows:
            if row.student_id in copies:
                row.flags[:0] = copies[row.student_id]
                if row.status == "ok":
                    row.status = "solution-copy"
        write_similar(out, similar_answers(finished_notebooks, assignment.lab, model)
                      + solution_pairs)
        write_outputs(out, rows, assignment.columns, [q.id for q in assignment.written])
        write_feedback_pages(out, rows, assignment, notebooks)
        write_answers(out, assignment.written, answers, graded_code(assignment), code)
    if interrupted:
        raise Interrupted(out=out, graded=len(finished), left=len(to_grade) - len(finished))
    return rows, warnings


class Interrupted(Exception):
    """The batch was stopped (Ctrl-C, SIGTERM): ``graded`` students were graded and kept (stored,
    in the gradebook and the feedback with every earlier result), ``left`` were not; running the
    same command again grades only those."""

    def __init__(self, *, out: Path, graded: int, left: int):
        self.out, self.graded, self.left = out, graded, left
        super().__init__(f"interrupted: {graded} student(s) graded in this run and kept in {out} "
                         f"(gradebook and feedback of what is finished); {left} not graded: run "
                         "the same command again to grade them")


class _signals_stop:
    """Within it (main thread only), SIGTERM stops the batch like Ctrl-C (``KeyboardInterrupt``);
    the handlers are restored at its end."""

    def __enter__(self):
        self.saved = {}
        if threading.current_thread() is threading.main_thread():
            for number in (signal.SIGINT, signal.SIGTERM):
                self.saved[number] = signal.getsignal(number)
            signal.signal(signal.SIGINT, _raise_interrupt)
            signal.signal(signal.SIGTERM, _raise_interrupt)
        return self

    def __exit__(self, *exc):
        for number, handler in self.saved.items():
            signal.signal(number, handler)
        return False


def _raise_interrupt(number, frame):
    raise KeyboardInterrupt(signal.Signals(number).name)


def _ignore_signals() -> None:
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    command, argv = split_subcommand(argv)  # `segedu-grade export ...` and the others
    if command is not None:
        return command.main(argv)
    parser = argparse.ArgumentParser(
        prog="segedu-grade", description="Grade submitted lab notebooks into a gradebook.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Writes OUT/gradebook.csv and OUT/feedback/<student_id>.txt and .html; the "
               "written answers and the graded code go to OUT/manual/answers.json (grade them, "
               "or override a cell's points, with segedu-grade manual; the next run merges the "
               "points). See the module "
               "segedu.grading.grade for the statuses and the safety checks.\n\n"
               + subcommand_help())
    parser.add_argument("--lab", required=True, help="the released student lab (.ipynb)")
    parser.add_argument("--submissions", required=True,
                        help="folder of <student_id>.ipynb files, or an unzipped bulk download "
                             "of Canvas, Moodle or Gradescope (see segedu.grading.submissions)")
    parser.add_argument("--out", required=True,
                        help="folder for gradebook.csv, feedback/ and results/ (the stored "
                             "results that let a re-run grade only what changed)")
    parser.add_argument("--roster", metavar="CSV",
                        help="the class list: columns id, name, email (required) and canvas_id, "
                             "sis_user_id, sis_login_id, section, moodle_id; submissions are "
                             "matched to it, a student without one gets status 'missing', a "
                             "submission that matches nobody is graded and flagged (see "
                             "segedu.grading.roster)")
    parser.add_argument("--only", nargs="+", metavar="ID",
                        help="regrade these students only; every other stored result is kept")
    parser.add_argument("--force", action="store_true",
                        help="regrade everyone (by default a student's stored result is reused "
                             "when the submission, the lab, the solution, the grader and the "
                             "options are unchanged)")
    parser.add_argument("--solution", help="solution notebook: source of the hidden tests")
    parser.add_argument("--workers", type=int, default=1,
                        help="submissions run at once (default 1)")
    parser.add_argument("--cell-timeout", type=float, default=120,
                        help="seconds per cell before it is interrupted (default 120)")
    parser.add_argument("--timeout", type=float, default=900,
                        help="seconds per notebook before it is killed (default 900)")
    parser.add_argument("--memory-mb", type=float, default=4096,
                        help="MiB of resident memory per notebook before it is killed (default "
                             "4096)")
    parser.add_argument("--fast", action="store_true", help="run the notebooks with SEGEDU_FAST=1")
    parser.add_argument("--isolate", action="store_true",
                        help="run each submission in bubblewrap (bwrap): read-only system, no "
                             "network, only its own folder writable, the lab/solution/submission "
                             "folders hidden")
    args = parser.parse_args(argv)
    if not Path(args.submissions).is_dir():
        print(f"error: {args.submissions}: no such folder", file=sys.stderr)
        return 2
    limits = Limits(cell_timeout=args.cell_timeout, timeout=args.timeout,
                    memory_mb=args.memory_mb, fast=args.fast, isolate=args.isolate)
    try:
        roster = read_roster(args.roster) if args.roster else None
        rows, warnings = grade_batch(args.lab, args.submissions, args.out, solution=args.solution,
                                     workers=args.workers, limits=limits,
                                     log=lambda m: print(m, file=sys.stderr, flush=True),
                                     roster=roster, only=args.only, force=args.force)
    except (NotebookError, IsolationError, RosterError, SubmissionsError,
            ManualPointsError, OutFolderError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except Interrupted as stop:
        print(stop, file=sys.stderr)
        return 130
    print(f"wrote {Path(args.out) / 'gradebook.csv'} ({len(rows)} submissions)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
