"""Speed of the autograder: what its guard and ``--isolate`` cost per submission (lab 02), and a
class graded with two workers (labs 02 and 06), projected to 300 submissions, then regraded
unchanged.

    python benchmarks/grade_speed.py               # both parts, written to results
    python benchmarks/grade_speed.py --count 4     # a quick look (not written to results)
    python benchmarks/grade_speed.py --part class --class-size 4 --write

The submissions are copies of ``labs/02_conv_arithmetic.ipynb`` (run ``python -m segedu.grading
generate`` first if ``labs/`` is missing), half of them solved (the solution without its hidden
tests: full points), half untouched (0 points). Each one is graded three ways, one after the other
(so that the three see the same load), one submission at a time, with ``SEGEDU_FAST=1``:

- **unguarded**: what ``segedu-grade`` did before it had the guard: the prepared notebook run by
  :func:`~segedu.grading.run.sandbox.run_notebook` without the guard, graded cells as they are;
- **guarded**: :func:`~segedu.grading.run.grade_one.grade_submission`: the answers read before the
  run, the guard in the kernel, signed records checked;
- **guarded + isolate**: the same inside bubblewrap (skipped, and said so, without ``bwrap``).

It prints and writes to ``benchmarks/results/grade_speed.md`` the mean seconds per submission of
each way, their ratio to the unguarded one measured in the same run, the time of the static reading
alone, whether every row had the points it must have, and the load average at the start.

**A class** (``--part class``): for each of labs 02 and 06, ``--class-size`` submissions (half
solved, half untouched, as above) are graded by :func:`~segedu.grading.run.batch.grade_batch` with
two workers and ``SEGEDU_FAST=1``, as ``segedu-grade --workers 2 --fast`` does; the wall time,
divided by the class size and multiplied by 300, is the projection to 300 submissions (the goal for
lab 02 is at most 30 minutes). Then the same class is graded again, unchanged: every stored result
is reused (:mod:`segedu.grading.results.cache`), and that time is recorded too.

Each part writes its own section of the results file and keeps the other's as it was.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from segedu.grading.labs.assignment import Assignment
from segedu.grading.labs.notebook import graded_cells, is_hidden_tests, read_notebook
from segedu.grading.run.batch import grade_batch
from segedu.grading.run.cell_guard_channel import guard_plan
from segedu.grading.run.grade_one import Limits, grade_submission
from segedu.grading.run.isolation import isolation_problem
from segedu.grading.run.prepare import prepare
from segedu.grading.run.sandbox import run_notebook
from segedu.grading.run.static_scan import scan

ROOT = Path(__file__).resolve().parents[1]
LAB, SOLUTION = (ROOT / "labs" / "02_conv_arithmetic.ipynb",
                 ROOT / "solutions" / "02_conv_arithmetic.ipynb")
CLASS_LABS = ("02_conv_arithmetic", "06_cells")
PROJECTED = 300  # submissions
GOAL_MINUTES = 30  # for lab 02
RESULTS = Path(__file__).parent / "results" / "grade_speed.md"
TITLE = "# Autograder speed"
WAYS_HEADING = "## The guard and --isolate, per submission (lab 02)"
CLASS_HEADING = "## A class with two workers, projected to 300, and an unchanged regrade"


def unguarded(data: bytes, assignment: Assignment, limits: Limits) -> float:
    """Points as the grader gave them before the guard: nbval's pass/fail of each graded cell."""
    prepared = prepare(nbformat.reads(data.decode("utf8"), as_version=4), assignment)
    run = run_notebook(nbformat.writes(prepared.notebook), cell_timeout=limits.cell_timeout,
                       timeout=limits.timeout, memory_mb=limits.memory_mb, env={"SEGEDU_FAST": "1"})
    return sum(assignment.points[gid] for number, gid in prepared.graded.items()
               if number in run.cells and run.cells[number].passed)


def _machine(load: tuple[float, float, float]) -> str:
    return (f"on {platform.machine()} ({os.cpu_count()} cores), CPU only, `SEGEDU_FAST=1`, "
            f"`OMP_NUM_THREADS=1`; load average at the start {load[0]:.2f}, {load[1]:.2f}, "
            f"{load[2]:.2f}")


def _class_submissions(folder: Path, lab: Path, solution: Path, size: int) -> float:
    """``size`` submissions in ``folder``, even numbers solved, odd ones untouched; the points
    of a solved one (its graded cells, hidden tests included)."""
    solved = read_notebook(solution)
    solved.cells = [c for c in solved.cells if not is_hidden_tests(c)]
    folder.mkdir(parents=True)
    for number in range(size):
        data = nbformat.writes(solved) if number % 2 == 0 else lab.read_text(encoding="utf8")
        (folder / f"s{number:03d}.ipynb").write_text(data, encoding="utf8")
    return sum(c.points for c in graded_cells(read_notebook(solution)))


