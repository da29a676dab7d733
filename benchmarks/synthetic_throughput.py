"""Images per second of the synthetic generators, in one process.

    python benchmarks/synthetic_throughput.py            # one thread, as in a DataLoader worker
    python benchmarks/synthetic_throughput.py --threads 2

Each generator makes distinct items (index 0, 1, 2, ...) for at least ``--seconds`` seconds after
a short warm-up; the time covers everything ``dataset[i]`` does (drawing, rendering, building the
target). Both the wall-clock rate and the rate per second of this process's CPU time are given:
other jobs on a shared machine lower the first, much less the second.

In the same run, the generators as they were at ``--before`` (a git revision; default the commit
before they were optimised, whose items are the same bytes) are timed too, alternating with the
current ones, and the table gives the speed-up as a ratio. The table is printed and written to
``benchmarks/results/synthetic_throughput.md``, with the load average at the start and the end.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch

from segedu.data import SyntheticCells, SyntheticScenes

RESULTS = Path(__file__).parent / "results" / "synthetic_throughput.md"
BEFORE = "42c8459"  # the generators before their speed-up (same items, pinned digests)
GOALS = {("SyntheticScenes", 128): 500.0, ("SyntheticCells", 128): 300.0}  # images/s on one core


def generators_at(revision: str) -> dict[str, type]:
    """``SyntheticScenes`` and ``SyntheticCells`` as they were at a git revision, imported beside
    the current ones (as modules of ``segedu.data``, so that their relative imports work)."""
    root = Path(__file__).resolve().parents[1]
    classes = {}
    modules = (("synthetic_scenes", "SyntheticScenes"), ("synthetic_cells", "SyntheticCells"))
    for module, name in modules:
        source = subprocess.run(
            ["git", "show", f"{revision}:segedu/data/{module}.py"],
            cwd=root, check=True, capture_output=True, text=True,
        ).stdout
        full = f"segedu.data._{module}_at_{revision}"
        spec = importlib.util.spec_from_loader(full, loader=None)
        mod = importlib.util.module_from_spec(spec)
        mod.__package__ = "segedu.data"
        sys.modules[full] = mod
        exec(compile(source, f"{revision}:{module}.py", "exec"), mod.__dict__)
        classes[name] = getattr(mod, name)
    return classes


def cpu_name() -> str:
    """The CPU model (from /proc/cpuinfo on Linux), or what platform knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def images_per_second(dataset, seconds: float) -> tuple[float, float, int]:
    """Rates (wall clock, CPU time) at which ``dataset[i]`` makes items, over ``seconds`` s."""
    for i in range(3):  # warm-up: imports, caches, first allocations
        dataset[len(dataset) - 1 - i]
    count, start, cpu = 0, time.perf_counter(), time.process_time()
    while (elapsed := time.perf_counter() - start) < seconds or count < 5:
        dataset[count % len(dataset)]
        count += 1
    return count / elapsed, count / (time.process_time() - cpu), count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--seconds", type=float, default=5.0, help="time per measurement")
    parser.add_argument(
        "--before", default=BEFORE, help="git revision to compare with ('' for none)"
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="markdown file to write")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    before = generators_at(args.before) if args.before else {}

    rows = []
    for name, cls in [("SyntheticScenes", SyntheticScenes), ("SyntheticCells", SyntheticCells)]:
        for size in (128, 512):
            dataset = cls(size=size, length=100_000, seed=0)
            wall, cpu, count = images_per_second(dataset, args.seconds)
            old = None
            if name in before:
                old_dataset = before[name](size=size, length=100_000, seed=0)
                old = images_per_second(old_dataset, args.seconds)
            goal = GOALS.get((name, size))
            rows.append((name, size, wall, cpu, count, old, goal))
            print(
                f"{name:16s} {size:4d} x {size:<4d} {wall:8.1f} images/s, "
                f"{cpu:8.1f} per CPU second ({count} images)"
                + (
                    f"; at {args.before}: {old[0]:.1f} images/s, {old[1]:.1f} per CPU second"
                    if old
                    else ""
                )
            )
    load_end = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")

    table = []
    for name, size, wall, cpu, count, old, goal in rows:
        table.append(
            f"| {name} | {size} x {size} | {wall:.1f} | {cpu:.1f} | {count} | "
            + (f"{old[0]:.1f} | {old[1]:.1f} | {cpu / old[1]:.2f} | " if old else " | | | ")
            + (f"{goal:.0f} | {cpu / goal:.2f} |" if goal else " | |")
        )
    lines = [
        "# Synthetic data throughput",
        "",
        f"Measured {datetime.datetime.now().isoformat(timespec='minutes')} with "
        f"`python benchmarks/synthetic_throughput.py --threads {args.threads}`.",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores "
        f"({cpu_name()}), no GPU use; Python {platform.python_version()}, "
        f"torch {torch.__version__}, {args.threads} torch thread(s), single process; "
        f"load average {load:.2f} at the start and {load_end:.2f} at the end (other jobs share "
        "the machine when it is above 0: they lower the wall-clock rate, much less the rate per "
        "CPU second).",
        "",
        f"`before` is the generators at `{args.before}` (the same items, byte for byte), timed in "
        "the same run; speed-up = CPU rate now / CPU rate before; goal = the aimed images/s on "
        "one core (`GOALS` in the script), and the CPU rate over it.",
        "",
        "| dataset | size | images/s | images per CPU s | images timed | before: images/s | "
        "before: per CPU s | speed-up | goal | rate / goal |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        *table,
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
