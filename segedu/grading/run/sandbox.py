"""Running one notebook for the grader: its own temporary folder and process tree, with limits.

:func:`run_notebook` writes the notebook into a fresh temporary folder and runs::

    python -m pytest -p nbval.plugin --nbval-lax --nbval-current-env --nbval-cell-timeout=S \
        -p segedu_nbval_report submission.ipynb

(``segedu_nbval_report`` is a copy of :mod:`~segedu.grading.run.nbval_report`) with
``PYTEST_DISABLE_PLUGIN_AUTOLOAD=1``: no other pytest plugin installed in the environment is loaded

in a new session (process group), with that folder as the working directory. Limits:

- **per cell**: nbval's ``--nbval-cell-timeout`` interrupts a cell that runs too long; the cell
  fails with a timeout and the next cells still run;
- **per notebook**: a wall-clock limit; past it the whole process tree is killed;
- **memory**: a watchdog sums the resident memory (RSS) of the process tree every 0.1 s and kills
  the tree above the limit. ``RLIMIT_AS`` is not used: it caps *virtual* memory, and importing
  torch alone maps several GiB of address space (measured: 3.1 GiB of VMS for 0.5 GiB of
  RSS with the CPU build), so any useful address-space limit breaks ``import torch``;
- **output**: the cells' results come from :mod:`~segedu.grading.run.nbval_report`, capped per cell;
  pytest's own stdout/stderr is read through a pipe of which only the last :data:`LOG_CAP`
  characters are kept, so a cell printing megabytes (or writing them to the kernel's file
  descriptors) costs the grader neither memory nor disk.

The kernel started by nbval lives in a session of its own (jupyter_client starts it that way), so
killing pytest's process group is not enough: every process seen in the tree and every process
group it used are killed at the end, whatever happened. A process that left the tree (``setsid`` and
a double fork) is caught twice: pytest runs as a *child subreaper* (Linux ``prctl``), so orphans of
the kernel become its children, and it kills them all before it exits; and every process of the run
carries a random token in its environment, by which any that is left is found and killed.

**The guard** (``guard=``): the configuration of :mod:`~segedu.grading.kernel.cell_guard` is written
next to a private IPython profile whose startup file is the guard, and the kernel is started with
that profile (``IPYTHONDIR``), so the guard runs before any cell. Its signed records come back in
the report (:class:`CellResult` ``guard``).

**Isolation** (``isolate=True``): the whole run runs in bubblewrap (:mod:`.isolation`).
"""

from __future__ import annotations

import json
import os
import secrets
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
from .isolation import IsolationError, isolated, isolation_problem
from .nbval_report import ENV as REPORT_ENV

__all__ = ["CellResult", "RunResult", "IsolationError", "Cancelled", "isolation_problem",
           "run_notebook"]

RUN_TOKEN_ENV = "SEGEDU_GRADE_RUN"  # every process of a run inherits it: how strays are found
GUARD_ENV = "SEGEDU_GRADE_GUARD"  # where the guard reads its configuration (then deletes it)

# The files of the kernel's room that a guarded run copies (read by path: importing the checks
# would import torch into the grader, about 2 CPU-seconds that nothing here uses).
KERNEL_ROOM = Path(__file__).resolve().parents[1] / "kernel"
CELL_GUARD, CHECKS, CALL_RECORDER, CALL_NAMES = (
    KERNEL_ROOM / f"{name}.py" for name in ("cell_guard", "checks", "call_recorder", "call_names"))

# pytest as a child subreaper: orphans of the kernel become its children; all killed before it exits
BOOT = """import sys; sys.path.insert(0, {private!r})
try:
    import ctypes; ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
except Exception:
    pass
import pytest; code = pytest.main()
import psutil
for _ in range(20):
    left = psutil.Process().children(recursive=True)
    if not left:
        break
    for process in left:
        try:
            process.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(left, timeout=1)
sys.exit(code)
"""


class Cancelled(Exception):
    """The run was stopped from outside (``cancel`` was set, e.g. on Ctrl-C): every process it
    started has been killed, and it has no result."""

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
    guard: tuple = ()  # the guard's records displayed by the cell: ({"body", "mac"}, ...)
    interrupted: str = ""  # a timed-out cell: the end of the traceback where it was interrupted


@dataclass
class RunResult:
    """One notebook run: results by code-cell number (cells never reached are missing).

    ``killed`` is ``"timeout"`` (wall clock), ``"memory"`` or ``"kernel died"`` (the kernel exited,
    e.g. ``os._exit``, and pytest did not end within :data:`GRACE_S`) when the watchdog killed the
    tree, else ``None``; ``kernel_died`` says the kernel died before the last cell; ``returncode``
    is pytest's exit status (1 when a cell failed, which is normal).
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
        records = line.get("guard") if isinstance(line.get("guard"), list) else []
        result = CellResult(passed=line.get("outcome") == "passed",
                            message=str(line.get("message", "")),
                            output=str(line.get("output", "")), timeout=bool(line.get("timeout")),
                            guard=tuple(r for r in records if isinstance(r, dict)),
                            interrupted=str(line.get("interrupted", "")))
        # the call phase decides; a setup failure only counts when the cell never ran
        if line.get("when") == "call" or number not in cells:
            cells[number] = result
    return cells


def _strays(token: str) -> list[psutil.Process]:
    """Processes still alive that carry the run's token in their environment."""
    found = []
    for process in psutil.process_iter():
        try:
            if process.pid != os.getpid() and process.environ().get(RUN_TOKEN_ENV) == token:
                found.append(process)
        except (psutil.Error, OSError):
            pass
    return found