def measure_class(size: int) -> str:
    """The section "a class": labs 02 and 06 graded with two workers, then again unchanged."""
    load = os.getloadavg()
    limits = Limits(cell_timeout=300, timeout=900, memory_mb=4096, fast=True)
    lines = [
        CLASS_HEADING,
        "",
        f"Measured {datetime.date.today()} with `python benchmarks/grade_speed.py --part class "
        f"--class-size {size}{' --write' if size < 10 else ''}` {_machine(load)}. Each lab: "
        f"{size} submissions, half solved, half "
        "untouched, graded by `grade_batch` with two workers (as `segedu-grade --workers 2 "
        "--fast`), then graded again with nothing changed (every stored result reused). The "
        f"projection is the first run's time per submission times {PROJECTED}.",
        "",
        f"| lab | submissions | first run (s) | per submission (s) | projected to {PROJECTED} "
        "(min) | unchanged regrade (s) | rows as expected |",
        "| --- | ---: | ---: | ---: | ---: | ---: | :---: |",
    ]
    projection = {}
    for name in CLASS_LABS:
        lab, solution = ROOT / "labs" / f"{name}.ipynb", ROOT / "solutions" / f"{name}.ipynb"
        with tempfile.TemporaryDirectory(prefix="grade-speed-") as folder:
            submissions, out = Path(folder) / "submissions", Path(folder) / "out"
            points = _class_submissions(submissions, lab, solution, size)
            start = time.perf_counter()
            rows, _ = grade_batch(lab, submissions, out, solution=solution, workers=2,
                                  limits=limits)
            first = time.perf_counter() - start
            start = time.perf_counter()
            again, _ = grade_batch(lab, submissions, out, solution=solution, workers=2,
                                   limits=limits)
            unchanged = time.perf_counter() - start
        expected = {f"s{n:03d}": points if n % 2 == 0 else 0.0 for n in range(size)}
        wrong = [f"{r.student_id} {r.total:g} {r.status}" for r in rows + again
                 if r.total != expected[r.student_id] or r.status != "ok"]
        print(f"{name}: first {first:.1f} s, unchanged {unchanged:.1f} s", flush=True)
        if wrong:
            print("rows not as expected:", wrong[:10])
        projected = projection[name] = first / size * PROJECTED / 60
        lines.append(f"| `{name}` | {size} | {first:.1f} | {first / size:.2f} | "
                     f"{projected:.1f} | {unchanged:.2f} | "
                     f"{'yes' if not wrong else f'no: {len(wrong)}'} |")
    # what the command adds to a regrade: a fresh Python importing the grader (nbformat, torch)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import segedu.grading.cli"], check=True)
    startup = time.perf_counter() - start
    met = projection[CLASS_LABS[0]] <= GOAL_MINUTES
    lines += [
        "",
        f"Goal: lab 02's projection at most {GOAL_MINUTES} minutes: "
        f"{'met' if met else 'not met'} in this run ({projection[CLASS_LABS[0]]:.0f} min at a "
        f"load average of {load[0]:.1f} on {os.cpu_count()} cores). The first run includes, for "
        "every submission, pytest and kernel start-up and importing torch; the unchanged regrade "
        "reads and hashes the lab, the solution and each submission, reads the stored results "
        "and writes the gradebook and the feedback again. The `segedu-grade` command adds its "
        f"own start-up to a regrade: {startup:.1f} s to import the grader (nbformat, torch) in a "
        "fresh Python, measured in the same run. A small class on a shared machine: the load "
        "average above says how shared.",
    ]
    return "\n".join(lines) + "\n"


