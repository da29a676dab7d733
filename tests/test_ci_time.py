"""benchmarks/ci_time.py's CPU accounting: the CPU seconds of the processes it waited for, how busy
the machine was, and the shortest run those seconds allow."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import ci_time  # noqa: E402

SPIN = "import time\nend = time.process_time() + 0.4\nwhile time.process_time() < end: pass"


def test_a_child_that_spins_is_counted_and_the_machine_was_busy():
    ticks, used = ci_time.cpu_ticks(), ci_time.children_cpu_seconds()
    subprocess.run([sys.executable, "-c", SPIN], check=True)
    spent = ci_time.children_cpu_seconds() - used
    assert 0.4 <= spent < 5, spent  # its 0.4 s of spinning, and its interpreter's start
    after = ci_time.cpu_ticks()
    if ticks is not None:  # Linux: /proc/stat
        busy, total = after[0] - ticks[0], after[1] - ticks[1]
        assert 0 < busy <= total


def test_the_report_line_gives_the_floor_that_the_cpu_seconds_set():
    cpus = os.cpu_count() or 1
    line = ci_time.cpu_line(1200.0, 0.997, 600.0)
    assert "1200 CPU-seconds" in line and "2.00 CPUs on average" in line
    assert f"no run of this suite ends in less than {1200 / cpus:.0f} s" in line
    assert "99.7 % busy" in line
    assert "not measured" in ci_time.cpu_line(None, None, 600.0)
