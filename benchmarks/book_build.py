"""How long the book's chapters take to execute, chapter by chapter, before and after a change.

    python benchmarks/book_build.py chapters --label before --rev <commit>  # as at <commit>
    python benchmarks/book_build.py chapters --label after                  # the working tree
    python benchmarks/book_build.py make --label after                      # one `make book`
    python benchmarks/book_build.py report                                  # rewrite the table

``chapters`` executes each chapter notebook of ``course/`` (the MyST ``.md`` files with a kernel),
one after the other, with nbclient and a fresh ``python3`` kernel, in the book's mode: full mode
(``SEGEDU_FAST`` unset; ``--fast`` sets it), ``MPLBACKEND`` unset, the chapter's folder as working
folder, one BLAS/OpenMP thread (``--threads``), as ``make book`` runs them. ``--rev`` takes the
chapters' sources from a git commit (the library is always the working tree's), so that the chapters
before and after a change are timed by the same script on the same machine. For each chapter it
records the wall time of the whole execution (kernel start included) and its slowest cells
(nbclient's own per-cell timing).

``make`` times one whole ``make book`` (into a temporary ``BOOK_OUT``; ``--jobs`` sets
``BOOK_JOBS``): execution plus the Sphinx build, i.e. what a reader waits for. It also stores each
chapter's cell times as the build recorded them (wall and kernel CPU seconds of each cell,
``$(BOOK_OUT)/_build/cell-times``), which ``tests/test_book.py`` checks the cell timeout of
``_config.yml`` against. ``--busy 2`` runs two CPU-bound processes beside the build (the busy
machine that the build must survive)::

    python benchmarks/book_build.py make --label quiet            # on a quiet machine
    python benchmarks/book_build.py make --label busy --busy 2    # twice the work of two cores

Both record CPU seconds beside the wall time: the machine may be shared, and the wall time of a
loaded machine says little, while the CPU seconds of the work change much less with the load.

Each run stores its figures under its label in ``benchmarks/results/book_build.json`` (with the
load average of the machine at its start and end: the machine may be shared, and a loaded machine
runs everything slower) and rewrites ``benchmarks/results/book_build.md``: one table of every
chapter under every label, with each label's time as a ratio to the first label's.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COURSE = ROOT / "course"
RESULTS_JSON = ROOT / "benchmarks" / "results" / "book_build.json"  # and book_build.md beside it


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def chapter_names(rev: str | None) -> list[str]:
    """The chapter notebooks (``course/*.md`` with a ``kernelspec`` header), by file name."""
    if rev is None:
        files = {p.name: p.read_text(encoding="utf8") for p in sorted(COURSE.glob("*.md"))}
    else:
        listing = subprocess.run(["git", "ls-tree", "--name-only", rev, "course/"], cwd=ROOT,
                                 check=True, capture_output=True, text=True).stdout.split()
        files = {Path(p).name: _source(p, rev) for p in listing if p.endswith(".md")}
    return [name for name, text in sorted(files.items()) if re.search(r"^kernelspec:", text, re.M)]


def _source(path: str, rev: str | None) -> str:
    if rev is None:
        return (ROOT / path).read_text(encoding="utf8")
    return subprocess.run(["git", "show", f"{rev}:{path}"], cwd=ROOT, check=True,
                          capture_output=True, text=True).stdout


def _cell_seconds(cell) -> float | None:
    """nbclient's record of a cell's execution (``execution`` metadata), in seconds."""
    timing = cell.get("metadata", {}).get("execution", {})
    start, end = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
    if not (start and end):
        return None
    parse = lambda s: datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))  # noqa: E731
    return (parse(end) - parse(start)).total_seconds()


def time_chapter(name: str, rev: str | None, fast: bool, timeout: int, threads: int) -> dict:
    """Execute one chapter; its wall time and its kernel's CPU time (user + system, its child
    processes included) in seconds, and its five slowest cells (wall time)."""
    import jupytext
    import psutil
    from nbclient import NotebookClient

    notebook = jupytext.reads(_source(f"course/{name}", rev), fmt="md:myst")
    env_before = dict(os.environ)
    os.environ.pop("MPLBACKEND", None)
    os.environ.pop("SEGEDU_FAST", None)
    if fast:
        os.environ["SEGEDU_FAST"] = "1"
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(threads)
    try:
        client = NotebookClient(notebook, timeout=timeout or None, kernel_name="python3",
                                resources={"metadata": {"path": str(COURSE)}})
        start = time.perf_counter()
        with client.setup_kernel():
            kernel = psutil.Process(client.km.provisioner.process.pid)
            for index, cell in enumerate(notebook.cells):
                client.execute_cell(cell, index)
            cpu = kernel.cpu_times()
            cpu_seconds = cpu.user + cpu.system + cpu.children_user + cpu.children_system
        seconds = time.perf_counter() - start
    finally:
        os.environ.clear()
        os.environ.update(env_before)
    cells = []
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code" and (cell_time := _cell_seconds(cell)) is not None:
            first = next((line for line in cell.source.splitlines() if line.strip()), "")
            cells.append({"cell": index, "seconds": round(cell_time, 2), "first_line": first[:80]})
    cells.sort(key=lambda c: -c["seconds"])
    return {"seconds": round(seconds, 1), "cpu_seconds": round(cpu_seconds, 1),
            "slowest_cells": cells[:5]}


def read_cell_times(book_out: Path) -> dict[str, dict]:
    """Each executed page's cell times as the build recorded them
    (``<BOOK_OUT>/_build/cell-times/<page>.json``, jupyter-book-config/build_parallel.py): the
    page's wall and CPU seconds and its five slowest cells by CPU seconds."""
    pages = {}
    for path in sorted((book_out / "_build" / "cell-times").glob("*.json")):
        record = json.loads(path.read_text(encoding="utf8"))
        cells = record["cells"]
        cpu = [c["cpu_seconds"] for c in cells if c["cpu_seconds"] is not None]
        slowest = sorted(cells, key=lambda c: -(c["cpu_seconds"] or c["wall_seconds"]))[:5]
        pages[record["page"]] = {
            "wall_seconds": record["wall_seconds"],
            "cpu_seconds": round(sum(cpu), 1) if cpu else None,
            "timeout": record["timeout"],
            "slowest_cells": [{"cell": c["index"], "cpu_seconds": c["cpu_seconds"],
                               "wall_seconds": c["wall_seconds"], "first_line": c["first_line"]}
                              for c in slowest],
        }
    return pages


def busy_processes(count: int) -> list[subprocess.Popen]:
    """``count`` CPU-bound processes (a Python busy loop each), to build on a busy machine."""
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]


def time_make_book(fast: bool, jobs: int, keep: Path | None = None, busy: int = 0
                   ) -> tuple[float, float, dict[str, float], dict[str, dict]]:
    """Wall and CPU seconds (every process of the build) of one ``make book BOOK_JOBS=jobs`` into a
    temporary BOOK_OUT (removed afterwards, unless ``keep`` names the BOOK_OUT to build into and
    keep, e.g. to look at the site), the wall seconds of each chapter's execution as Jupyter
    Book reports them ("Executed notebook in ... seconds"), and each chapter's cell times as the
    build recorded them (:func:`read_cell_times`). ``busy`` CPU-bound processes run beside the
    build (their CPU time is not counted) and are stopped when it ends."""
    env = dict(os.environ)
    env.pop("MPLBACKEND", None)
    env.pop("SEGEDU_FAST", None)
    env.pop("SOLUTIONS", None)
    if fast:
        env["SEGEDU_FAST"] = "1"
    out = keep.resolve() if keep else Path(tempfile.mkdtemp(prefix="book_build_"))
    hogs = busy_processes(busy)
    try:
        start, used = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
        build = subprocess.Popen(["make", "book", f"BOOK_OUT={out}", f"BOOK_JOBS={jobs}"],
                                 cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
        stdout, stderr = build.communicate()
        seconds = time.perf_counter() - start
        # the build's processes only: the busy ones are still running, so not yet counted
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = after.ru_utime + after.ru_stime - used.ru_utime - used.ru_stime
        if build.returncode != 0:
            sys.exit(f"make book failed after {seconds:.0f} s:\n{stdout[-4000:]}\n"
                     f"{stderr[-4000:]}")
        cells = read_cell_times(out)
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
        if not keep:
            shutil.rmtree(out, ignore_errors=True)
    result = subprocess.CompletedProcess(build.args, build.returncode, stdout, stderr)
    executed = {Path(path).name: float(s) for path, s in re.findall(
        r"(\S+\.md): Executed notebook in ([0-9.]+) seconds", result.stdout + result.stderr)}
    return round(seconds, 1), round(cpu, 1), executed, cells


def _read(path: Path = RESULTS_JSON) -> dict:
    return json.loads(path.read_text(encoding="utf8")) if path.exists() else {}


def _store(path: Path, label: str, kind: str, run: dict) -> None:
    """Put one run into the figures stored in ``path`` (read again first: two runs may be under
    way at once) and rewrite the Markdown page beside it."""
    results = _read(path)
    results.setdefault(label, {})[kind] = run
    _write(path, results)


def _write(path: Path, results: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=1) + "\n", encoding="utf8")
    path.with_suffix(".md").write_text(report(results), encoding="utf8")


def report(results: dict) -> str:
    """The Markdown page: runs, per-chapter times with ratios to the first label, slowest cells."""
    labels = list(results)
    lines = ["# Book build time", "",
             "Written by `benchmarks/book_build.py` (its docstring says how each figure is taken). "
             "Seconds of wall time on the machine below; a ratio is a label's time over the first "
             "label's. The load average (1, 5, 15 min) is read at the start and the end of each "
             "run: the machine is shared, and a loaded machine runs everything slower.", "",
             "For reference, an earlier measurement (not made by this script) found a "
             "serial full-mode `make book` of 14.2 min on this 2-core machine, with chapter 04 "
             "taking 188 s, chapter 14 (panoptic, now chapter 15) 169 s, chapter 11 98 s, and "
             "chapters 09 and 03 over 60 s each.",
             ""]
    lines += ["| label | what | mode | threads per kernel | date (UTC) | machine | load at start | "
              "load at end |",
              "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for label in labels:
        for kind in ("chapters", "make"):
            run = results[label].get(kind)
            if run:
                what = (f"chapters as at {run['rev']}" if run.get("rev")
                        else "chapters of the working tree") \
                    if kind == "chapters" else "`make book`"
                threads = run.get("threads", 1)  # `make book`: BOOK_THREADS=1
                lines.append(f"| {label} | {what} | {run['mode']} | {threads} | {run['date']} | "
                             f"{run['machine']} | {run['load_start']} | {run['load_end']} |")
    lines.append("")
    for label in labels:
        if results[label].get("chapters", {}).get("failed"):
            lines += [f"Under `{label}`, these chapters raised and were not timed: "
                      + ", ".join(results[label]["chapters"]["failed"]) + ".", ""]

    chapters = sorted({name for label in labels
                       for name in results[label].get("chapters", {}).get("times", {})})
    if chapters:
        lines += ["## Each chapter executed alone (nbclient, one kernel)", ""]
        lines += ["Wall: seconds from the kernel's start to the end of the last cell. CPU: the "
                  "kernel's CPU seconds (user + system, its child processes included), which "
                  "depend much less on what else runs on the machine. The ratios compare CPU "
                  f"seconds with the label `{labels[0]}`. A chapter missing under a label was not "
                  "run under it.", ""]
        header = "| chapter | " + " | ".join(f"{label} wall | {label} CPU" for label in labels)
        header += "".join(f" | CPU {label} / {labels[0]}" for label in labels[1:]) + " |"
        lines += [header, "|" + " --- |" * (1 + 3 * len(labels) - 1)]
        totals = {label: [0.0, 0.0] for label in labels}

        def entry_of(label: str, name: str) -> dict | None:
            return results[label].get("chapters", {}).get("times", {}).get(name)

        for name in chapters:
            cells, ratios = [], []
            for label in labels:
                entry = entry_of(label, name)
                cells.append(f"{entry['seconds']:.1f} | "
                             f"{entry.get('cpu_seconds', float('nan')):.1f}"
                             if entry else "— | —")
                if entry:
                    totals[label][0] += entry["seconds"]
                    totals[label][1] += entry.get("cpu_seconds", float("nan"))
            base = entry_of(labels[0], name)
            for label in labels[1:]:
                entry = entry_of(label, name)
                ratios.append(f"{entry['cpu_seconds'] / base['cpu_seconds']:.2f}" if entry and base
                              else "—")
            lines.append(f"| {name} | " + " | ".join(cells + ratios) + " |")
        lines.append("| **sum of the chapters run** | "
                     + " | ".join(f"**{totals[label][0]:.1f}** | **{totals[label][1]:.1f}**"
                                  for label in labels)
                     + " |" * (len(labels) - 1) + " |")
        lines.append("")
        first = results[labels[0]].get("chapters", {}).get("times", {})
        for label in labels[1:]:
            times = results[label].get("chapters", {}).get("times", {})
            common = sorted(set(first) & set(times))
            if common:
                before = sum(first[name]["cpu_seconds"] for name in common)
                after = sum(times[name]["cpu_seconds"] for name in common)
                lines.append(f"CPU seconds of the {len(common)} chapters timed under both "
                             f"`{labels[0]}` and `{label}`: {before:.1f} and {after:.1f} (ratio "
                             f"{after / before:.2f}).")
        lines.append("")

    makes = [(label, results[label]["make"]) for label in labels if results[label].get("make")]
    if makes:
        lines += ["## One whole `make book` (execution and Sphinx build)", "",
                  "CPU: the CPU seconds of every process of the build (Sphinx, its workers, the "
                  "kernels). On an idle machine with 2 cores, the wall time cannot be below half "
                  "of it.",
                  "", "| label | mode | BOOK_JOBS | wall (s) | wall (min) | CPU (s) |",
                  "| --- | --- | --- | --- | --- | --- |"]
        lines += [f"| {label} | {run['mode']} | {run['jobs']} | {run['seconds']:.1f} | "
                  f"{run['seconds'] / 60:.1f} | {run['cpu_seconds']:.1f} |" for label, run in makes]
        lines.append("")
        for label, run in makes:
            if run.get("executed"):
                lines += [f"Chapters' execution in the `make book` run `{label}` (wall seconds, as "
                          "Jupyter Book reports them; with BOOK_JOBS=2 two chapters run at once):",
                          "",
                          "| chapter | wall (s) |", "| --- | --- |"]
                lines += [f"| {name} | {s:.1f} |" for name, s in sorted(run["executed"].items())]
                lines.append("")

    lines += ["## Slowest cells of each chapter", ""]
    for label in labels:
        times = results[label].get("chapters", {}).get("times", {})
        if not times:
            continue
        lines += [f"### {label}", "", "| chapter | cell | seconds | first line |",
                  "| --- | --- | --- | --- |"]
        for name, entry in sorted(times.items()):
            for cell in entry["slowest_cells"][:3]:
                first = cell["first_line"].replace("|", "\\|")
                lines.append(f"| {name} | {cell['cell']} | {cell['seconds']:.1f} | `{first}` |")
        lines.append("")
    return "\n".join(lines)


def _run_info(args, rev: str | None = None) -> dict:
    return {"mode": "fast" if args.fast else "full",
            "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M"),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs", "rev": rev,
            "load_start": _load()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    chapters = sub.add_parser("chapters", help="time each chapter's execution")
    chapters.add_argument("--label", required=True)
    chapters.add_argument("--rev", default=None,
                          help="git commit of the chapters (default: working tree)")
    chapters.add_argument("--only", nargs="*", default=None,
                          help="chapter file names (default: all)")
    chapters.add_argument("--fast", action="store_true", help="SEGEDU_FAST=1")
    chapters.add_argument("--timeout", type=int, default=0,
                          help="seconds allowed to one cell (default 0: no limit; a loaded machine "
                               "is slow)")
    chapters.add_argument("--threads", type=int, default=1,
                          help="OMP_NUM_THREADS of the kernel (default 1, as `make book` gives "
                               "each)")
    make = sub.add_parser("make", help="time one whole `make book`")
    make.add_argument("--label", required=True)
    make.add_argument("--fast", action="store_true", help="SEGEDU_FAST=1")
    make.add_argument("--jobs", type=int, default=2, help="BOOK_JOBS (default 2, as the Makefile)")
    make.add_argument("--busy", type=int, default=0,
                      help="CPU-bound processes to run beside the build (default 0); 2 on a "
                           "2-core machine is the busy machine that the build must survive")
    make.add_argument("--keep", type=Path, default=None,
                      help="build into this BOOK_OUT and keep it (default: a temporary folder)")
    report_parser = sub.add_parser("report",
                                   help="rewrite the Markdown table from the stored figures")
    report_parser.add_argument("--add", nargs="*",
                               help="JSON files of other runs to merge in first (PATH or "
                                    "PATH:LABEL)")
    parser.add_argument("--json", type=Path, default=RESULTS_JSON,
                        help="where the figures are stored (default "
                             f"{RESULTS_JSON.relative_to(ROOT)})")
    args = parser.parse_args()

    results = _read(args.json)
    if args.command == "chapters":
        rev = None
        if args.rev:
            rev = subprocess.run(["git", "rev-parse", "--short", args.rev], cwd=ROOT, check=True,
                                 capture_output=True, text=True).stdout.strip()
        names = args.only or chapter_names(rev)
        run = _run_info(args, rev) | {"times": {}, "threads": args.threads}
        previous = results.get(args.label, {}).get("chapters", {})
        if args.only and previous.get("mode") == run["mode"] and previous.get("rev") == rev:
            run["times"] = previous.get("times", {})  # re-time some chapters, keep the others
        for name in names:
            try:
                run["times"][name] = time_chapter(name, rev, args.fast, args.timeout, args.threads)
            except Exception as error:  # noqa: BLE001 - a failing chapter is reported, others timed
                print(f"{name}: FAILED, not timed: {str(error).strip().splitlines()[-1]}",
                      flush=True)
                run.setdefault("failed", []).append(name)
                continue
            print(f"{name}: {run['times'][name]['seconds']:.1f} s", flush=True)
            run["load_end"] = _load()
            # after each chapter: a long run can be read half-way
            _store(args.json, args.label, "chapters", run)
    elif args.command == "make":
        run = _run_info(args)
        run["seconds"], run["cpu_seconds"], run["executed"], run["cells"] = time_make_book(
            args.fast, args.jobs, args.keep, args.busy)
        run["jobs"] = args.jobs
        run["busy_processes"] = args.busy
        run["load_end"] = _load()
        print(f"make book: {run['seconds']:.1f} s", flush=True)
        _store(args.json, args.label, "make", run)
    elif args.command == "report":
        for spec in args.add or []:  # the figures of runs stored elsewhere with --json
            path, _, rename = spec.partition(":")  # PATH or PATH:LABEL (store its runs under LABEL)
            for label, runs in _read(Path(path)).items():
                results.setdefault(rename or label, {}).update(runs)
        _write(args.json, results)
    print(args.json.with_suffix(".md"))


if __name__ == "__main__":
    main()
