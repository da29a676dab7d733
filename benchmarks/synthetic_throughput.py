"""Images per second of the synthetic generators, in one process.

    python benchmarks/synthetic_throughput.py            # one thread, as in a DataLoader worker
    python benchmarks/synthetic_throughput.py --threads 2

Each generator makes distinct items (index 0, 1, 2, ...) for at least ``--seconds`` seconds after
a short warm-up; the time covers everything ``dataset[i]`` does (drawing, rendering, building
and validating the target). The table is printed and written to
``benchmarks/results/synthetic_throughput.md``.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import time
from pathlib import Path

import torch

from segedu.data import SyntheticCells, SyntheticScenes

RESULTS = Path(__file__).parent / "results" / "synthetic_throughput.md"


def cpu_name() -> str:
    """The CPU model (from /proc/cpuinfo on Linux), or what platform knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def images_per_second(dataset, seconds: float) -> tuple[float, int]:
    """Rate at which ``dataset[i]`` produces items, over at least ``seconds`` seconds."""
    for i in range(3):  # warm-up: imports, caches, first allocations
        dataset[len(dataset) - 1 - i]
    count, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds or count < 5:
        dataset[count % len(dataset)]
        count += 1
    return count / elapsed, count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--seconds", type=float, default=5.0, help="time per measurement")
    parser.add_argument("--out", type=Path, default=RESULTS, help="markdown file to write")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")

    rows = []
    for name, cls in [("SyntheticScenes", SyntheticScenes), ("SyntheticCells", SyntheticCells)]:
        for size in (128, 512):
            rate, count = images_per_second(cls(size=size, length=100_000, seed=0), args.seconds)
            rows.append((name, f"{size} x {size}", rate, count))
            print(f"{name:16s} {size:4d} x {size:<4d} {rate:8.1f} images/s  ({count} images)")

    lines = [
        "# Synthetic data throughput",
        "",
        f"Measured {datetime.datetime.now().isoformat(timespec='minutes')} with "
        f"`python benchmarks/synthetic_throughput.py --threads {args.threads}`.",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores "
        f"({cpu_name()}), no GPU use; Python {platform.python_version()}, "
        f"torch {torch.__version__}, {args.threads} torch thread(s), single process; "
        f"load average {load:.2f} at the start (other jobs share the machine when it is above 0).",
        "",
        "| dataset | size | images/s | images timed |",
        "| --- | --- | ---: | ---: |",
        *(f"| {n} | {s} | {r:.1f} | {c} |" for n, s, r, c in rows),
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
