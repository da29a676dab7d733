"""Where the time of CI goes: ``bash .ci/run`` on a fresh clone, timed phase by phase.

Usage::

    python benchmarks/ci_time.py [--repo .] [--busy 1] [--out benchmarks/results/ci_time.md]

The script clones the repository's ``HEAD`` into a temporary folder (``git clone --no-local``:
nothing of this checkout's ``.venv`` or build folders comes along), runs ``bash .ci/run`` there
exactly as CI does, and stamps every line of its output with the seconds since the start. The
phases are cut where ``make`` echoes its commands (the virtual environment, the install, the lint,
pytest); pytest's own ``--durations=30`` table (the Makefile asks for it) and summary line are
copied as they are. The report gives the machine (CPU model and whether it has AVX-512), the load
average at the start and the end (the machine may be shared: read the seconds with it) and the
commit. ``--busy N`` runs N CPU-bound processes (a Python loop each) beside CI for the whole run,
as a machine shared with other work is (the goal is a green run within 14 min beside one).
The report also gives the CPU seconds that CI's processes used (user + system time of every process
that ``.ci/run`` started, counted by a cgroup where this machine lets the script make one, so that
the tests' warm-kernel zygotes, which leave the process tree, are counted too; else of ``.ci/run``
and of the processes it waited for) and how busy the machine's CPUs were over
the run (``/proc/stat``): a run that keeps every CPU busy cannot end sooner than its CPU seconds
divided by the CPUs, whatever the number of pytest workers.
It exits with the status of ``.ci/run``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import re
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# (phase, regular expression of the first line that belongs to it), in the order they happen; the
# first phase starts with the run.
PHASES = [
    ("system packages (chromium, bubblewrap)", None),
    ("virtual environment", re.compile(r"-m venv \.venv")),
    ("install of the lock (uv, or pip where uv fails)",
     re.compile(r"scripts/install_venv\.py|-m pip install .*-c constraints\.txt")),
    ("ruff", re.compile(r"-m ruff check")),
    ("pytest (2 workers)", re.compile(r"-m pytest -n")),
]


# What a CPU-bound process beside the measured run executes (--busy; flaky_runs.py's load too).
BUSY = "while True: pass"


@contextlib.contextmanager
def busy_loops(count: int, pin: list[str] | tuple[str, ...] = ()):
    """``count`` CPU-bound Python loops (each ``pin + [python, -c, BUSY]``) for the ``with``
    block; killed and reaped when it ends, also on an error or Ctrl-C."""
    loops = [subprocess.Popen([*pin, sys.executable, "-c", BUSY]) for _ in range(count)]
    try:
        yield loops
    finally:
        for loop in loops:
            loop.kill()
            loop.wait()


def cpu() -> str:
    """The CPU model, and which of AVX2 and AVX-512 it has (they decide the SIMD kernels)."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine()
    model = re.search(r"^model name\s*:\s*(.+)$", info, re.M)
    flags = set(re.search(r"^flags\s*:\s*(.+)$", info, re.M).group(1).split())
    simd = ", ".join(f for f in ("avx2", "avx512f") if f in flags) or "neither AVX2 nor AVX-512"
    return f"{model.group(1) if model else platform.machine()} ({os.cpu_count()} CPUs; {simd})"


def cpu_ticks() -> tuple[int, int] | None:
    """(busy, all) clock ticks of every CPU of the machine since boot (``/proc/stat``'s first
    line: idle and iowait are not busy), or None without ``/proc``."""
    try:
        first = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    except OSError:
        return None
    ticks = [int(value) for value in first[1:9]]  # user nice system idle iowait irq softirq steal
    return sum(ticks) - ticks[3] - ticks[4], sum(ticks)


