"""``jupyter-book build``, with the chapters executed by several processes at once.

Jupyter Book 1 executes each notebook while Sphinx reads it, and Sphinx can read documents in
parallel processes (``sphinx-build -j N``), but ``jupyter-book build`` has no option for it: its
``build_sphinx`` takes ``jobs`` and its command line always passes ``None`` (one process). This
script runs the very same command line with ``jobs`` set, so the book's pages are read (and so
executed) by ``--jobs`` processes. Everything else (configuration, ``-W``, the execution settings
of ``_config.yml``, the output) is ``jupyter-book build``'s.

Sphinx cuts the documents into a few large batches of neighbours in name order, one process per
batch, so one batch could hold all the slow chapters. Here every document is its own batch
instead: a process that finishes a page takes the next one, and the slow chapters spread over the
processes. Sphinx only reads in parallel when there are more than 5 pages and every extension
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
import sys
from collections.abc import Sequence
from typing import Any


def one_document_per_chunk(arguments: Sequence[str], nproc: int, maxbatch: int = 10) -> list[list[Any]]:
    """Sphinx's ``make_chunks`` replaced: one chunk per document, in Sphinx's order."""
    return [[argument] for argument in arguments]


def declared_parallel_safe(setup: Any) -> Any:
    """An extension's ``setup`` that returns its metadata with both parallel flags set."""

    def setup_parallel_safe(app: Any) -> dict[str, Any]:
        return {**(setup(app) or {}), "parallel_read_safe": True, "parallel_write_safe": True}

    return setup_parallel_safe


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], add_help=False)
    parser.add_argument("--jobs", type=int, default=1, help="processes that read (execute) pages")
    args, rest = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    if args.jobs < 1:
        raise SystemExit(f"build_parallel.py: --jobs must be at least 1, got {args.jobs}")

    import jupyter_book.sphinx
    import sphinx.builders
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
    sphinx.builders.make_chunks = one_document_per_chunk
    jupyter_book_main(args=rest, prog_name="jupyter-book")


if __name__ == "__main__":
    main()
