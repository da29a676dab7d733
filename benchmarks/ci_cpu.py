"""Where the CPU seconds of ``make test`` go: every test's own, the processes it started included.

Usage::

    python benchmarks/ci_cpu.py [--repo .] [--out benchmarks/results/ci_cpu.md]

CI on two cores ends no sooner than its CPU seconds divided by two (``benchmarks/ci_time.py``
measures both), so a shorter CI needs fewer CPU seconds, and this script says where they are. It
clones the repository's ``HEAD`` into a temporary folder (``git clone --no-local``), installs it
(``make setup bytecode``, not counted), and runs the test target's pytest command there **on one
worker** (``-p no:xdist``: one test at a time), inside a cgroup (v1's ``cpuacct``, as
``ci_time.py``'s :class:`~ci_time.CpuGroup`). This file is also the pytest plugin of that run: it
reads the group's CPU counter before and after each test (setup, call and teardown), so a test is
charged with every process it started, the kernels forked by the warm-kernel zygotes included, and
the book's fast build with the first test that uses it. The report sums the seconds by area (a test
folder, or a test file at the top of ``tests/``) and lists the most expensive files and tests,
beside the budget that the goal of a 10-minute CI on two cores sets.

The seconds of one worker are fewer than those of CI's two (``ci_time.py``): there, each worker
collects the tests and imports the libraries again.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))  # ci_time, the CI timer's helpers
from ci_time import CpuGroup, cpu  # noqa: E402 (after the path it is found on)

# The plugin's settings, given by the script to the pytest run it starts.
GROUP_ENV, OUT_ENV = "SEGEDU_CI_CPU_GROUP", "SEGEDU_CI_CPU_OUT"
# The goal of CI: 10 minutes on two CPUs, of which the measured runs keep about 94 % busy.
GOAL_SECONDS, CPUS, BUSY = 600, 2, 0.94


# --- the plugin (loaded by the run with ``-p ci_cpu``) ------------------------------------------


def _group_seconds() -> float:
    with open(os.path.join(os.environ[GROUP_ENV], "cpuacct.usage"), encoding="ascii") as file:
        return int(file.read()) / 1e9


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):  # noqa: ARG001 (pytest's hook signature)
    """Charge the test with the group's CPU seconds from its setup to its teardown."""
    if GROUP_ENV not in os.environ:
        return (yield)
    cpu, wall = _group_seconds(), time.perf_counter()
    outcome = yield
    record = {"id": item.nodeid, "cpu": _group_seconds() - cpu,
              "wall": time.perf_counter() - wall}
    with open(os.environ[OUT_ENV], "a", encoding="utf8") as file:
        file.write(json.dumps(record) + "\n")
    return outcome


# --- the report ---------------------------------------------------------------------------------


def area(nodeid: str) -> str:
    """``tests/grading``, ``tests/models``... or the file itself at the top of ``tests/``."""
    parts = nodeid.split("::", 1)[0].split("/")
    return "/".join(parts[:2])


def write_report(out: Path, records: list[dict], *, commit: str, total: float, wall: float,
                 status: int) -> None:
    per_area, per_file = collections.Counter(), collections.Counter()
    counts = collections.Counter()
    for record in records:
        per_area[area(record["id"])] += record["cpu"]
        per_file[record["id"].split("::", 1)[0]] += record["cpu"]
        counts[area(record["id"])] += 1
    charged = sum(per_area.values())
    budget = GOAL_SECONDS * CPUS * BUSY
    lines = [
        "# Where the CPU seconds of `make test` go",
        "",
        f"Written by `benchmarks/ci_cpu.py` (its docstring says how). Commit {commit}, "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {cpu()}, Python {platform.python_version()}. "
        "The tests ran one at a "
        f"time (no pytest-xdist) in a cgroup; exit status of pytest: {status}.",
        "",
        f"**{total:.0f} CPU-seconds** in {wall:.0f} s of wall time; {charged:.0f} of them charged "
        f"to tests (the rest: collecting them, pytest's start and end). A 10-minute CI on "
        f"{CPUS} CPUs kept {BUSY:.0%} busy has about {budget:.0f} CPU-seconds, the install "
        "included.",
        "",
        "| area | tests | CPU-seconds | share |",
        "| --- | ---: | ---: | ---: |",
    ]
    lines += [f"| `{name}` | {counts[name]} | {seconds:.0f} | {seconds / charged:.0%} |"
              for name, seconds in per_area.most_common()]
    lines += ["", "The 25 most expensive test files:", "", "| file | CPU-seconds |",
              "| --- | ---: |"]
    lines += [f"| `{name}` | {seconds:.1f} |" for name, seconds in per_file.most_common(25)]
    lines += ["", "The 25 most expensive tests (a module's or the session's fixtures are charged "
              "to the first test that uses them):", "", "| test | CPU-seconds | wall seconds |",
              "| --- | ---: | ---: |"]
    for record in sorted(records, key=lambda r: -r["cpu"])[:25]:
        name = record["id"] if len(record["id"]) <= 110 else record["id"][:107] + "..."
        lines.append(f"| `{name}` | {record['cpu']:.1f} | {record['wall']:.1f} |")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n", encoding="utf8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repo", type=Path, default=ROOT)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/ci_cpu.md")
    args = parser.parse_args(argv)
    group = CpuGroup.open(f"segedu-ci-cpu-{os.getpid()}")
    if group is None:
        print("error: no cgroup v1 cpuacct hierarchy (or no permission) to count the CPU of the "
              "run's processes in", file=sys.stderr)
        return 2
    commit = subprocess.run(["git", "-C", str(args.repo), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True, check=True).stdout.strip()
    with tempfile.TemporaryDirectory(prefix="segedu-ci-cpu-") as folder:
        clone, records = Path(folder) / "clone", Path(folder) / "tests.jsonl"
        subprocess.run(["git", "clone", "-q", "--no-local", str(args.repo), str(clone)],
                       check=True)
        subprocess.run(["make", "setup", "bytecode"], cwd=clone, check=True)
        env = dict(os.environ, SEGEDU_FAST="1", MPLBACKEND="Agg", OMP_NUM_THREADS="1",
                   SEGEDU_REQUIRE_BROWSER="1", PYTHONPATH=str(ROOT / "benchmarks"),
                   **{GROUP_ENV: str(group.path), OUT_ENV: str(records)})
        start = time.perf_counter()
        # the test target's command (Makefile), on one worker, with this file as a plugin
        done = subprocess.run(group.command([
            str(clone / ".venv/bin/python"), "-m", "pytest", "-p", "no:xdist", "-p", "ci_cpu",
            "--timeout=900", "-q"]), cwd=clone, env=env)
        wall = time.perf_counter() - start
        total = group.close()
        rows = [json.loads(line) for line in records.read_text(encoding="utf8").splitlines()]
    write_report(args.out, rows, commit=commit, total=total, wall=wall, status=done.returncode)
    print(f"wrote {args.out}: {total:.0f} CPU-seconds, exit status {done.returncode}")
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