def measure_ways(count: int) -> str:
    """The section "the guard and --isolate": lab 02 graded three ways, one at a time."""
    load = os.getloadavg()
    assignment = Assignment.from_bytes(LAB.read_bytes(), SOLUTION.read_bytes())
    max_total = sum(c.points for c in graded_cells(read_notebook(SOLUTION)))
    solved = read_notebook(SOLUTION)
    solved.cells = [c for c in solved.cells if not is_hidden_tests(c)]
    kinds = {"solved": nbformat.writes(solved).encode(), "untouched": LAB.read_bytes()}
    expected = {"solved": max_total, "untouched": 0.0}
    problem = isolation_problem()
    ways = ["unguarded", "guarded"] + ([] if problem else ["guarded + isolate"])
    limits = Limits(cell_timeout=300, timeout=900, memory_mb=4096, fast=True)
    isolated = Limits(cell_timeout=300, timeout=900, memory_mb=4096, fast=True, isolate=True)
    hidden = (LAB.parent, SOLUTION.parent)
    plan = guard_plan(assignment)
    seconds: dict[str, list[float]] = {way: [] for way in ways}
    wrong: list[str] = []
    scan_seconds = []
    for number in range(count):
        kind = "solved" if number % 2 == 0 else "untouched"
        data = kinds[kind]
        start = time.perf_counter()
        scan(prepare(nbformat.reads(data.decode("utf8"), as_version=4), assignment).notebook,
             assignment.lab)
        scan_seconds.append(time.perf_counter() - start)
        for way in ways:
            start = time.perf_counter()
            if way == "unguarded":
                total, status = unguarded(data, assignment, limits), "ok"
            else:
                row = grade_submission(f"s{number}", data, assignment,
                                       isolated if way.endswith("isolate") else limits,
                                       hidden=hidden, plan=plan)
                total, status = row.total, row.status
            seconds[way].append(time.perf_counter() - start)
            if total != expected[kind] or status != "ok":
                wrong.append(f"{way} {kind}: {total} {status}")
        print(f"{number + 1}/{count} "
              + ", ".join(f"{w} {seconds[w][-1]:.2f} s" for w in ways),
              flush=True)
    base = statistics.mean(seconds["unguarded"])
    lines = [
        WAYS_HEADING,
        "",
        f"Measured {datetime.date.today()} with `python benchmarks/grade_speed.py --part ways "
        f"--count {count}` {_machine(load)} (other jobs shared the machine: compare the ratios, "
        "measured in the same run, more than the seconds).",
        "",
        f"Lab `labs/02_conv_arithmetic.ipynb` with the hidden tests of its solution; {count}"
        " submissions, half solved, half untouched, one at a time, each graded the three ways in "
        "turn.",
        "",
        "| way | mean per submission (s) | median (s) | ratio to unguarded | rows as expected |",
        "| --- | ---: | ---: | ---: | :---: |",
    ]
    for way in ways:
        bad = [w for w in wrong if w.startswith(way + " ")]
        lines.append(f"| {way} | {statistics.mean(seconds[way]):.2f} | "
                     f"{statistics.median(seconds[way]):.2f} | "
                     f"{statistics.mean(seconds[way]) / base:.2f} | "
                     f"{'yes' if not bad else f'no: {len(bad)}'} |")
    lines += [
        "",
        "Reading the answers before the run (`segedu.grading.run.static_scan.scan`, included in "
        f"*guarded*): {1000 * statistics.mean(scan_seconds):.0f} ms per submission.",
    ]
    if problem:
        lines += ["", f"`--isolate` not measured: {problem}."]
    lines += ["",
              "Each way includes pytest and kernel start-up and importing torch in every kernel;"
              " *guarded* also imports, at kernel start, the modules the graded cells use, to "
              "record them before any cell runs."]
    if wrong:
        print("rows not as expected:", wrong[:10])
    return "\n".join(lines) + "\n"


def _sections(text: str) -> dict[str, str]:
    """The results file's sections by heading (a file without sections: none)."""
    found, heading = {}, None
    for line in text.splitlines(keepends=True):
        if line.startswith("## "):
            heading = line.strip()
            found[heading] = ""
        if heading is not None:
            found[heading] += line
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("ways", "class", "all"), default="all")
    parser.add_argument("--count", type=int, default=10, help="submissions of the 'ways' part")
    parser.add_argument("--class-size", type=int, default=10,
                        help="submissions per lab of the 'class' part")
    parser.add_argument("--write", action="store_true",
                        help="write the results even below 10 submissions")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sections = _sections(RESULTS.read_text(encoding="utf8")) if RESULTS.is_file() else {}
    measured = {}
    if args.part in ("ways", "all"):
        measured[WAYS_HEADING] = measure_ways(args.count)
    if args.part in ("class", "all"):
        measured[CLASS_HEADING] = measure_class(args.class_size)
    for text in measured.values():
        print(text)
    if args.write or min(args.count, args.class_size) >= 10:
        sections.update(measured)
        order = [WAYS_HEADING, CLASS_HEADING]
        body = "\n".join(sections[h].rstrip("\n") + "\n" for h in order if h in sections)
        RESULTS.write_text(f"{TITLE}\n\n{body}", encoding="utf8")
        print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
