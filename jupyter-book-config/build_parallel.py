"""``jupyter-book build``, with the chapters executed by several processes at once.

Jupyter Book 1 executes each notebook while Sphinx reads it, and Sphinx can read documents in
parallel processes (``sphinx-build -j N``), but ``jupyter-book build`` has no option for it: its
``build_sphinx`` takes ``jobs`` and its command line always passes ``None`` (one process). This
script runs the very same command line with ``jobs`` set, so the book's pages are read (and so
executed) by ``--jobs`` processes. Everything else (configuration, ``-W``, the execution settings
of ``_config.yml``, the output) is ``jupyter-book build``'s.

Sphinx cuts the documents into a few large batches of neighbours in name order, one process per
batch, so one batch could hold all the slow chapters. Here every document is its own batch
instead, and the batches start slowest first (longest-processing-time-first scheduling): a process
that finishes a page takes the next one, and no slow chapter is left to run alone at the end. The
cost of a page is its kernel's CPU seconds last recorded by ``benchmarks/book_build.py`` in
``benchmarks/results/book_build.json`` (0 for a page not recorded, e.g. a lab, which is not
executed). Sphinx starts the first ``--jobs`` batches at once and then the queued ones last-in
first-out, so the list handed to it is ordered for that.

A page whose execution fails stops the build, as with one process; Sphinx then reports only the
exception's first line, so the worker prints the whole traceback (with the failing cell) to
stderr first. Sphinx only reads in parallel when there are more than 5 pages and every extension
declares itself parallel-safe. All those of the book do but two, loaded by Jupyter Book whatever
the configuration says, which declare nothing; Sphinx takes that as unsafe, with a warning (an
error under ``-W``). Both keep no state between documents, so they are declared safe here:

- sphinx-multitoc-numbering replaces the function that numbers the sections, which Sphinx runs
  once, in the main process, after the parallel reads have been merged;
- sphinx-jupyterbook-latex only adds transforms that change the document being read (its LaTeX
  work is done by the LaTeX builder, not used here).

Two more options, both for measuring and testing the build:

- ``--record DIR`` writes, for every executed page, ``DIR/<page>.json``: the wall and CPU seconds of
  each of its cells (CPU: the kernel process's user + system time, its waited-for children
  included, read from ``/proc``; ``null`` where there is no ``/proc``), the execution timeout, and
  what ran it (``SEGEDU_FAST``, the kernel environment file). ``make book`` records into
  ``$(BOOK_OUT)/_build/cell-times``; ``benchmarks/book_build.py`` and ``tests/test_book.py`` read
  it, so that the timeout can be checked against what the cells really take.
- ``--kernel-env FILE`` loads the Python file ``FILE`` and, before each page's kernel starts, adds
  to the environment what its function ``kernel_env(notebook_path) -> dict[str, str]`` returns
  (and removes it afterwards). The tests use it to run each chapter on the install that its first
  cell makes (``tests/student_install.py``).

Usage (from the repository root; ``make book`` calls it)::

    python jupyter-book-config/build_parallel.py --jobs 2 [--record DIR] [--kernel-env FILE] \
        build course --all -W ... (as jupyter-book)

``--jobs 1`` is plain ``jupyter-book build``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

RECORDED = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "book_build.json"


def recorded_costs(path: Path = RECORDED) -> dict[str, float]:
    """``{docname: CPU seconds}`` of the chapters, from the last run of each label in ``path``
    (later labels win); empty when there is no record."""
    if not path.is_file():
        return {}
    costs: dict[str, float] = {}
    for run in json.loads(path.read_text(encoding="utf8")).values():
        for name, entry in run.get("chapters", {}).get("times", {}).items():
            if "cpu_seconds" in entry:
                costs[Path(name).stem] = float(entry["cpu_seconds"])
    return costs


def slowest_first_chunks(arguments: Sequence[str], nproc: int, costs: dict[str, float]) -> list[list[str]]:
    """One chunk per document, listed so that Sphinx's ``ParallelTasks`` starts them in decreasing
    ``costs``: it starts the first ``nproc`` at once, then takes the queued ones from the end."""
    order = sorted(arguments, key=lambda name: -costs.get(name, 0.0))  # stable: ties keep Sphinx's order
    listed = order[:nproc] + order[nproc:][::-1]
    return [[name] for name in listed]


def declared_parallel_safe(setup: Any) -> Any:
    """An extension's ``setup`` that returns its metadata with both parallel flags set."""

    def setup_parallel_safe(app: Any) -> dict[str, Any]:
        return {**(setup(app) or {}), "parallel_read_safe": True, "parallel_write_safe": True}

    return setup_parallel_safe


