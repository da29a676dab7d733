"""Running one notebook for the grader: its own temporary folder and process tree, with limits.

:func:`run_notebook` writes the notebook into a fresh temporary folder and runs::

    python -m pytest --nbval-lax --nbval-current-env --nbval-cell-timeout=S \
        -p segedu_nbval_report submission.ipynb

(``segedu_nbval_report`` is a copy of :mod:`~segedu.grading.nbval_report`)

in a new session (process group), with that folder as the working directory. Limits:

- **per cell**: nbval's ``--nbval-cell-timeout`` interrupts a cell that runs too long; the cell
  fails with a timeout and the next cells still run;
- **per notebook**: a wall-clock limit; past it the whole process tree is killed;
- **memory**: a watchdog sums the resident memory (RSS) of the process tree every 0.1 s and kills
  the tree above the limit. ``RLIMIT_AS`` is not used: it caps *virtual* memory, and importing
  torch alone maps several GiB of address space (measured: 3.1 GiB of VMS for 0.5 GiB of
  RSS with the CPU build), so any useful address-space limit breaks ``import torch``;
- **output**: the cells' results come from :mod:`~segedu.grading.nbval_report`, capped per cell;
  pytest's own stdout/stderr is read through a pipe of which only the last :data:`LOG_CAP`
  characters are kept, so a cell printing megabytes (or writing them to the kernel's file
  descriptors) costs the grader neither memory nor disk.

The kernel started by nbval lives in a session of its own (jupyter_client starts it that way), so
killing pytest's process group is not enough: every process seen in the tree and every process
group it used are killed at the end, whatever happened.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from . import nbval_report
from .nbval_report import ENV as REPORT_ENV

__all__ = ["CellResult", "RunResult", "run_notebook"]

LOG_CAP = 4000  # characters of pytest's output kept (the end of it)
REPORT_CAP = 1_000_000  # bytes of the cell report read back (each line is capped by the plugin)
POLL_S = 0.1  # watchdog period
GRACE_S = 2.0  # seconds pytest gets to end by itself after its kernel died


@dataclass(frozen=True)
class CellResult:
    """What happened to one code cell: passed, its error message, what it printed, timed out."""

    passed: bool
    message: str = ""
    output: str = ""
    timeout: bool = False


@dataclass
class RunResult:
    """One notebook run: results by code-cell number (cells never reached are missing).

    ``killed`` is ``"timeout"`` (wall clock), ``"memory"`` or ``"kernel died"`` (the kernel exited,
    e.g. ``os._exit``, and pytest did not end within :data:`GRACE_S`) when the watchdog killed the
    tree, else ``None``; ``kernel_died`` says the kernel died before the last cell; ``returncode`` is pytest's exit status (1 when a cell failed, which is normal).
    """

    cells: dict[int, CellResult] = field(default_factory=dict)
    killed: str | None = None
    returncode: int | None = None
    log_tail: str = ""
    code_cells: int = 0
    kernel_died: bool = False
    seconds: float = 0.0
    peak_rss_mb: float = 0.0


def _tree(process: psutil.Process) -> list[psutil.Process]:
    """The process and all its descendants that still exist."""
    try:
        return [process, *process.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _rss(processes: list[psutil.Process]) -> int:
    total = 0
    for process in processes:
        try:
            total += process.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return total


def _dead(process: psutil.Process) -> bool:
    try:
        return process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _kill(processes: list[psutil.Process], groups: set[int]) -> None:
    """SIGKILL every process and every process group seen (never our own group)."""
    own = os.getpgrp()
    for group in groups - {own}:
        try:
            os.killpg(group, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    for process in processes:
        try:
            process.kill()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    psutil.wait_procs(processes, timeout=5)


def _drain(stream, keep: deque, size: list[int]) -> None:
    """Read a pipe to its end, keeping only about the last LOG_CAP characters."""
    for chunk in iter(lambda: stream.read(4096), b""):
        keep.append(chunk)
        size[0] += len(chunk)
        while size[0] - len(keep[0]) > LOG_CAP:
            size[0] -= len(keep.popleft())


def _read_report(path: Path) -> dict[int, CellResult]:
    cells: dict[int, CellResult] = {}
    if not path.is_file():
        return cells
    with open(path, "rb") as file:
        data = file.read(REPORT_CAP)
    for raw in data.decode("utf8", errors="replace").splitlines():
        try:
            line = json.loads(raw)
            number = int(line["cell"])
        except (ValueError, KeyError, TypeError):
            continue  # a line cut by the cap or by a kill
        result = CellResult(passed=line.get("outcome") == "passed", message=str(line.get("message", "")),
                            output=str(line.get("output", "")), timeout=bool(line.get("timeout")))
        # the call phase decides; a setup failure only counts when the cell never ran
        if line.get("when") == "call" or number not in cells:
            cells[number] = result
    return cells


def run_notebook(
    text: str,
    *,
    cell_timeout: float = 120,
    timeout: float = 600,
    memory_mb: float = 4096,
    env: dict[str, str] | None = None,
    python: str = sys.executable,
) -> RunResult:
    """Run a notebook (its JSON text) with nbval in a fresh temporary folder, within the limits.

    Args:
        text: the notebook to run, as nbformat-4 JSON.
        cell_timeout: seconds one cell may run (nbval interrupts it and goes on).
        timeout: seconds the whole run may take (kernel start included) before the tree is killed.
        memory_mb: resident memory (MiB) of the whole process tree before it is killed.
        env: extra environment variables for the run (e.g. ``SEGEDU_FAST``).
    """
    result = RunResult()
    with tempfile.TemporaryDirectory(prefix="segedu-grade-") as private:
        # the report lives next to, not inside, the folder the student's code runs in
        work, report = Path(private) / "work", Path(private) / "report.jsonl"
        work.mkdir()
        code_cells = sum(c.get("cell_type") == "code" for c in json.loads(text).get("cells", []))
        (work / "submission.ipynb").write_text(text, encoding="utf8")
        # the plugin is copied next to the report and loaded by file: importing it as
        # segedu.grading.nbval_report would import segedu, hence torch, into pytest (+2 s, +0.5 GB)
        shutil.copyfile(nbval_report.__file__, Path(private) / "segedu_nbval_report.py")
        boot = f"import sys; sys.path.insert(0, {private!r}); import pytest; sys.exit(pytest.main())"
        command = [python, "-c", boot, "submission.ipynb", "--nbval-lax", "--nbval-current-env",
                   f"--nbval-cell-timeout={cell_timeout}", "-p", "segedu_nbval_report",
                   "-p", "no:cacheprovider", "-q", "--tb=no", "--rootdir", str(work), "-o", "addopts="]
        run_env = {**os.environ, "MPLBACKEND": "Agg", **(env or {}), REPORT_ENV: str(report)}
        start = time.monotonic()
        proc = subprocess.Popen(command, cwd=work, env=run_env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                start_new_session=True)
        keep: deque[bytes] = deque()
        reader = threading.Thread(target=_drain, args=(proc.stdout, keep, [0]), daemon=True)
        reader.start()
        root = psutil.Process(proc.pid)
        seen: dict[int, psutil.Process] = {}
        groups: set[int] = {proc.pid}  # start_new_session: pytest's group id is its pid
        died_at: float | None = None  # when the kernel was first seen dead
        kernels: dict[int, psutil.Process] = {}  # pytest's children: the kernel nbval started
        # the watchdog: wall clock and resident memory of the whole tree, and the kernel's life
        while proc.poll() is None:
            processes = _tree(root)
            try:
                kernels.update((p.pid, p) for p in root.children())
            except psutil.NoSuchProcess:
                pass
            if died_at is None and any(_dead(k) for k in kernels.values()):
                died_at = time.monotonic()
            if (died_at is not None and time.monotonic() - died_at > GRACE_S
                    and len(_read_report(report)) < code_cells):
                # the kernel is gone and pytest still waits for it (up to the cell timeout)
                result.killed = "kernel died"
                break
            for process in processes:
                seen.setdefault(process.pid, process)
                try:
                    groups.add(os.getpgid(process.pid))
                except (ProcessLookupError, PermissionError):
                    pass
            rss = _rss(processes)
            result.peak_rss_mb = max(result.peak_rss_mb, rss / 2**20)
            if rss > memory_mb * 2**20:
                result.killed = "memory"
                break
            if time.monotonic() - start > timeout:
                result.killed = "timeout"
                break
            time.sleep(POLL_S)
        # whatever happened, nothing the run started may outlive it
        _kill([*_tree(root), *seen.values()], groups)
        proc.wait()
        reader.join(timeout=5)
        result.returncode = proc.returncode
        result.seconds = time.monotonic() - start
        result.log_tail = b"".join(keep).decode("utf8", errors="replace")[-LOG_CAP:]
        result.cells = _read_report(report)
        result.code_cells = code_cells
        # a kernel that died before the last cell reported: os._exit, a segfault, or nbval
        # stopping a kernel it could not interrupt
        result.kernel_died = died_at is not None and len(result.cells) < code_cells or any(
            "Kernel dead" in cell.message for cell in result.cells.values())
    return result
