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


def test_a_cgroup_counts_a_process_that_left_the_tree():
    """A warm kernel's zygote is nobody's waited-for child: getrusage misses it, the cgroup not."""
    group = ci_time.CpuGroup.open(f"segedu-test-{os.getpid()}")
    if group is None:
        import pytest

        pytest.skip("no cgroup v1 cpuacct hierarchy that this user may write to")
    # the child spins in a process that leaves the tree at once (a double fork, its own session),
    # as the zygote does
    leave = ("import os, sys\nif os.fork() == 0:\n    os.setsid()\n"
             "    if os.fork() == 0:\n        exec(sys.argv[1])\n    os._exit(0)\nos._exit(0)")
    used = ci_time.children_cpu_seconds()
    try:
        subprocess.run(group.command([sys.executable, "-c", leave, SPIN]), check=True)
    finally:
        seconds = group.close()
    waited = ci_time.children_cpu_seconds() - used
    assert waited < 0.4, waited  # the spinner was not waited for
    assert 0.4 <= seconds < 5, seconds  # the group counted it (it waited for it to end)
    assert not group.path.exists(), "the group was not removed after its last process ended"


def test_the_report_line_says_how_the_seconds_were_counted():
    assert "counted by a cgroup" in ci_time.cpu_line(1200.0, None, 600.0, "cgroup")
    assert "is not counted" in ci_time.cpu_line(1200.0, None, 600.0)


def test_the_cpu_report_sums_by_area_and_names_the_costliest(tmp_path):
    """benchmarks/ci_cpu.py: a folder of tests is one area, a file at the top of tests/ another;
    the shares are of the seconds charged to tests."""
    import ci_cpu

    records = [{"id": "tests/grading/test_a.py::test_x", "cpu": 30.0, "wall": 20.0},
               {"id": "tests/grading/test_b.py::test_y[1]", "cpu": 10.0, "wall": 5.0},
               {"id": "tests/test_book.py::test_z", "cpu": 60.0, "wall": 30.0}]
    out = tmp_path / "ci_cpu.md"
    ci_cpu.write_report(out, records, commit="abc1234", total=110.0, wall=60.0, status=0)
    text = out.read_text(encoding="utf8")
    assert "| `tests/test_book.py` | 1 | 60 | 60% |" in text
    assert "| `tests/grading` | 2 | 40 | 40% |" in text
    assert text.index("tests/test_book.py` | 1") < text.index("tests/grading` | 2")
    assert "**110 CPU-seconds** in 60 s of wall time; 100 of them charged" in text
    assert "| `tests/grading/test_a.py` | 30.0 |" in text
    assert "about 1128 CPU-seconds" in text  # 600 s x 2 CPUs x 94 %
