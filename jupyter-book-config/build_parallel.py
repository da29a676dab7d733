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

Usage (from the repository root; ``make book`` calls it)::

    python jupyter-book-config/build_parallel.py --jobs 2 build course --all -W ... (as jupyter-book)

``--jobs 1`` is plain ``jupyter-book build``.
"""

from __future__ import annotations

import argparse
import json
import sys
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], add_help=False)
    parser.add_argument("--jobs", type=int, default=1, help="processes that read (execute) pages")
    args, rest = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    if args.jobs < 1:
        raise SystemExit(f"build_parallel.py: --jobs must be at least 1, got {args.jobs}")

    import jupyter_book.sphinx
    import sphinx.builders
    import sphinx.util.parallel
    import sphinx_jupyterbook_latex
    import sphinx_multitoc_numbering
    from jupyter_book.cli.main import main as jupyter_book_main

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
    jupyter_book_main(args=rest, prog_name="jupyter-book")


if __name__ == "__main__":
    main()
