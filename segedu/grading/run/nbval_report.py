"""A pytest plugin that records, cell by cell, what nbval saw: the grader's only source of results.

The sandbox runs ``python -m pytest --nbval-lax -p segedu.grading.run.nbval_report nb.ipynb`` with
the environment variable ``SEGEDU_GRADE_REPORT`` naming a file outside the notebook's folder. For
every code cell nbval runs, one JSON line is appended (and flushed) to that file::

    {"cell": 3, "outcome": "failed", "message": "✗ conv sizes: ...", "output": "✓ ...",
     "timeout": false, "guard": [{"body": "...", "mac": "..."}]}

``guard`` holds the records that :mod:`segedu.grading.kernel.cell_guard` displayed in the cell (the
grader checks their signatures). ``interrupted``, for a cell stopped at its time limit, is the end
of the traceback of the interrupt: its innermost frames say which function was running
(:func:`segedu.grading.run.diagnose.timeout_note`).

``cell`` is nbval's cell number: the index among the notebook's *code* cells. Lines are written as
cells finish, so the cells that ran before a kill (memory, wall clock) still count. Texts are capped
at :data:`CAP` characters, so a cell that prints megabytes cannot blow up the grader.

The variable is removed from the environment when the plugin loads, before nbval starts the kernel:
the student's code does not inherit the path of the report.
"""

from __future__ import annotations

import json
import os
import re

import pytest

ENV = "SEGEDU_GRADE_REPORT"
CAP = 2000  # characters kept of a cell's message and of its output
GUARD_MIME = "application/vnd.segedu.grade+json"  # the records of segedu.grading.kernel.cell_guard
GUARD_CAP = 20  # records kept per cell (a graded cell makes one)
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_report_path: str | None = os.environ.pop(ENV, None)  # popped at import: the kernel never sees it


def cap(text: str, limit: int = CAP) -> str:
    """``text`` without ANSI colour codes, cut to ``limit`` characters (with a marker when cut)."""
    text = _ANSI.sub("", text[: limit * 4])  # bound the work before the regex
    return text if len(text) <= limit else text[:limit] + " […cut]"


def tail(text: str, limit: int = CAP) -> str:
    """The end of ``text`` without ANSI colour codes, at most ``limit`` characters."""
    text = _ANSI.sub("", text[-limit * 4:])
    return text if len(text) <= limit else "[cut…] " + text[-limit:]


def _stream_text(item) -> str:
    """What the cell printed (stdout/stderr streams), capped; nbval keeps it
    in item.test_outputs."""
    pieces, size = [], 0
    for out in getattr(item, "test_outputs", None) or []:
        if out.get("output_type") == "stream":
            text = str(out.get("text", ""))[:CAP]
            pieces.append(text)
            size += len(text)
            if size > CAP:
                break
    return cap("".join(pieces))


def _guard_records(item) -> list[dict[str, str]]:
    """The guard's records that the cell displayed (``{"body", "mac"}``; checked by the grader)."""
    records = []
    for out in getattr(item, "test_outputs", None) or []:
        data = (out.get("data") if out.get("output_type") in ("display_data", "execute_result")
                else None)
        record = data.get(GUARD_MIME) if isinstance(data, dict) else None
        if isinstance(record, dict) and len(records) < GUARD_CAP:
            records.append({"body": str(record.get("body", ""))[:CAP],
                            "mac": str(record.get("mac", ""))[:100]})
    return records


def _error_text(excinfo) -> tuple[str, bool, str]:
    """(the cell's error for a student: the kernel's traceback lines, or nbval's message;
    timed out?; the traceback of the interrupt when it timed out, its end kept: the innermost
    frames say what was running)."""
    error = excinfo.value
    message = str(error.args[0]) if getattr(error, "args", None) else str(error)
    inner = str(getattr(error, "inner_traceback", None) or "").strip()
    timed_out = "Timeout of" in message
    if inner and not timed_out:
        return cap(inner), timed_out, ""
    return cap(message.strip()), timed_out, tail(inner) if timed_out else ""


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    cell = getattr(item, "cell_num", None)
    if _report_path is None or cell is None:
        return
    # the call phase decides; a failed or skipped setup (the kernel did not start) counts as well
    if call.when == "teardown" or (call.when == "setup" and report.passed):
        return
    message, timed_out, interrupted = ("", False, "")
    # a cell after a timed-out one is marked xfail by nbval: its failure is reported as skipped
    if call.excinfo is not None and not call.excinfo.errisinstance(pytest.skip.Exception):
        message, timed_out, interrupted = _error_text(call.excinfo)
    line = {"cell": cell, "outcome": report.outcome, "when": call.when, "message": message,
            "output": _stream_text(item), "timeout": timed_out, "interrupted": interrupted,
            "guard": _guard_records(item)}
    with open(_report_path, "a", encoding="utf8") as file:
        file.write(json.dumps(line, ensure_ascii=False) + "\n")
        file.flush()
