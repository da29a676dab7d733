"""benchmarks/flaky_runs.py counts what it says: a test that fails on one run of two is reported
once failed, once passed, with its message, and the busy processes are gone afterwards."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import flaky_runs  # noqa: E402
from ci_time import BUSY  # noqa: E402  (the loop flaky_runs starts)

FLAKY = '''
from pathlib import Path

COUNTER = Path(__file__).with_name("counter")


def test_fails_on_the_second_run():
    runs = int(COUNTER.read_text()) + 1 if COUNTER.exists() else 1
    COUNTER.write_text(str(runs))
    assert runs != 2, "the second run fails"


def test_always_passes():
    pass
'''


def test_a_test_that_fails_once_in_two_runs_is_counted_once(tmp_path):
    tests = tmp_path / "test_toy.py"
    tests.write_text(FLAKY, encoding="utf8")
    out = tmp_path / "report.md"
    assert flaky_runs.main([str(tests), "--runs", "2", "--busy", "1", "--workers", "0",
                            "--book", str(tmp_path), "--out", str(out)]) == 0
    report = out.read_text(encoding="utf8")
    # a test's name in the report is JUnit's, whose module part depends on where pytest's rootdir
    # lies relative to the toy file ("test_toy" or "pytest-of-root. ... .test_toy")
    rows = {line.split("`")[1].rsplit(".", 1)[-1]: line.split("`")[2]
            for line in report.splitlines() if line.startswith("| `")}
    assert rows == {"test_toy::test_fails_on_the_second_run": " | 1 | 1 | 0 |",
                    "test_toy::test_always_passes": " | 2 | 0 | 0 |"}, report
    assert "**1 failure(s) in 4 test runs.**" in report
    assert "- run 2: AssertionError: the second run fails" in report, report
    # the busy loop it started is gone (other runs of the script may have theirs)
    loops = subprocess.run(["pgrep", "-P", str(os.getpid()), "-f", BUSY],
                           capture_output=True, text=True)
    assert loops.stdout == "", loops.stdout