def run_notebook(
    text: str,
    *,
    cell_timeout: float = 120,
    timeout: float = 600,
    memory_mb: float = 4096,
    env: dict[str, str] | None = None,
    python: str = sys.executable,
    guard: dict | None = None,
    isolate: bool = False,
    hidden: list[Path] | tuple[Path, ...] = (),
    cancel: threading.Event | None = None,
) -> RunResult:
    """Run a notebook (its JSON text) with nbval in a fresh temporary folder, within the limits.

    Args:
        text: the notebook to run, as nbformat-4 JSON.
        cell_timeout: seconds one cell may run (nbval interrupts it and goes on).
        timeout: seconds the whole run may take (kernel start included) before the tree is killed.
        memory_mb: resident memory (MiB) of the whole process tree before it is killed.
        env: extra environment variables for the run (e.g. ``SEGEDU_FAST``).
        guard: configuration of :mod:`~segedu.grading.kernel.cell_guard`
            (:func:`~segedu.grading.run.cell_guard_channel.guard_config`: ``key`` in hex, ``cells``
            sources by graded id, ``modules``, ``names``, ``answers``); ``None`` runs the notebook
            without the guard.
        isolate: run inside bubblewrap (see the module's docstring); raises
            :class:`IsolationError` when that is not possible here.
        hidden: folders that an isolated run must not see.
        cancel: when this event is set (Ctrl-C in the grader), the run's processes are killed
            within :data:`POLL_S` seconds and :class:`Cancelled` is raised.
    """
    result = RunResult()
    with tempfile.TemporaryDirectory(prefix="segedu-grade-") as private:
        # the report lives next to, not inside, the folder the student's code runs in
        private_path = Path(private).resolve()
        work, report = private_path / "work", private_path / "report.jsonl"
        work.mkdir()
        code_cells = sum(c.get("cell_type") == "code" for c in json.loads(text).get("cells", []))
        (work / "submission.ipynb").write_text(text, encoding="utf8")
        token = secrets.token_hex(16)
        command, added = _command(private_path, python=python, cell_timeout=cell_timeout,
                                  guard=guard, isolate=isolate, hidden=hidden)
        extra = {"MPLBACKEND": "Agg", **(env or {}), REPORT_ENV: str(report),
                 RUN_TOKEN_ENV: token, **added}
        start = time.monotonic()
        proc = subprocess.Popen(command, cwd=work, env={**os.environ, **extra},
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, start_new_session=True)
        keep: deque[bytes] = deque()
        reader = threading.Thread(target=_drain, args=(proc.stdout, keep, [0]), daemon=True)
        reader.start()
        watch = _Watch(proc, python=python, isolate=isolate, report=report,
                       code_cells=code_cells)
        result.killed = watch.run(start=start, timeout=timeout, memory_mb=memory_mb,
                                  cancel=cancel)
        result.peak_rss_mb = watch.peak_rss_mb
        # whatever happened, nothing the run started may outlive it
        _kill([*_tree(watch.root), *watch.seen.values()], watch.groups)
        proc.wait()
        _kill(_strays(token), set())
        reader.join(timeout=5)
        result.returncode = proc.returncode
        result.seconds = time.monotonic() - start
        result.log_tail = b"".join(keep).decode("utf8", errors="replace")[-LOG_CAP:]
        result.cells = _read_report(report)
        result.code_cells = code_cells
        # a kernel that died before the last cell reported: os._exit, a segfault, or nbval
        # stopping a kernel it could not interrupt
        result.kernel_died = (watch.died_at is not None and len(result.cells) < code_cells
                              or any("Kernel dead" in c.message for c in result.cells.values()))
    if result.killed == "cancelled":
        raise Cancelled("the run was cancelled; its processes were killed")
    return result