def children_cpu_seconds() -> float:
    """User + system seconds of this process's waited-for children (and theirs) so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class CpuGroup:
    """A cgroup (v1's ``cpuacct``) that counts the CPU time of every process started in it, those
    that left the process tree included (the tests' warm-kernel zygotes, which nobody waits for:
    ``getrusage`` misses them). :meth:`open` gives ``None`` where no such group can be made (no
    cgroup v1 ``cpuacct`` hierarchy, or no permission)."""

    ROOT = Path("/sys/fs/cgroup/cpuacct")

    def __init__(self, path: Path):
        self.path = path

    @classmethod
    def open(cls, name: str) -> CpuGroup | None:
        path = cls.ROOT / name
        try:
            path.mkdir()
            (path / "cpuacct.usage").read_text()
        except OSError:
            return None
        return cls(path)

    def command(self, argv: list[str]) -> list[str]:
        """``argv`` run inside the group (the shell joins it, then becomes ``argv``)."""
        return ["sh", "-c", f'echo $$ > "{self.path}/cgroup.procs" && exec "$@"', "sh", *argv]

    def close(self, wait: float = 15.0) -> float:
        """The CPU seconds of the group's processes, read once the last has ended (at most
        ``wait`` seconds later); the group is then removed."""
        deadline = time.monotonic() + wait
        while (self.path / "cgroup.procs").read_text().strip() and time.monotonic() < deadline:
            time.sleep(0.2)
        seconds = int((self.path / "cpuacct.usage").read_text()) / 1e9
        with contextlib.suppress(OSError):
            self.path.rmdir()
        return seconds


def run_ci(clone: Path, group: CpuGroup | None = None) -> tuple[int, list[tuple[float, str]]]:
    """Run .ci/run in ``clone`` (inside ``group``, if any); its exit status and its output lines
    with their times."""
    start = time.perf_counter()
    lines: list[tuple[float, str]] = []
    command = ["bash", ".ci/run"]
    process = subprocess.Popen(group.command(command) if group else command, cwd=clone,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               bufsize=1)
    for line in process.stdout:
        lines.append((time.perf_counter() - start, line.rstrip("\n")))
        print(f"{lines[-1][0]:8.1f}  {lines[-1][1]}", flush=True)
    status = process.wait()
    lines.append((time.perf_counter() - start, ""))
    return status, lines


def phases(lines: list[tuple[float, str]]) -> list[tuple[str, float]]:
    """Seconds of each phase that was seen, cut at the first line of the next one."""
    starts: list[tuple[str, float]] = [(PHASES[0][0], 0.0)]  # the first phase starts at once
    index = 0
    for name, pattern in PHASES[1:]:
        for j in range(index, len(lines)):
            if pattern.search(lines[j][1]):
                starts.append((name, lines[j][0]))
                index = j + 1
                break
    ends = [t for _, t in starts[1:]] + [lines[-1][0]]
    return [(name, end - begin) for (name, begin), end in zip(starts, ends, strict=True)]


def pytest_report(lines: list[tuple[float, str]]) -> list[str]:
    """pytest's durations table and its summary line, as printed."""
    text = [line for _, line in lines]
    keep = []
    for i, line in enumerate(text):
        if "slowest" in line and "durations" in line:
            keep = text[i:]
            break
    return [line for line in keep if line.strip() and not line.startswith("=" * 10)
            or re.search(r"(passed|failed).* in [\d.]+s", line)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", type=Path, default=ROOT)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "ci_time.md")
    parser.add_argument("--from-log", type=Path, default=None,
                        help="rewrite the report from the output that an earlier run printed "
                             "(its stamped lines) instead of running CI; give --commit, --status "
                             "and --load of that run")
    parser.add_argument("--busy", type=int, default=0,
                        help="CPU-bound processes to run beside CI for the whole run")
    parser.add_argument("--commit", default=None)
    parser.add_argument("--status", type=int, default=0)
    parser.add_argument("--load", type=float, nargs=6, default=None,
                        help="the load averages at the start and at the end (6 numbers)")
    args = parser.parse_args(argv)
    if args.from_log:
        stamped = re.compile(r"^\s*([0-9]+\.[0-9])  (.*)$")
        lines = [(float(m.group(1)), m.group(2)) for m in map(stamped.match,
                 args.from_log.read_text(encoding="utf8").splitlines()) if m]
        lines.append((lines[-1][0], ""))
        commit, status = args.commit, args.status
        load_start, load_end = args.load[:3], args.load[3:]
        when = datetime.fromtimestamp(args.from_log.stat().st_mtime, UTC)  # the run's end
        return write_report(args.out, commit, status, lines, load_start, load_end, when,
                            busy=args.busy)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=args.repo,
                            capture_output=True, text=True, check=True).stdout.strip()
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="segedu-ci-") as folder:
        clone = Path(folder) / "segedu"
        subprocess.run(["git", "clone", "-q", "--no-local", str(args.repo), str(clone)],
                       check=True)
        group = CpuGroup.open(f"segedu-ci-{os.getpid()}")
        with busy_loops(args.busy):
            ticks_start, used_start = cpu_ticks(), children_cpu_seconds()
            status, lines = run_ci(clone, group)
            ticks_end, used = cpu_ticks(), children_cpu_seconds() - used_start
        if group is not None:  # read after the processes that outlive .ci/run have ended
            used, counted = group.close(), "cgroup"
        else:
            counted = "waited"
    load_end = os.getloadavg()
    busy_share = (None if ticks_start is None else
                  (ticks_end[0] - ticks_start[0]) / max(1, ticks_end[1] - ticks_start[1]))
    return write_report(args.out, commit, status, lines, load_start, load_end,
                        datetime.now(UTC), busy=args.busy, cpu_seconds=used,
                        busy_share=busy_share, counted=counted)