def printing_errors(add_task: Callable) -> Callable:
    """``ParallelTasks.add_task`` whose task prints its full traceback to stderr when it raises."""

    def add_task_printing_errors(self: Any, task_func: Callable, arg: Any = None,
                                 result_func: Callable | None = None) -> None:
        def task(*args: Any) -> Any:
            try:
                return task_func(*args)
            except BaseException:
                sys.stderr.write(traceback.format_exc())
                sys.stderr.flush()
                raise

        return add_task(self, task, arg, result_func)

    return add_task_printing_errors


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of process ``pid`` and of its children that it waited for
    (``/proc/<pid>/stat``); ``None`` where ``/proc`` cannot be read."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # the fields after the command name
    utime, stime, cutime, cstime = (int(v) for v in fields[11:15])
    return (utime + stime + cutime + cstime) / os.sysconf("SC_CLK_TCK")


async def _kernel_pid(client: Any) -> int | None:
    """The pid of the kernel's process, asked once from the kernel itself (a user expression,
    which binds no name in the notebook and counts no execution): the process that
    jupyter_client started may only relay to it (the tests' warm kernels,
    ``tests/warm_kernel.py``). Else the started process's pid, or ``None``."""
    if not hasattr(client, "_segedu_kernel_pid"):
        try:
            msg_id = client.kc.execute("", silent=True, store_history=False,
                                       user_expressions={"pid": "__import__('os').getpid()"})
            reply = await client.async_wait_for_reply(msg_id)
            client._segedu_kernel_pid = int(
                reply["content"]["user_expressions"]["pid"]["data"]["text/plain"])
        except Exception:  # a kernel that cannot say: the process that was started
            process = getattr(getattr(getattr(client, "km", None), "provisioner", None),
                              "process", None)
            client._segedu_kernel_pid = getattr(process, "pid", None)
    return client._segedu_kernel_pid


class CellTimes:
    """The wall and CPU seconds of each cell of the page being executed in this process (one page
    at a time per process: Sphinx reads a page's chunk in its own process, or all in turn)."""

    def __init__(self) -> None:
        self.cells: list[dict[str, Any]] = []

    def timing(self, execute_cell: Callable) -> Callable:
        """``NotebookClient.async_execute_cell`` that appends each cell's times to ``cells``."""
        record = self

        async def execute_cell_timed(self: Any, cell: Any, cell_index: int, *args: Any,
                                     **kwargs: Any) -> Any:
            pid = await _kernel_pid(self)
            cpu = process_cpu_seconds(pid) if pid else None
            start = time.perf_counter()
            try:
                return await execute_cell(self, cell, cell_index, *args, **kwargs)
            finally:
                if cell.get("cell_type") == "code":
                    after = process_cpu_seconds(pid) if pid else None
                    record.cells.append({
                        "index": cell_index,
                        "wall_seconds": round(time.perf_counter() - start, 3),
                        "cpu_seconds": (round(after - cpu, 3)
                                        if cpu is not None and after is not None else None),
                        "first_line": str(cell.get("source", "")).split("\n", 1)[0][:80],
                    })

        return execute_cell_timed


