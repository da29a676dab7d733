"""Grading a class: :func:`grade_batch`, one :func:`~.grade_one.grade_submission` per student.

Before anything runs: the submissions are found and matched to the roster (:mod:`.submissions`);
the lab, the solution, the gradebook, the points entered by hand and every submitted file are read
into memory and hashed (:class:`~.file_guard.FileGuard`); a broken points file, another lab's
output folder (:mod:`.outfolder`) or an impossible ``--isolate`` stops the batch with one line. A
student's stored result (:mod:`.cache`) is reused when nothing it depends on changed.

While it runs: each result is stored as soon as its student is done, and logged with that
student's own duration. Ctrl-C or SIGTERM (:class:`Interrupted`) kills the running notebooks and
keeps what is finished; the same command then grades the rest. A broken submission never stops the
batch: it gets a row with the reason.

Safety: a submitted file is read, never written (it is copied into the temporary folder). After
each run, and after the batch, the guarded files are compared with what was read; a change is
undone (same bytes, same modification time) and flagged in the row of the submission after whose
run it was seen — with several workers, a change made while two submissions ran is blamed on the
one that finished first. The outputs are written at the end (:mod:`.batch_outputs`), atomically,
from the results in memory. Processes that a run leaves behind are killed with it.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from ..labs.assignment import Assignment
from ..labs.notebook import NotebookError
from ..results.batch_outputs import write_batch
from ..results.cache import ResultStore, batch_key, result_key
from ..results.gradebook import CellGrade, Row
from ..results.manual_points import (
    POINTS,
    grading_finished,
    grading_started,
    parse_points,
    read_points,
)
from ..results.outfolder import claim
from ..results.roster import Roster
from .cell_guard_channel import GuardPlan, guard_plan
from .file_guard import FileGuard
from .grade_one import Limits, grade_submission
from .isolation import IsolationError, isolation_problem
from .sandbox import Cancelled
from .submissions import Entry, SubmissionsError, collect_submissions

__all__ = ["MAX_SUBMISSION_MB", "Interrupted", "grade_batch"]

MAX_SUBMISSION_MB = 20  # a larger file is not read: its row says "invalid"
DEFAULT_LIMITS = Limits()
# how the warnings and the flags name the guarded files
GUARDED_NAMES = {"lab": "the released lab", "solution": "the solution",
                 "gradebook": "the gradebook", "manual points": "the points entered by hand"}


@dataclass
class Batch:
    """What a batch reads before anything runs (:func:`open_batch`)."""

    lab: Path
    out: Path
    solution: Path | None
    entries: list[Entry]  # every student: a submission, or none (missing)
    paths: dict[str, Path]  # student id -> the submitted file
    too_large: set[str]  # not read: larger than MAX_SUBMISSION_MB
    guard: FileGuard
    assignment: Assignment
    plan: GuardPlan
    marks: dict  # the points entered by hand, as read at the start
    hidden: tuple[Path, ...]  # the folders that an isolated run must not see
    store: ResultStore
    stored_before: dict[str, bytes]  # the stored results as read: restored after the batch
    batch_key: str  # what every result depends on besides its submission
    keys: dict[str, str]  # student id -> the key of its result

    def data(self, name: str) -> bytes | None:
        return self.guard.data(name)


def _hash(data: bytes | None) -> str:
    return hashlib.sha256(data or b"").hexdigest()[:12]


def open_batch(lab: Path, submissions: Path, out: Path, solution: Path | None, limits: Limits,
               roster: Roster | None, only, force: bool, log) -> Batch:
    """Find and read everything the batch needs, and claim ``out`` for the lab; raise (and change
    nothing) on a bad ``--only``, a missing lab or solution, a broken points file, an impossible
    ``--isolate`` or another lab's output folder."""
    entries = collect_submissions(submissions, roster, prefer=lab.name)
    unknown = sorted(set(only or ()) - {e.student_id for e in entries})
    if unknown:
        raise SubmissionsError(f"--only: no student {', '.join(unknown)} in this batch")
    paths = {e.student_id: e.path for e in entries if e.path is not None}
    guarded = {"lab": lab, "gradebook": out / "gradebook.csv", "manual points": out / POINTS}
    if solution is not None:
        guarded["solution"] = solution
    # a file too large to be a lab is not read at all (nor kept in memory to guard it)
    too_large = {i for i, p in paths.items() if p.stat().st_size > MAX_SUBMISSION_MB * 2**20}
    guarded.update({f"submission {i}": p for i, p in paths.items() if i not in too_large})
    # everything is read into memory (and hashed) before anything runs
    guard = FileGuard(guarded)
    if guard.data("lab") is None:
        raise NotebookError(f"{lab}: no such notebook")
    if solution is not None and guard.data("solution") is None:
        raise NotebookError(f"{solution}: no such notebook")
    solution_data = guard.data("solution") if solution is not None else None
    assignment = Assignment.from_bytes(guard.data("lab"), solution_data)
    # the points entered by hand, read now: a broken file stops the batch before anything runs
    parse_points(guard.data("manual points"), where=str(out / POINTS),
                 questions=assignment.written)
    marks = read_points(out, assignment.written)  # with the saves pending from an earlier run
    # under --isolate, no submission sees these folders (nor /tmp, where the others run)
    hidden = tuple(dict.fromkeys(p.resolve() for p in [lab.parent, submissions, out]
                                 + ([solution.parent] if solution is not None else [])))
    if limits.isolate and (problem := isolation_problem()) is not None:
        raise IsolationError(f"--isolate: {problem}")
    # the folder belongs to one lab: another lab's grades stop the batch before anything is written
    for line in claim(out, lab=lab, lab_data=guard.data("lab"), solution=solution,
                      solution_data=solution_data,
                      columns={g: assignment.points[g] for g in assignment.columns},
                      written=[q.id for q in assignment.written], force=force):
        log(line)
    guard.refresh("gradebook")
    store = ResultStore(out)
    key = batch_key(guard.data("lab"), solution_data, dataclasses.asdict(limits))
    return Batch(lab=lab, out=out, solution=solution, entries=entries, paths=paths,
                 too_large=too_large, guard=guard, assignment=assignment,
                 plan=guard_plan(assignment), marks=marks, hidden=hidden, store=store,
                 stored_before=store.snapshot(), batch_key=key,
                 keys={i: result_key(key, guard.data(f"submission {i}")) for i in paths
                       if i not in too_large})


