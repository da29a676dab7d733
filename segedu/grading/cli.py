"""``segedu-grade``, the grader's entry point: grading a folder of submitted notebooks into a
gradebook and feedback (the default), and the subcommands, one table read by one dispatcher.

Usage::

    segedu-grade [grade] --lab labs/02_conv_arithmetic.ipynb --submissions DIR --out DIR
                 [--solution solutions/02_conv_arithmetic.ipynb] [--roster CSV]
                 [--only ID ...] [--force] [--workers N]
                 [--cell-timeout S] [--timeout S] [--memory-mb M] [--fast] [--isolate]
    segedu-grade <subcommand> ...          # one row of SUBCOMMANDS (export, manual, ...)
    python -m segedu.grading <subcommand> ...   # the same commands

Grading is the default, so ``segedu-grade --lab ...`` and ``segedu-grade grade --lab ...`` are the
same command (:func:`main`). Every other subcommand is a function ``main(argv: list[str]) -> int``
(the exit status) of the module that does its job, listed in :data:`SUBCOMMANDS` with one line of
help; ``segedu-grade --help`` prints those lines. No module of the rooms imports this one.

Options of grading:

--lab PATH          the released student lab (graded cells and their sources come from it)
--submissions DIR   the submitted notebooks, ``DIR/<student_id>.ipynb`` (the id is the file stem),
                    or an unzipped bulk download of Canvas, Moodle or Gradescope
                    (:mod:`.run.submissions`)
--out DIR           where ``gradebook.csv``, ``feedback/<student_id>.txt`` and ``.html`` (the page a
                    student reads, :mod:`.results.feedback`), the stored results
                    ``results/<student_id>.json`` and the answers for the manual page
                    ``manual/answers.json`` are written; the points entered by hand
                    (``manual/points.json``, :mod:`.results.manual_points`) are read, never
                    written
--roster CSV        the class list (:mod:`.results.roster`): submissions are matched to its
                    students; a student without a submission gets a row ``missing`` with 0
                    points; a submission that matches no student is graded, and flagged
--only ID ...       regrade these students; every other student keeps its stored result
--force             regrade everyone; by default a stored result is reused when the submission,
                    the lab, the solution, the grader and the options are unchanged
                    (:mod:`.results.cache`)
--solution PATH     the solution notebook: its cells tagged ``hidden-tests`` are added to every
                    submission, right after the graded cell they follow there
--workers N         submissions run at the same time (default 1)
--cell-timeout S    seconds one cell may run; it is then interrupted and fails (default 120)
--timeout S         seconds one notebook may run in all; then its processes are killed (default 900)
--memory-mb M       resident memory (MiB) of one notebook's processes before they are killed
                    (default 4096)
--fast              run the notebooks with ``SEGEDU_FAST=1`` (small sizes and step counts)
--isolate           run each notebook in bubblewrap (see :mod:`.run.sandbox`): read-only system, no
                    network, only its own temporary folder writable, and the folders of the lab, the
                    solution, the submissions and the output hidden

From this command down to the gradebook the calls go one way through the rooms: :func:`main` reads
the roster (:mod:`.results.roster`) and calls :func:`~.run.batch.grade_batch` (``run/``: what is
read first, what is kept on Ctrl-C, what is guarded), which grades each submission with
:func:`~.run.grade_one.grade_submission` (prepare, scan, sandbox, score) and ends with
:func:`~.results.batch_outputs.write_batch` (``results/``: the gradebook, the feedback, the
answers for the manual page), reading the lab through ``labs/`` and running the graded cells with
``kernel/`` inside the student's kernel.

Statuses: ``ok``; ``missing`` (a roster student without a submission: 0 points); ``invalid`` (not
run; also a file over 20 MiB); ``timeout`` (a cell was interrupted, or the notebook was killed at
its time limit); ``memory`` (killed above the memory limit); ``crashed`` (the kernel
died, e.g. ``os._exit``, or the run failed otherwise); ``tampered`` (graded cells voided: the
notebook replaced functions that the checks rely on, ran a graded cell without the guard or hid its
error, forged the guard's records, or reaches into the grader; it outranks the others);
``library`` (graded cells voided because a TODO was answered with the library's own function);
``solution-copy`` (its points stand, but it looks like the solution itself: its markers, hidden
tests or commented answers, or a written answer that is the model answer; see
:func:`.results.similarity.solution_copies`). A broken submission never stops the batch.

Limits of the approach: without ``--isolate`` the student's code runs as the grader's user: it can
read what the grader can (the solution too) and use the network; and the guard shares the student's
process, so code written to dig the guard's objects out of it could still forge its records (code
that names them is voided). ``--isolate`` closes the first; only running the checks in another
process would close the second.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .labs.generate import main as generate_main
from .labs.nbgrader_layout import main as release_main
from .labs.notebook import NotebookError
from .results.export import main as export_main
from .results.manual_page import main as manual_main
from .results.manual_points import ManualPointsError
from .results.outfolder import OutFolderError
from .results.roster import RosterError, read_roster
from .run.batch import Interrupted, grade_batch
from .run.grade_one import Limits, add_limit_options
from .run.gradescope_zip import main as gradescope_main
from .run.isolation import IsolationError
from .run.submissions import SubmissionsError

__all__ = ["Subcommand", "SUBCOMMANDS", "subcommand_help", "split_subcommand", "main"]


@dataclass(frozen=True)
class Subcommand:
    """A subcommand: the function that runs it (``main(argv) -> exit status``) and its help."""

    main: Callable[[list[str]], int]
    help: str


# name -> Subcommand; grading itself is the default: main below
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


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    command, argv = split_subcommand(argv)  # `segedu-grade export ...` and the others
    if command is not None:
        return command.main(argv)
    parser = argparse.ArgumentParser(
        prog="segedu-grade", description="Grade submitted lab notebooks into a gradebook.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Writes OUT/gradebook.csv and OUT/feedback/<student_id>.txt and .html; the "
               "written answers and the graded code go to OUT/manual/answers.json (grade them, "
               "or override a cell's points, with segedu-grade manual; the next run merges the "
               "points). See the module "
               "segedu.grading.cli for the statuses and the safety checks.\n\n"
               + subcommand_help())
    parser.add_argument("--lab", required=True, help="the released student lab (.ipynb)")
    parser.add_argument("--submissions", required=True,
                        help="folder of <student_id>.ipynb files, or an unzipped bulk download "
                             "of Canvas, Moodle or Gradescope (see segedu.grading.run.submissions)")
    parser.add_argument("--out", required=True,
                        help="folder for gradebook.csv, feedback/ and results/ (the stored "
                             "results that let a re-run grade only what changed)")
    parser.add_argument("--roster", metavar="CSV",
                        help="the class list: columns id, name, email (required) and canvas_id, "
                             "sis_user_id, sis_login_id, section, moodle_id; submissions are "
                             "matched to it, a student without one gets status 'missing', a "
                             "submission that matches nobody is graded and flagged (see "
                             "segedu.grading.results.roster)")
    parser.add_argument("--only", nargs="+", metavar="ID",
                        help="regrade these students only; every other stored result is kept")
    parser.add_argument("--force", action="store_true",
                        help="regrade everyone (by default a student's stored result is reused "
                             "when the submission, the lab, the solution, the grader and the "
                             "options are unchanged)")
    parser.add_argument("--solution", help="solution notebook: source of the hidden tests")
    parser.add_argument("--workers", type=int, default=1,
                        help="submissions run at once (default 1)")
    add_limit_options(parser)
    parser.add_argument("--isolate", action="store_true",
                        help="run each submission in bubblewrap (bwrap): read-only system, no "
                             "network, only its own folder writable, the lab/solution/submission "
                             "folders hidden")
    args = parser.parse_args(argv)
    if not Path(args.submissions).is_dir():
        print(f"error: {args.submissions}: no such folder", file=sys.stderr)
        return 2
    limits = Limits(cell_timeout=args.cell_timeout, timeout=args.timeout,
                    memory_mb=args.memory_mb, fast=args.fast, isolate=args.isolate)
    try:
        roster = read_roster(args.roster) if args.roster else None
        rows, warnings = grade_batch(args.lab, args.submissions, args.out, solution=args.solution,
                                     workers=args.workers, limits=limits,
                                     log=lambda m: print(m, file=sys.stderr, flush=True),
                                     roster=roster, only=args.only, force=args.force)
    except (NotebookError, IsolationError, RosterError, SubmissionsError,
            ManualPointsError, OutFolderError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except Interrupted as stop:
        print(stop, file=sys.stderr)
        return 130
    print(f"wrote {Path(args.out) / 'gradebook.csv'} ({len(rows)} submissions)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
