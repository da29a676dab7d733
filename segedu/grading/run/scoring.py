"""What one run of a submission earns, and why: each graded cell's points, the row's status, the
flags the instructor reads first and the notes on top of the student's feedback.

:func:`grade_submission <.grade_one.grade_submission>` runs the notebook and hands the run here:

- :func:`score_cells`: a graded cell earns its points when nbval saw it pass, the kernel guard's
  signed record (:mod:`.cell_guard_channel`) says it passed with nothing replaced, and no finding
  (:mod:`.static_scan`, :mod:`.library_calls`) voids it; a failed cell of checks with points earns
  the share of those that passed;
- :func:`run_status`: what stopped or slowed the run (memory, timeout, crash), the worst first;
- :func:`tamper_flags` and :func:`library_flags`: tampering and TODOs answered by the library,
  with one plain sentence for the student;
- :func:`failure_notes`: a syntax error and a timeout explained in the student's terms
  (:mod:`.diagnose`), on top.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..labs.assignment import Assignment
from ..results.gradebook import CellGrade, Row
from .cell_guard_channel import check_record, partial_share
from .diagnose import syntax_notes, timeout_note
from .sandbox import RunResult
from .static_scan import Finding

__all__ = ["Voiding", "score_cells", "run_status", "tamper_flags", "library_flags",
           "failure_notes"]


@dataclass
class Voiding:
    """What voided graded cells in one run: graded id -> what the notebook replaced
    (``tampered``), cells that ran without the guard's record or hid their error (``silent``),
    cells with a forged record (``forged``)."""

    tampered: dict[str, list[str]] = field(default_factory=dict)
    silent: list[str] = field(default_factory=list)
    forged: list[str] = field(default_factory=list)


def describe(sources: list[str], number: int | None) -> str:
    """``code cell 4 (`while True:`)``: nbval's number of a code cell and its first line."""
    if number is None or number >= len(sources):
        return "the teardown (after the last cell)"
    first = next((line.strip() for line in sources[number].splitlines() if line.strip()), "")
    return f"code cell {number} (`{first[:60]}`)"


def _plural(names: list[str]) -> str:
    quoted = [f"'{n}'" for n in names]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


def score_cells(assignment: Assignment, graded: dict[int, str], run: RunResult, key: bytes,
                voided: dict[str, str]) -> tuple[list[CellGrade], Voiding]:
    """Every graded column's :class:`CellGrade` (in the gradebook's order) and what voided some.

    ``graded``: code-cell number -> graded id (:class:`.prepare.Prepared`); ``key``: the run's
    signing key; ``voided``: graded id -> why a finding voids it."""
    by_id = {gid: number for number, gid in graded.items()}
    cells: list[CellGrade] = []
    voiding = Voiding()
    for gid in assignment.columns:
        points = assignment.points[gid]
        result = run.cells.get(by_id[gid]) if gid in by_id else None
        if result is None:
            cells.append(CellGrade(gid, False, 0.0, points,
                                   "✗ not run (the notebook stopped before it)"))
            continue
        state, passed, replaced = check_record(result.guard, gid, key)
        if state == "forged":
            voiding.forged.append(gid)
        if replaced:
            voiding.tampered[gid] = replaced
            cells.append(CellGrade(gid, False, 0.0, points, "✗ voided: it ran after the notebook"
                                   f" replaced {', '.join(replaced[:5])}"))
        elif state == "forged" or (state == "missing" and result.passed):
            if state == "missing":
                voiding.silent.append(gid)
            cells.append(CellGrade(gid, False, 0.0, points, "✗ voided: the grader's check of this"
                                   " cell did not run (the notebook disabled or forged it)"))
        elif gid in voided and result.passed:
            cells.append(CellGrade(gid, False, 0.0, points, f"✗ voided: {voided[gid]}"))
        elif result.passed and passed:
            cells.append(CellGrade(gid, True, points, points, result.output))
        elif result.passed:  # nbval saw no error, the guard saw one: the error display was hidden
            voiding.silent.append(gid)
            cells.append(CellGrade(gid, False, 0.0, points, "✗ voided: the cell failed but the"
                                   " notebook hid its error"))
        else:  # a cell of checks with points earns the share of those that passed
            share = partial_share(result.guard, gid, key)
            if share is None:
                cells.append(CellGrade(gid, False, 0.0, points, result.message or "✗ failed"))
            else:  # its ✓ and ✗ lines were printed, the error is the summary
                cells.append(CellGrade(gid, False, round(points * share, 6), points,
                                       f"{result.output.rstrip()}\n{result.message}".strip()))
    return cells, voiding


def _stopped(run: RunResult, sources: list[str]) -> int | None:
    """The first code cell that did not report (where a killed run stopped), or ``None``."""
    return next((n for n in range(len(sources)) if n not in run.cells), None)


