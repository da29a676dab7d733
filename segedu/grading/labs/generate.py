"""The lab generator: student notebooks in ``labs/`` made from the solutions in ``solutions/``.

For every ``solutions/<name>.ipynb`` it writes ``labs/<name>.ipynb`` where

1. the lines between ``# BEGIN SOLUTION`` and ``# END SOLUTION`` of a code cell become
   ``# YOUR CODE HERE`` and ``raise NotImplementedError()`` (at the indentation of the marker);
   in a Markdown cell they become ``YOUR ANSWER HERE``;
2. a written question (:mod:`.written`) keeps its ``id`` and ``points`` but not its ``rubric``:
   the grader finds the answer by the id, and the rubric stays with the instructor;
3. cells tagged ``hidden-tests`` are removed (the grader keeps them);
4. outputs and execution counts are cleared;
5. graded cells get the tag ``raises-exception``: a failing check is feedback, so JupyterLab's *Run
   All* sends them with ``stop_on_error=False`` and goes on (with ``stop_on_error=True`` ipykernel
   aborts only the requests already queued when the error happens, so Run All skipped some later
   cells and ran others). The solutions keep no such tag, so nbval still fails on any error there;
6. everything else — graded cells with their ``segedu`` metadata, the notebook's kernel and Colab
   metadata, cell ids — is kept as it is.

``python -m segedu.grading generate`` (or ``segedu-grade generate``: :func:`main`, a row of
:data:`.cli.SUBCOMMANDS`) writes the labs; ``--check`` only compares and exits 1 when a lab is not
what the generator makes (the test suite runs that check).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import nbformat

from .notebook import (
    ANSWER_MARK,
    BEGIN,
    CODE_MARK,
    END,
    META,
    NotebookError,
    graded_cells,
    graded_id,
    is_hidden_tests,
    lab_metadata,
    read_notebook,
)
from .written import written_questions

__all__ = ["strip_solution", "student_version", "generate_labs", "stale_labs"]

# JupyterLab and Notebook 7 run such a cell with stop_on_error=False
RUN_ON_TAG = "raises-exception"


def strip_solution(source: str, *, cell_type: str = "code", where: str = "cell") -> str:
    """Replace every ``# BEGIN SOLUTION`` ... ``# END SOLUTION`` block of a cell's source.

    Raises:
        NotebookError: a marker without its partner, or a block inside a block.
    """
    out: list[str] = []
    inside = False
    for number, line in enumerate(source.split("\n"), start=1):
        marker = line.strip()
        if marker.startswith(BEGIN):
            if inside:
                raise NotebookError(f"{where}, line {number}: {BEGIN} inside another solution "
                                    "block")
            inside = True
            indent = line[: len(line) - len(line.lstrip())]
            if cell_type == "code":
                out += [f"{indent}{CODE_MARK}", f"{indent}raise NotImplementedError()"]
            else:
                out.append(f"{indent}{ANSWER_MARK}")
        elif marker.startswith(END):
            if not inside:
                raise NotebookError(f"{where}, line {number}: {END} without {BEGIN}")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise NotebookError(f"{where}: {BEGIN} is never closed by {END}")
    return "\n".join(out)


def student_version(solution: nbformat.NotebookNode, *,
                    where: str = "notebook") -> nbformat.NotebookNode:
    """The student notebook made from a solution notebook (a new object; the input is unchanged)."""
    graded_cells(solution, where=where)  # fail early on bad grading metadata
    written_questions(solution, where=where)
    lab = nbformat.v4.new_notebook(metadata=solution.metadata)
    lab.nbformat, lab.nbformat_minor = solution.nbformat, solution.nbformat_minor
    for index, cell in enumerate(solution.cells):
        if is_hidden_tests(cell):
            continue  # the grader adds these back
        new = nbformat.from_dict(cell)  # a copy
        if new.cell_type in ("code", "markdown"):
            new.source = strip_solution(new.source, cell_type=new.cell_type,
                                        where=f"{where}, cell {index}")
        if new.cell_type == "code":
            new.outputs, new.execution_count = [], None
            if graded_id(new) and RUN_ON_TAG not in new.metadata.get("tags", []):
                new.metadata["tags"] = [*new.metadata.get("tags", []), RUN_ON_TAG]
        written = lab_metadata(new).get("written")
        if isinstance(written, dict):  # the id and the points, not the rubric
            new.metadata[META]["written"] = {k: written[k] for k in ("id", "points")}
        lab.cells.append(new)
    return lab


def _lab_text(solution_path: Path) -> str:
    notebook = read_notebook(solution_path)
    return nbformat.writes(student_version(notebook, where=str(solution_path))) + "\n"


def stale_labs(solutions: str | Path = "solutions", labs: str | Path = "labs") -> list[str]:
    """Names of the labs that are missing, differ from what the generator makes, or have
    no solution."""
    solutions, labs = Path(solutions), Path(labs)
    problems = []
    for path in sorted(solutions.glob("*.ipynb")):
        lab = labs / path.name
        if not lab.is_file():
            problems.append(f"{lab}: missing")
        elif lab.read_text(encoding="utf8") != _lab_text(path):
            problems.append(f"{lab}: differs from the student version of {path}")
    for lab in sorted(labs.glob("*.ipynb")) if labs.is_dir() else []:
        if not (solutions / lab.name).is_file():
            problems.append(f"{lab}: has no solution {solutions / lab.name}")
    return problems


def generate_labs(solutions: str | Path = "solutions", labs: str | Path = "labs") -> list[Path]:
    """Write ``labs/<name>.ipynb`` for every ``solutions/<name>.ipynb``; return the written paths.

    Every solution is converted before anything is written, so a broken solution leaves ``labs/``
    as it was; each lab is written to a temporary file and renamed over the old one.
    """
    solutions, labs = Path(solutions), Path(labs)
    if not solutions.is_dir():
        raise NotebookError(f"{solutions}: no solutions folder")
    if solutions.resolve() == labs.resolve():
        raise NotebookError("the labs folder must differ from the solutions folder")
    texts = {path.name: _lab_text(path) for path in sorted(solutions.glob("*.ipynb"))}
    labs.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in texts.items():
        handle, temporary = tempfile.mkstemp(dir=labs, prefix=f".{name}.", suffix=".tmp")
        with os.fdopen(handle, "w", encoding="utf8") as file:
            file.write(text)
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes it private (0600); a lab is not
        os.replace(temporary, labs / name)
        written.append(labs / name)
    return written


def _umask() -> int:
    """The process's umask (reading it means setting it, so it is set back at once)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def main(argv: list[str] | None = None) -> int:
    """``generate [--solutions DIR] [--labs DIR] [--check]``; the exit status (2: a bad
    notebook, 1: ``--check`` found a stale lab)."""
    parser = argparse.ArgumentParser(prog="python -m segedu.grading generate",
                                     description="Write the student labs from the solutions.")
    parser.add_argument("--solutions", default="solutions", help="folder of solution notebooks")
    parser.add_argument("--labs", default="labs", help="folder of student notebooks to write")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 if a lab differs from what would be "
                             "generated")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        if args.check:
            problems = stale_labs(args.solutions, args.labs)
            for problem in problems:
                print(problem, file=sys.stderr)
            if problems:
                print("run `python -m segedu.grading generate` to regenerate the labs",
                      file=sys.stderr)
            return 1 if problems else 0
        for path in generate_labs(args.solutions, args.labs):
            print(f"wrote {path}")
        return 0
    except NotebookError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