def _reused(batch: Batch, only, force: bool, log) -> tuple[list[Row], list[str]]:
    """(the stored results kept, the students to grade)."""
    rows: list[Row] = []
    to_grade: list[str] = []
    stale = 0  # results that --only keeps although an input changed
    for student_id, key in batch.keys.items():
        if force or (only is not None and student_id in only):
            to_grade.append(student_id)
            continue
        stored = batch.store.load(student_id, key if only is None else None)
        if stored is None:
            to_grade.append(student_id)
        else:
            rows.append(stored)
            stale += (batch.store.stored(student_id) or {}).get("key") != key
    if stale:
        log(f"--only keeps {stale} stored result(s) whose submission, lab, solution, grader or "
            "options changed since: run without --only to regrade them")
    return rows, to_grade


def _not_run(batch: Batch) -> list[Row]:
    """The rows of the files too large to read, and of the roster's students without a file."""
    assignment = batch.assignment

    def cells(message: str) -> list[CellGrade]:
        return [CellGrade(g, False, 0.0, assignment.points[g], message)
                for g in assignment.columns]

    return ([Row(student_id=i, status="invalid", max_total=assignment.max_total,
                 cells=cells("not run"), flags=[f"the file is larger than {MAX_SUBMISSION_MB} MiB"])
             for i in sorted(batch.too_large)]
            + [Row(student_id=e.student_id, status="missing", max_total=assignment.max_total,
                   cells=cells("no submission")) for e in batch.entries if e.path is None])


def _safe_grade(student_id: str, batch: Batch, limits: Limits,
                cancel: threading.Event) -> tuple[Row, float]:
    """:func:`~.grade_one.grade_submission` that always returns a row (and the seconds it took),
    then undoes changes to guarded files; only a cancelled run raises
    (:class:`~.sandbox.Cancelled`)."""
    start = time.monotonic()
    assignment = batch.assignment
    try:
        if cancel.is_set():
            raise Cancelled("the batch was stopped before this submission started")
        row = grade_submission(student_id, batch.data(f"submission {student_id}"), assignment,
                               limits, hidden=batch.hidden, plan=batch.plan, cancel=cancel)
    except Cancelled:
        batch.guard.restore()
        raise
    except Exception as error:  # a bug or an OS failure while grading one: a row, not a stop
        row = Row(student_id=student_id, status="crashed", max_total=assignment.max_total,
                  cells=[CellGrade(g, False, 0.0, assignment.points[g], "not graded")
                         for g in assignment.columns],
                  flags=[f"grader error: {type(error).__name__}: {str(error)[:200]}"])
    try:
        changed = batch.guard.restore()
    except OSError as error:  # e.g. a folder made read-only: say so, and go on
        changed = []
        row.flags.append(f"could not check the guarded files: {error}")
    for name in changed:
        row.flags.append(f"{GUARDED_NAMES.get(name, name)} was modified during this run: restored")
    return row, time.monotonic() - start