def run_status(row: Row, run: RunResult, sources: list[str], limits) -> None:
    """Set the row's status and flag from what stopped or slowed the run, the worst first:
    ``memory``, ``timeout`` (the notebook killed, or a cell interrupted), ``crashed``.
    ``limits``: the run's :class:`.grade_one.Limits`."""
    stopped = _stopped(run, sources)
    timed_out = [n for n in sorted(run.cells) if run.cells[n].timeout]
    if run.killed == "memory":
        row.status = "memory"
        row.flags.append(f"killed: used more than {limits.memory_mb:g} MiB of memory"
                         f" in {describe(sources, stopped)}")
    elif run.killed == "timeout":
        row.status = "timeout"
        row.flags.append(f"killed: the notebook ran longer than {limits.timeout:g} s"
                         f" (in {describe(sources, stopped)})")
    elif timed_out:
        row.status = "timeout"
        stuck = "; the kernel could not be interrupted and was stopped" if run.kernel_died else ""
        row.flags.append(f"{describe(sources, timed_out[0])} ran longer than"
                         f" {limits.cell_timeout:g} s and was interrupted{stuck}")
    elif run.kernel_died:
        row.status = "crashed"
        dead = next((n for n in sorted(run.cells) if "Kernel dead" in run.cells[n].message), None)
        where = stopped if dead is None else max(dead - 1, 0)
        row.flags.append(f"the kernel died (exit or crash) in {describe(sources, where)};"
                         " the cells after it did not run")
    elif run.returncode not in (0, 1) or not run.cells:
        row.status = "crashed"
        last = run.log_tail.strip().splitlines()[-1:] or [""]
        row.flags.append(f"the run failed (pytest exit code {run.returncode}): {last[0][:200]}")


def tamper_flags(row: Row, voiding: Voiding, findings: list[Finding]) -> bool:
    """Flag the row ``tampered`` (it outranks every other status) when the notebook replaced what
    the checks rely on, silenced or forged the guard, or reaches into the grader; with one
    sentence for the student. Whether the notebook reaches into the grader."""
    internals = [f for f in findings if f.kind == "internals"]
    if not (voiding.tampered or voiding.silent or voiding.forged or internals):
        return False
    row.status = "tampered"
    if voiding.tampered:
        what = sorted({name for names in voiding.tampered.values() for name in names})
        row.flags.insert(0, f"tampered: the notebook replaced {', '.join(what[:8])}"
                         f"{' …' if len(what) > 8 else ''}; graded cell(s) "
                         f"{_plural(list(voiding.tampered))} ran after it: 0 points")
        row.summary = ("Some graded cells earned 0 points because your notebook replaced "
                       f"functions that the checks rely on ({', '.join(what[:3])}).")
    if voiding.silent:
        row.flags.insert(0, f"tampered: graded cell(s) {_plural(voiding.silent)} ran without the "
                         "grader's check (disabled, or its error hidden): 0 points")
        row.summary = row.summary or ("Some graded cells earned 0 points because your notebook "
                                      "stopped the grader from checking them.")
    if voiding.forged:
        row.flags.insert(0, "tampered: forged grader records in graded cell(s) "
                         f"{_plural(voiding.forged)}")
    if internals:
        row.flags.insert(0, "tampered: the notebook reaches into the grader "
                         f"(`{internals[0].used}` in {internals[0].where}): every graded cell "
                         "voided")
        row.summary = ("Every graded cell earned 0 points because your notebook uses the "
                       f"grader's internals (`{internals[0].used}`).")
    return bool(internals)


def library_flags(row: Row, library: dict[str, str]) -> None:
    """Flag the graded cells voided because a TODO was answered with the library's own function
    (``library``: graded id -> why); status ``library`` unless a worse one stands."""
    if not library:
        return
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


def failure_notes(row: Row, run: RunResult, sources: list[str], graded: dict[int, str],
                  limits) -> None:
    """Put the notes on a syntax error and a timeout at the top of the row's summary: they
    mislead through the checks' messages (:mod:`.diagnose`)."""
    notes = syntax_notes(sources, set(graded))
    timed_out = [n for n in sorted(run.cells) if run.cells[n].timeout]
    if run.killed == "timeout" or timed_out:
        stuck = _stopped(run, sources) if run.killed == "timeout" else timed_out[0]
        stuck = stuck if stuck is not None else -1
        notes.append(timeout_note(sources, stuck, graded,
                                  limits.timeout if run.killed == "timeout"
                                  else limits.cell_timeout,
                                  interrupted=run.cells[stuck].interrupted
                                  if stuck in run.cells else ""))
    if notes:
        row.summary = " ".join([*notes, row.summary]).strip()
