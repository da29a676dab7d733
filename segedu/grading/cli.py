"""The subcommands of ``segedu-grade``: one table, read by one dispatcher.

::

    segedu-grade [grade] --lab ... --submissions ... --out ...   # grade a class (the default)
    segedu-grade <subcommand> ...                                # one row of SUBCOMMANDS
    python -m segedu.grading <subcommand> ...                    # the same commands

Grading is the default, so ``segedu-grade --lab ...`` and ``segedu-grade grade --lab ...`` are the
same command (:func:`segedu.grading.grade.main`). Every other subcommand is a function
``main(argv: list[str]) -> int`` (the exit status) of the module that does its job, listed in
:data:`SUBCOMMANDS` with one line of help; ``segedu-grade --help`` prints those lines. Such a
module must not import :mod:`segedu.grading.grade`, which dispatches through this table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .export import main as export_main
from .generate import main as generate_main
from .gradescope import main as gradescope_main
from .manual_page import main as manual_main
from .nbgrader_layout import main as release_main

__all__ = ["Subcommand", "SUBCOMMANDS", "subcommand_help", "split_subcommand"]


@dataclass(frozen=True)
class Subcommand:
    """A subcommand: the function that runs it (``main(argv) -> exit status``) and its help."""

    main: Callable[[list[str]], int]
    help: str


# name -> Subcommand; grading itself is the default and lives in segedu.grading.grade
SUBCOMMANDS: dict[str, Subcommand] = {
    "generate": Subcommand(main=generate_main,
                           help="write the student labs from the solutions (--check: only "
                                "compare)"),
    "export": Subcommand(main=export_main,
                         help="write the grades as the CSV that Canvas, Moodle or Gradescope "
                              "imports"),
    "manual": Subcommand(main=manual_main,
                         help="grade the written answers, and override graded code cells, "
                              "by hand on a local page (offline)"),
    "gradescope": Subcommand(main=gradescope_main,
                             help="write a lab's autograder zip for Gradescope (Zipped File "
                                  "Upload): setup.sh, run_autograder, the hidden tests"),
    "release": Subcommand(main=release_main,
                          help="write the student labs into an nbgrader course's "
                               "release/<assignment>/ folders (JupyterHub)"),
}


def subcommand_help() -> str:
    """The lines that ``segedu-grade --help`` shows for the subcommands."""
    lines = ["subcommands:", "  grade         grade a folder of submissions (the default: the word "
             "may be left out)"]
    lines += [f"  {name:<13} {command.help}" for name, command in SUBCOMMANDS.items()]
    lines.append("`segedu-grade <subcommand> --help` shows the options of each.")
    return "\n".join(lines)


def split_subcommand(argv: list[str]) -> tuple[Subcommand | None, list[str]]:
    """``(subcommand, its arguments)``; ``(None, grading's arguments)`` for grading."""
    if argv[:1] == ["grade"]:
        return None, argv[1:]
    if argv and argv[0] in SUBCOMMANDS:
        return SUBCOMMANDS[argv[0]], argv[1:]
    return None, argv