def _command(private_path: Path, *, python: str, cell_timeout: float, guard: dict | None,
             isolate: bool, hidden) -> tuple[list[str], dict[str, str]]:
    """The command that runs ``work/submission.ipynb`` under nbval, and the environment it adds:
    the report plugin copied beside the folder, the guard's private IPython profile, bubblewrap."""
    # the plugin is copied next to the report and loaded by file: importing it as
    # segedu.grading.run.nbval_report would import segedu, hence torch, into pytest (+2 s, +0.5 GB)
    shutil.copyfile(nbval_report.__file__, private_path / "segedu_nbval_report.py")
    extra = {}
    if guard is not None:
        profile = private_path / "ipython" / "profile_default"
        (profile / "startup").mkdir(parents=True)
        shutil.copyfile(CELL_GUARD, profile / "startup" / "00-segedu-guard.py")
        (profile / "ipython_kernel_config.py").write_text(
            "c.HistoryManager.enabled = False\n", encoding="utf8")
        shutil.copyfile(CHECKS, private_path / "segedu_private_checks.py")
        shutil.copyfile(CALL_RECORDER, private_path / "segedu_private_recorder.py")
        shutil.copyfile(CALL_NAMES, private_path / "segedu_private_names.py")
        config = {**guard, "checks": str(private_path / "segedu_private_checks.py"),
                  "recorder": str(private_path / "segedu_private_recorder.py"),
                  "code_names": str(private_path / "segedu_private_names.py")}
        (private_path / "guard.json").write_text(json.dumps(config), encoding="utf8")
        extra.update({"IPYTHONDIR": str(private_path / "ipython"),
                      GUARD_ENV: str(private_path / "guard.json")})
    # only the plugins the run needs: the pytest plugins installed beside segedu (hydra's, anyio's,
    # xdist's) would cost each submission about 1 CPU s to import, and none may take part
    extra["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    boot = BOOT.format(private=str(private_path))
    command = [python, "-c", boot, "submission.ipynb", "-p", "nbval.plugin",
               "--nbval-lax", "--nbval-current-env",
               f"--nbval-cell-timeout={cell_timeout}", "-p", "segedu_nbval_report",
               "-p", "no:cacheprovider", "-q", "--tb=no", "--rootdir",
               str(private_path / "work"), "-o", "addopts="]
    if isolate:
        for name in ("runtime", "config", "cache"):
            (private_path / name).mkdir()
        extra.update({"JUPYTER_RUNTIME_DIR": str(private_path / "runtime"),
                      "MPLCONFIGDIR": str(private_path / "config"), "TMPDIR": "/tmp",
                      "XDG_CACHE_HOME": str(private_path / "cache")})
        command = isolated(command, private_path, private_path / "work", list(hidden))
    return command, extra


class _Watch:
    """The watchdog of one run: wall clock and resident memory of the whole process tree, and the
    kernel's life; it remembers every process and process group seen, to kill them all after."""

    def __init__(self, proc: subprocess.Popen, *, python: str, isolate: bool, report: Path,
                 code_cells: int):
        self.proc, self.python, self.report, self.code_cells = proc, python, report, code_cells
        self.root = psutil.Process(proc.pid)
        self.seen: dict[int, psutil.Process] = {}
        self.groups: set[int] = {proc.pid}  # start_new_session: pytest's group id is its pid
        self.died_at: float | None = None  # when the kernel was first seen dead
        self.pytest: psutil.Process | None = None if isolate else self.root
        self.kernel: psutil.Process | None = None  # the first child of pytest: nbval's kernel
        self.peak_rss_mb = 0.0

    def _find_kernel(self, processes: list[psutil.Process]) -> None:
        if self.pytest is None:  # under bwrap: the process that runs the boot code
            self.pytest = next((p for p in processes[1:] if _is_pytest(p, self.python)), None)
        if self.kernel is None and self.pytest is not None:
            try:
                self.kernel = next(iter(self.pytest.children()), None)
            except psutil.NoSuchProcess:
                pass
        if self.died_at is None and self.kernel is not None and _dead(self.kernel):
            self.died_at = time.monotonic()

    def run(self, *, start: float, timeout: float, memory_mb: float,
            cancel: threading.Event | None) -> str | None:
        """Watch until pytest ends; why the tree must be killed (``"cancelled"``, ``"kernel
        died"``, ``"memory"``, ``"timeout"``), or ``None`` when it ended by itself."""
        while self.proc.poll() is None:
            if cancel is not None and cancel.is_set():
                return "cancelled"
            processes = _tree(self.root)
            self._find_kernel(processes)
            if (self.died_at is not None and time.monotonic() - self.died_at > GRACE_S
                    and len(_read_report(self.report)) < self.code_cells):
                return "kernel died"  # the kernel is gone, pytest waits for it (a cell timeout)
            for process in processes:
                self.seen.setdefault(process.pid, process)
                try:
                    self.groups.add(os.getpgid(process.pid))
                except (ProcessLookupError, PermissionError):
                    pass
            rss = _rss(processes)
            self.peak_rss_mb = max(self.peak_rss_mb, rss / 2**20)
            if rss > memory_mb * 2**20:
                return "memory"
            if time.monotonic() - start > timeout:
                return "timeout"
            time.sleep(POLL_S)
        return None


def _is_pytest(process: psutil.Process, python: str) -> bool:
    """The process that runs :data:`BOOT` (under bwrap, bwrap's own processes share its argv)."""
    try:
        line = process.cmdline()
        return bool(line) and line[0] == python and "segedu_nbval_report" in line
    except psutil.Error:
        return False
