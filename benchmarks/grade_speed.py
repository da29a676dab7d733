"""Speed of the autograder: 100 submissions of the real lab 02, two workers, fast mode.

    python benchmarks/grade_speed.py                  # 100 submissions, 2 workers
    python benchmarks/grade_speed.py --count 10       # a quick look (not written to results)

The submissions are copies of ``labs/02_conv_arithmetic.ipynb`` (run ``python -m segedu.grading
generate`` first if ``labs/`` is missing):

- solved: the solution without its hidden-test cells, as a student who did everything hands it in
  (every graded cell and hidden test passes: full points);
- untouched: the lab as released (every graded cell fails: 0 points);
- bad: a few invalid JSON files and a few with a graded cell edited to ``assert True`` (restored).

The grader runs them with ``SEGEDU_FAST=1``; the wall time of the whole batch, the mean per
submission, and the check that every row has the points it must have are printed and written to
``benchmarks/results/grade_speed.md``.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import os
import platform
import tempfile
import time
from collections import Counter
from pathlib import Path

import nbformat

from segedu.grading.grade import Limits, grade_batch
from segedu.grading.notebook import graded_cells, is_hidden_tests, read_notebook

ROOT = Path(__file__).resolve().parents[1]
LAB, SOLUTION = ROOT / "labs" / "02_conv_arithmetic.ipynb", ROOT / "solutions" / "02_conv_arithmetic.ipynb"
RESULTS = Path(__file__).parent / "results" / "grade_speed.md"


def make_submissions(folder: Path, count: int) -> dict[str, str]:
    """Write ``count`` submissions; return the kind of each (solved / untouched / bad_json / edited)."""
    solution, lab = read_notebook(SOLUTION), read_notebook(LAB)
    solved = nbformat.from_dict(solution)
    solved.cells = [c for c in solved.cells if not is_hidden_tests(c)]  # what a student hands in
    edited = nbformat.from_dict(lab)
    edited.cells[graded_cells(edited)[0].index].source = "assert True"
    kinds = {}
    bad = max(1, count // 20)  # 5 % invalid JSON, 5 % edited, the rest half solved, half untouched
    for number in range(count):
        kind = ("bad_json" if number < bad else "edited" if number < 2 * bad
                else "solved" if number % 2 else "untouched")
        name = f"student{number:03d}"
        path = folder / f"{name}.ipynb"
        if kind == "bad_json":
            path.write_text('{"cells": [', encoding="utf8")
        else:
            nbformat.write({"solved": solved, "untouched": lab, "edited": edited}[kind], path)
        kinds[name] = kind
    return kinds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # one thread per kernel: the workers share the cores
    limits = Limits(cell_timeout=300, timeout=900, memory_mb=4096, fast=True)
    max_total = sum(c.points for c in graded_cells(read_notebook(SOLUTION)))
    with tempfile.TemporaryDirectory() as folder:
        submissions, out = Path(folder) / "submissions", Path(folder) / "out"
        submissions.mkdir()
        kinds = make_submissions(submissions, args.count)
        start = time.perf_counter()
        grade_batch(LAB, submissions, out, solution=SOLUTION, workers=args.workers, limits=limits)
        wall = time.perf_counter() - start
        with open(out / "gradebook.csv", encoding="utf8", newline="") as file:
            rows = {r["student_id"]: r for r in csv.DictReader(file)}
    # what every row must say: solved -> full points; the others -> 0 (edited: restored, flagged)
    expected_total = {"solved": max_total, "untouched": 0, "bad_json": 0, "edited": 0}
    expected_status = {"bad_json": "invalid"}
    wrong = [name for name, kind in kinds.items()
             if float(rows[name]["total"]) != expected_total[kind]
             or rows[name]["status"] != expected_status.get(kind, "ok")
             or (kind == "edited") != ("was edited" in rows[name]["reason"])]
    counts = Counter(kinds.values())
    ran = args.count - counts["bad_json"]
    lines = [
        "# Autograder speed",
        "",
        f"Measured {datetime.date.today()} with `python benchmarks/grade_speed.py --count {args.count}"
        f" --workers {args.workers}` on {platform.machine()} ({os.cpu_count()} cores), CPU only,"
        " `SEGEDU_FAST=1`, `OMP_NUM_THREADS=1`.",
        "",
        "Lab `labs/02_conv_arithmetic.ipynb` with the hidden tests of its solution; submissions: "
        + ", ".join(f"{counts[k]} {k}" for k in ("solved", "untouched", "edited", "bad_json")) + ".",
        "",
        "| submissions | workers | wall time (s) | mean per submission (s) | mean per executed notebook (s) | rows as expected |",
        "| ---: | ---: | ---: | ---: | ---: | :---: |",
        f"| {args.count} | {args.workers} | {wall:.1f} | {wall / args.count:.2f} | "
        f"{wall / max(ran, 1):.2f} | {'yes' if not wrong else f'no: {len(wrong)} wrong'} |",
        "",
        "Wall time per submission includes pytest and kernel start-up and importing torch in every"
        " kernel; invalid files are not executed.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if wrong:
        print("rows not as expected:", {name: (kinds[name], rows[name]) for name in wrong[:5]})
    if args.count == 100:
        RESULTS.write_text(text, encoding="utf8")
        print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