# How the CPU seconds were counted (cpu_line).
COUNTED = {
    "cgroup": "user + system of every process CI started, counted by a cgroup",
    "waited": "user + system, with the processes they waited for; a process that left the tree, "
              "a warm kernel's zygote, is not counted",
}


def cpu_line(cpu_seconds: float | None, busy_share: float | None, wall: float,
             counted: str = "waited") -> str:
    """What CI's processes used of the CPUs, and the shortest run that this allows."""
    if cpu_seconds is None:
        return "CPU seconds: not measured (the report was rewritten from a log)."
    cpus = os.cpu_count() or 1
    busy = ("" if busy_share is None else
            f" The machine's CPUs were {100 * busy_share:.1f} % busy over the run (all its "
            "processes, a busy loop's included).")
    return (f"CPU: CI's processes used {cpu_seconds:.0f} CPU-seconds ({COUNTED[counted]}) "
            f"in {wall:.0f} s of wall time, {cpu_seconds / wall:.2f} "
            f"CPUs on average; on {cpus} CPUs no run of this suite ends in less than "
            f"{cpu_seconds / cpus:.0f} s ({cpu_seconds / cpus / 60:.1f} min).{busy}")


def write_report(out: Path, commit: str, status: int, lines: list[tuple[float, str]],
                 load_start, load_end, when: datetime, *, busy: int = 0,
                 cpu_seconds: float | None = None, busy_share: float | None = None,
                 counted: str = "waited") -> int:
    """Write the Markdown report of one run; return its exit status."""
    total = lines[-1][0]
    report = [
        "# Time of CI (`bash .ci/run` on a fresh clone)",
        "",
        f"Written by `benchmarks/ci_time.py` (its docstring says how). Commit {commit}, "
        f"{when:%Y-%m-%d %H:%M} UTC, {cpu()}, Python {platform.python_version()}. "
        f"Load average (1, 5, 15 min) at the start {[round(x, 2) for x in load_start]}, at the end "
        f"{[round(x, 2) for x in load_end]}. "
        + (f"{busy} CPU-bound process(es) (a Python loop) ran beside CI the whole time. "
           if busy else "Nothing was started beside CI. ")
        + f"Exit status of `.ci/run`: {status}.",
        "",
        f"**Total: {total:.0f} s ({total / 60:.1f} min).** The goal: at most 10 min "
        "quiet, 14 min beside one busy process.",
        "",
        cpu_line(cpu_seconds, busy_share, total, counted),
        "",
        "| phase | seconds | minutes |",
        "| --- | --- | --- |",
        *[f"| {name} | {seconds:.0f} | {seconds / 60:.1f} |" for name, seconds in phases(lines)],
        "",
        "pytest's slowest tests and its summary:",
        "",
        "```text",
        *pytest_report(lines),
        "```",
        "",
    ]
    out.write_text("\n".join(report), encoding="utf8")
    print(f"wrote {out}")
    return status


if __name__ == "__main__":
    sys.exit(main())
