"""``python -m segedu.grading generate [--solutions DIR] [--labs DIR] [--check]``.

``python -m segedu.grading grade ...`` is ``segedu-grade ...`` (see :mod:`segedu.grading.grade`),
and so is every subcommand of :mod:`segedu.grading.cli`: ``python -m segedu.grading export ...``.
"""

from __future__ import annotations

import argparse
import sys

from .cli import SUBCOMMANDS
from .generate import generate_labs, stale_labs
from .notebook import NotebookError


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["grade"] or argv[:1] and argv[0] in SUBCOMMANDS:
        # the grader and its subcommands have their own options: hand them over as they are
        from .grade import main as grade_main

        return grade_main(argv)
    parser = argparse.ArgumentParser(prog="python -m segedu.grading",
                                     description="segedu's lab tools")
    commands = parser.add_subparsers(dest="command", required=True)
    generate = commands.add_parser("generate", help="write the student labs from the solutions")
    generate.add_argument("--solutions", default="solutions", help="folder of solution notebooks")
    generate.add_argument("--labs", default="labs", help="folder of student notebooks to write")
    generate.add_argument("--check", action="store_true",
                          help="write nothing; exit 1 if a lab differs from what would be "
                               "generated")
    commands.add_parser("grade", help="grade submissions (segedu-grade; see grade --help)")
    args = parser.parse_args(argv)
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


if __name__ == "__main__":
    raise SystemExit(main())
