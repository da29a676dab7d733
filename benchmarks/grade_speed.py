"""Speed of the autograder, and what its guard and ``--isolate`` cost per submission (lab 02).

    python benchmarks/grade_speed.py               # 10 submissions x 3 ways, written to results
    python benchmarks/grade_speed.py --count 4     # a quick look (not written to results)

The submissions are copies of ``labs/02_conv_arithmetic.ipynb`` (run ``python -m segedu.grading
generate`` first if ``labs/`` is missing), half of them solved (the solution without its hidden
tests: full points), half untouched (0 points). Each one is graded three ways, one after the other
(so that the three see the same load), one submission at a time, with ``SEGEDU_FAST=1``:

- **unguarded**: what ``segedu-grade`` did before issue 21: the prepared notebook run by
  :func:`~segedu.grading.sandbox.run_notebook` without the guard, graded cells as they are;
- **guarded**: :func:`~segedu.grading.grade.grade_submission`: the answers read before the run,
  the guard in the kernel, signed records checked;
- **guarded + isolate**: the same inside bubblewrap (skipped, and said so, without ``bwrap``).

It prints and writes to ``benchmarks/results/grade_speed.md`` the mean seconds per submission of
each way, their ratio to the unguarded one measured in the same run, the time of the static reading
alone, whether every row had the points it must have, and the load average at the start.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import time
from pathlib import Path

import nbformat

from segedu.grading.answers import scan
from segedu.grading.grade import Limits, grade_submission, guard_plan
from segedu.grading.notebook import graded_cells, is_hidden_tests, read_notebook
from segedu.grading.prepare import Assignment, prepare
from segedu.grading.sandbox import isolation_problem, run_notebook

ROOT = Path(__file__).resolve().parents[1]
LAB, SOLUTION = (ROOT / "labs" / "02_conv_arithmetic.ipynb",
                 ROOT / "solutions" / "02_conv_arithmetic.ipynb")
RESULTS = Path(__file__).parent / "results" / "grade_speed.md"


def unguarded(data: bytes, assignment: Assignment, limits: Limits) -> float:
    """Points as the grader gave them before the guard: nbval's pass/fail of each graded cell."""
    prepared = prepare(nbformat.reads(data.decode("utf8"), as_version=4), assignment)
    run = run_notebook(nbformat.writes(prepared.notebook), cell_timeout=limits.cell_timeout,
                       timeout=limits.timeout, memory_mb=limits.memory_mb, env={"SEGEDU_FAST": "1"})
    return sum(assignment.points[gid] for number, gid in prepared.graded.items()
               if number in run.cells and run.cells[number].passed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10)
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
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
    for number in range(args.count):
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
        print(f"{number + 1}/{args.count} "
              + ", ".join(f"{w} {seconds[w][-1]:.2f} s" for w in ways),
              flush=True)
    base = statistics.mean(seconds["unguarded"])
    lines = [
        "# Autograder speed: the guard and --isolate",
        "",
        f"Measured {datetime.date.today()} with `python benchmarks/grade_speed.py --count "
        f"{args.count}` on {platform.machine()} ({os.cpu_count()} cores), CPU only, "
        f"`SEGEDU_FAST=1`, `OMP_NUM_THREADS=1`; load average at the start {load[0]:.2f}, "
        f"{load[1]:.2f}, {load[2]:.2f} (other jobs shared the machine: compare the ratios, "
        "measured in the same run, more than the seconds).",
        "",
        f"Lab `labs/02_conv_arithmetic.ipynb` with the hidden tests of its solution; {args.count}"
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
        "Reading the answers before the run (`segedu.grading.answers.scan`, included in "
        f"*guarded*): {1000 * statistics.mean(scan_seconds):.0f} ms per submission.",
    ]
    if problem:
        lines += ["", f"`--isolate` not measured: {problem}."]
    lines += ["",
              "Each way includes pytest and kernel start-up and importing torch in every kernel;"
              " *guarded* also imports, at kernel start, the modules the graded cells use, to "
              "record them before any cell runs."]
    text = "\n".join(lines) + "\n"
    print(text)
    if wrong:
        print("rows not as expected:", wrong[:10])
    if args.count >= 10:
        RESULTS.write_text(text, encoding="utf8")
        print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