def load_kernel_env(path: Path) -> Callable[[Path], dict[str, str]]:
    """The function ``kernel_env`` of the Python file ``path``."""
    spec = importlib.util.spec_from_file_location(f"kernel_env_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"build_parallel.py: --kernel-env {path} is not a Python file")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not callable(getattr(module, "kernel_env", None)):
        raise SystemExit(f"build_parallel.py: {path} defines no function kernel_env(notebook_path)")
    return module.kernel_env


@contextlib.contextmanager
def environment(extra: dict[str, str]) -> Any:
    """``os.environ`` with ``extra`` added for the duration, restored afterwards."""
    saved = {name: os.environ.get(name) for name in extra}
    os.environ.update(extra)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def executing_with(start_client: Callable, record: Path | None, kernel_env_file: Path | None,
                   times: CellTimes) -> Callable:
    """myst-nb's ``NotebookClientDirect.start_client`` (which executes one page) run with the
    environment that ``kernel_env_file`` gives the page, writing the page's cell times under
    ``record``."""
    kernel_env = load_kernel_env(kernel_env_file) if kernel_env_file else None

    def start_client_recorded(self: Any) -> Any:
        path = Path(self.path) if self.path is not None else None
        extra = kernel_env(path) if kernel_env and path is not None else {}
        times.cells = []
        start = time.perf_counter()
        try:
            with environment(extra):
                return start_client(self)
        finally:
            if record is not None and path is not None:
                record.mkdir(parents=True, exist_ok=True)
                (record / f"{path.stem}.json").write_text(json.dumps({
                    "page": path.name,
                    "wall_seconds": round(time.perf_counter() - start, 3),
                    "timeout": self.nb_config.execution_timeout,
                    "segedu_fast": os.environ.get("SEGEDU_FAST", ""),
                    "kernel_env": str(kernel_env_file) if kernel_env_file else None,
                    "cells": times.cells,
                }, indent=1) + "\n", encoding="utf8")

    return start_client_recorded


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], add_help=False)
    parser.add_argument("--jobs", type=int, default=1, help="processes that read (execute) pages")
    parser.add_argument("--record", type=Path, default=None,
                        help="folder for each page's cell times (<page>.json)")
    parser.add_argument("--kernel-env", type=Path, default=None,
                        help="Python file whose kernel_env(notebook_path) adds to each "
                             "kernel's environment")
    args, rest = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    if args.jobs < 1:
        raise SystemExit(f"build_parallel.py: --jobs must be at least 1, got {args.jobs}")

    import jupyter_book.sphinx
    import nbclient.client
    import sphinx.builders
    import sphinx.util.parallel
    import sphinx_jupyterbook_latex
    import sphinx_multitoc_numbering
    from jupyter_book.cli.main import main as jupyter_book_main
    from myst_nb.core.execute.direct import NotebookClientDirect

    build_sphinx = jupyter_book.sphinx.build_sphinx

    def build_sphinx_with_jobs(*pos: Any, **kwargs: Any) -> Any:
        kwargs["jobs"] = args.jobs
        return build_sphinx(*pos, **kwargs)

    # jupyter-book's `build` imports build_sphinx from its module when it runs, so it gets this one.
    jupyter_book.sphinx.build_sphinx = build_sphinx_with_jobs
    for extension in (sphinx_multitoc_numbering, sphinx_jupyterbook_latex):
        extension.setup = declared_parallel_safe(extension.setup)
    costs = recorded_costs()
    sphinx.builders.make_chunks = lambda arguments, nproc, maxbatch=10: slowest_first_chunks(
        arguments, nproc, costs)
    sphinx.util.parallel.ParallelTasks.add_task = printing_errors(sphinx.util.parallel.ParallelTasks.add_task)
    if args.record is not None and args.record.is_dir():
        for stale in args.record.glob("*.json"):  # a page removed since the last build
            stale.unlink()
    times = CellTimes()
    nbclient.client.NotebookClient.async_execute_cell = times.timing(
        nbclient.client.NotebookClient.async_execute_cell)
    NotebookClientDirect.start_client = executing_with(
        NotebookClientDirect.start_client, args.record, args.kernel_env, times)
    jupyter_book_main(args=rest, prog_name="jupyter-book")


if __name__ == "__main__":
    main()
