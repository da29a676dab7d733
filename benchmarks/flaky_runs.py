"""Do the browser tests and the grading batches pass every time on a busy machine? Run them again
and again under load and count.

Usage::

    python benchmarks/flaky_runs.py [--runs 10] [--busy 2] [--cpus 0] [--workers 2] \
        [--book <BOOK_OUT folder>] [--out benchmarks/results/flaky_runs.md] [node ids ...]

Each run starts ``--busy`` CPU-bound processes (a Python loop each, at the tests' own priority)
beside one ``pytest -n --workers`` of the chosen tests, records every test's outcome from pytest's
JUnit XML, and stops the busy processes. ``--cpus 0`` pins the tests and the busy processes to the
listed CPUs (``taskset -c``: one core shared by all of them). The tests that need the executed book
reuse one fast-mode build (``SEGEDU_SITE_BUILD``): ``--book`` names a finished one, otherwise it is
built once before the first run (``SEGEDU_FAST=1 make book``, about 4 min). What is measured is
whether the checks settle before they look, not the build.

The report gives, per test, how many runs passed and each failure's first line, the machine and
its load average before and after, and the settings. A test that fails one run in ten is a failure
of the suite: find whether the product or the test is wrong.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
# the machine's description, as the CI report gives it, and the busy loops of its --busy
from ci_time import busy_loops, cpu  # noqa: E402

# The tests that drive Chromium or JupyterLab, and the ones that grade a batch of submissions in
# kernels with time limits: the tests whose outcome could depend on how fast the machine is.
DEFAULT_TESTS = [
    "tests/test_site.py::test_every_page_of_the_book_loads_cleanly_in_chromium",
    "tests/test_slides.py::test_every_deck_loads_and_every_slide_fits_in_chromium",
    "tests/test_slides.py::test_formula_slides_fit_on_a_busy_machine",
    "tests/test_slides.py::test_a_deck_prints_to_pdf_one_page_per_slide",
    "tests/test_jupyterlab_open_save.py",
    "tests/test_code_width.py",
    "tests/grading/test_manual_page.py",
    "tests/grading/test_grade.py::test_a_batch_of_broken_submissions",
    "tests/grading/test_grade.py::test_cli_help_and_a_submission_that_tampers",
    "tests/grading/test_tamper.py::test_attacks_on_the_grader_get_no_points",
    "tests/grading/test_tamper.py::test_isolate_hides_the_solution_the_network_and_the_disk",
    "tests/grading/test_interrupt.py",
    "tests/grading/test_feedback_notes.py",
    "tests/grading/test_gradescope.py",
]


# the test files whose tests read the executed book (tests/conftest.py, BOOK_TESTS)
BOOK_FILES = ("tests/test_book.py", "tests/test_site.py", "tests/test_slides.py")


def build_book(folder: Path) -> None:
    """A fast-mode book build as the tests make it (conftest.fast_book_build)."""
    subprocess.run(["make", "book", f"BOOK_OUT={folder}",
                    "BOOK_KERNEL_ENV=tests/student_install.py"], cwd=ROOT, check=True,
                   env=dict(os.environ, SEGEDU_FAST="1", MPLBACKEND="Agg"))


def one_run(tests: list[str], *, busy: int, cpus: str | None, workers: int, book: Path | None,
            junit: Path) -> dict[str, tuple[str, str]]:
    """Run ``tests`` once beside ``busy`` loops: {test id: (outcome, first line of a failure)}."""
    pin = ["taskset", "-c", cpus] if cpus else []
    with busy_loops(busy, pin):
        env = dict(os.environ, SEGEDU_FAST="1", MPLBACKEND="Agg", OMP_NUM_THREADS="1",
                   SEGEDU_REQUIRE_BROWSER="1", **({"SEGEDU_SITE_BUILD": str(book)} if book else {}))
        subprocess.run([*pin, sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        "-n", str(workers), f"--junitxml={junit}", *tests],
                       cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    outcomes = {}
    for case in ET.parse(junit).iter("testcase"):
        test = f"{case.get('classname')}::{case.get('name')}"
        failure = case.find("failure")
        if failure is None:
            failure = case.find("error")
        if failure is not None:
            message = (failure.get("message") or failure.text or "").strip().splitlines()
            outcomes[test] = ("failed", message[0][:200] if message else "")
        elif case.find("skipped") is not None:
            outcomes[test] = ("skipped", (case.find("skipped").get("message") or "")[:200])
        else:
            outcomes[test] = ("passed", "")
    return outcomes


def report(out: Path, runs: list[dict], args, seconds: list[float], load_start, load_end) -> None:
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    failures: dict[str, list[str]] = defaultdict(list)
    for number, outcomes in enumerate(runs, 1):
        for test, (outcome, message) in outcomes.items():
            counts[test][outcome] += 1
            if outcome == "failed":
                failures[test].append(f"run {number}: {message}")
    where = f"pinned to CPU {args.cpus} (`taskset -c`)" if args.cpus else "on every CPU"
    lines = [
        "# The browser tests and the grading batches, run again and again on a busy machine",
        "",
        f"Written by `benchmarks/flaky_runs.py` (its docstring says how), "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {cpu()}, Python {platform.python_version()}. "
        f"{len(runs)} runs of `pytest -n {args.workers}`, each beside {args.busy} CPU-bound "
        f"process(es), {where}; the runs took {min(seconds):.0f} to {max(seconds):.0f} s. Load "
        f"average (1, 5, 15 min) at the start {[round(x, 2) for x in load_start]}, at the end "
        f"{[round(x, 2) for x in load_end]}.",
        "",
        "| test | passed | failed | skipped |",
        "| --- | --- | --- | --- |",
        *[f"| `{test}` | {c['passed']} | {c['failed']} | {c['skipped']} |"
          for test, c in sorted(counts.items())],
        "",
    ]
    total_failed = sum(c["failed"] for c in counts.values())
    total = sum(sum(c.values()) for c in counts.values())
    lines.append(f"**{total_failed} failure(s) in {total} test runs.**")
    for test, messages in sorted(failures.items()):
        lines += ["", f"`{test}`:", "", *[f"- {m}" for m in messages]]
    out.write_text("\n".join(lines) + "\n", encoding="utf8")
    print(f"wrote {out}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("tests", nargs="*", default=DEFAULT_TESTS)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--busy", type=int, default=2, help="CPU-bound processes beside the tests")
    parser.add_argument("--cpus", default=None, help="taskset's CPU list for everything, e.g. 0")
    parser.add_argument("--workers", type=int, default=2,
                        help="pytest-xdist workers (0: the tests run in pytest's own process)")
    parser.add_argument("--book", type=Path, default=None, help="a finished fast-mode BOOK_OUT")
    parser.add_argument("--out", type=Path,
                        default=ROOT / "benchmarks" / "results" / "flaky_runs.md")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.busy < 0 or args.workers < 0:
        parser.error("--runs must be at least 1, --busy and --workers at least 0")
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="segedu-flaky-") as folder:
        book = args.book
        if book is None and any(test.startswith(BOOK_FILES) for test in args.tests):
            book = Path(folder) / "book"
            build_book(book)
        runs, seconds = [], []
        for number in range(1, args.runs + 1):
            start = time.perf_counter()
            runs.append(one_run(args.tests, busy=args.busy, cpus=args.cpus, workers=args.workers,
                                book=book, junit=Path(folder) / f"run{number}.xml"))
            seconds.append(time.perf_counter() - start)
            failed = [t for t, (o, _) in runs[-1].items() if o == "failed"]
            print(f"run {number}: {len(runs[-1])} tests, {len(failed)} failed "
                  f"({seconds[-1]:.0f} s) {failed}", flush=True)
            report(args.out, runs, args, seconds, load_start, os.getloadavg())  # after each run
    return 0


if __name__ == "__main__":
    sys.exit(main())