def _run_all(batch: Batch, to_grade: list[str], limits: Limits, workers: int, keep) -> bool:
    """Grade ``to_grade`` on ``workers`` threads, handing each finished ``(row, seconds)`` to
    ``keep``; whether the batch was interrupted (Ctrl-C, SIGTERM: the running notebooks are
    killed, and what finished meanwhile is kept too)."""
    cancel = threading.Event()  # set on Ctrl-C / SIGTERM: every running notebook is killed
    kept: set[str] = set()
    pool = ThreadPoolExecutor(max_workers=max(1, workers))
    futures = [pool.submit(_safe_grade, student_id, batch, limits, cancel)
               for student_id in to_grade]
    try:
        for future in as_completed(futures):
            row, seconds = future.result()  # _safe_grade raises only when cancelled
            keep(row, seconds)
            kept.add(row.student_id)
        return False
    except (KeyboardInterrupt, Cancelled):
        cancel.set()  # the running notebooks are killed within a tenth of a second
        _ignore_signals()  # what is finished is written out whatever else arrives
        pool.shutdown(wait=True, cancel_futures=True)
        for future in futures:  # those that finished while the others were stopped
            if future.done() and not future.cancelled() and future.exception() is None:
                row, seconds = future.result()
                if row.student_id not in kept:
                    keep(row, seconds)
        return True
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def grade_batch(
    lab: str | Path,
    submissions: str | Path,
    out: str | Path,
    *,
    solution: str | Path | None = None,
    workers: int = 1,
    limits: Limits = DEFAULT_LIMITS,
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
    the guarded files found changed after the batch (they are restored) and the points entered
    by hand that could not be used. Raises :class:`Interrupted` after Ctrl-C, once what is
    finished is written.
    """
    log = log or (lambda message: None)
    batch = open_batch(Path(lab), Path(submissions), Path(out),
                       Path(solution) if solution is not None else None, limits, roster, only,
                       force, log)
    rows, to_grade = _reused(batch, only, force, log)
    log(f"lab {lab} ({_hash(batch.data('lab'))}), {len(batch.assignment.columns)} graded "
        f"cells, {len(batch.entries)} students, {len(to_grade)} to grade ({len(rows)} "
        f"unchanged), {workers} worker(s){', isolated' if limits.isolate else ''}")
    rows += _not_run(batch)
    batch.out.mkdir(parents=True, exist_ok=True)
    grading_started(batch.out)  # saves on the manual page wait for the batch's end (.manual)
    finished: list[str] = []  # graded in this run, in the order they finished

    def keep(row: Row, seconds: float) -> None:
        """A finished student: stored at once (a later Ctrl-C keeps it), then logged."""
        store, path = batch.store, batch.store.path(row.student_id)
        store.store(row.student_id, batch.keys[row.student_id], batch.batch_key, row)
        batch.stored_before.pop(path.name, None)
        if path.is_file():
            batch.stored_before[path.name] = path.read_bytes()
        rows.append(copy.deepcopy(row))
        finished.append(row.student_id)
        log(f"{row.student_id}: {row.total:g}/{row.max_total:g} {row.status} ({seconds:.1f} s)")

    with _signals_stop():
        try:
            interrupted = _run_all(batch, to_grade, limits, workers, keep)
        finally:
            # after the batch: the released files and the stored results as they were read
            warnings = [f"{GUARDED_NAMES.get(n, n)} had changed after the batch: restored"
                        for n in batch.guard.restore()]
            warnings += [f"the stored result {name} was changed during the batch: restored"
                         for name in batch.store.restore(batch.stored_before)]
            grading_finished(batch.out)
        for warning in warnings:
            log(f"warning: {warning}")
        submitted = {i: batch.data(f"submission {i}") for i in batch.paths
                     if i not in batch.too_large}
        warnings += write_batch(
            batch.out, batch.assignment, rows, submitted=submitted,
            solution=batch.data("solution") if batch.solution is not None else None,
            matching={e.student_id: list(e.flags) for e in batch.entries}, marks=batch.marks,
            log=log)
    if interrupted:
        raise Interrupted(out=batch.out, graded=len(finished), left=len(to_grade) - len(finished))
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
