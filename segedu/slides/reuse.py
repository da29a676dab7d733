"""Whether ``make slides`` can take the chapters that ``make book`` last executed, without
executing them again.

The slides are made from a book build's executed chapters (``<BOOK_OUT>/_build/jupyter_execute``).
``make book`` executes every chapter (``--all``), which takes minutes; ``make slides`` used to run
it each time. Now ``make book`` records what its chapters were executed from, and ``make slides``
reuses the build when nothing of that has changed since:

- ``snapshot <BOOK_OUT>`` (before the build): the SHA-256 of every file the executed chapters can
  depend on (the chapters ``course/``, the package ``segedu/``, the book's configuration
  ``jupyter-book-config/``, the dependency pins ``pyproject.toml`` and ``constraints.txt``, and the
  kernel-environment file if any) and the build's settings (fast mode ``SEGEDU_FAST``,
  ``SOLUTIONS``, ``BOOK_KERNEL_ENV``), written to ``<BOOK_OUT>/_build/book-inputs.pending.json``;
- ``record <BOOK_OUT>`` (after a successful build): that snapshot becomes
  ``<BOOK_OUT>/_build/book-inputs.json``, the inputs of the executed chapters that are there. A
  failed build leaves no record; a file edited *during* the build counts as changed (the snapshot
  was taken before);
- ``check <BOOK_OUT>``: exit status 0 and a line saying that the executed book is reused when the
  files and settings now are those of the record; otherwise status 1 and why (no record, or which
  files or settings differ), and ``make slides`` runs ``make book`` first.

Inputs: a book-build folder; the repository root (default: the working directory, where ``make``
runs) and the settings, from the command line (``--solutions``, ``--kernel-env``) and the
environment (``SEGEDU_FAST``). Outputs: the JSON files above, the exit status and one line.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

__all__ = ["book_inputs", "changes", "RECORD", "PENDING"]

RECORD = Path("_build") / "book-inputs.json"
PENDING = Path("_build") / "book-inputs.pending.json"
# Folders (and files) of the repository whose contents the executed chapters can depend on.
INPUTS = ("course", "segedu", "jupyter-book-config", "pyproject.toml", "constraints.txt")
# Inside those: what is generated (the labs and solutions that prepare_book.py copies into course/,
# bytecode, notebook checkpoints), not an input.
SKIP_PARTS = {"__pycache__", ".ipynb_checkpoints", "_build"}
SKIP_PREFIXES = ("course/labs/", "course/solutions/")


def _files(root: Path, kernel_env: str) -> list[str]:
    found = []
    for name in INPUTS:
        top = root / name
        paths = [top] if top.is_file() else sorted(top.rglob("*")) if top.is_dir() else []
        for path in paths:
            relative = path.relative_to(root).as_posix()
            if (path.is_file() and not SKIP_PARTS.intersection(path.relative_to(root).parts)
                    and not relative.startswith(SKIP_PREFIXES) and not relative.endswith(".pyc")):
                found.append(relative)
    if kernel_env:
        found.append(Path(kernel_env).as_posix())
    return found


def book_inputs(root: Path, *, solutions: str = "", kernel_env: str = "") -> dict:
    """The files (path -> SHA-256, relative to ``root``) and settings that a book build's executed
    chapters come from."""
    files = {}
    for relative in _files(root, kernel_env):
        with open(root / relative, "rb") as handle:
            files[relative] = hashlib.file_digest(handle, "sha256").hexdigest()
    # SEGEDU_FAST as given (this script does not import segedu.config, which imports torch: the
    # check must stay quick); only "1" then "0" for the same mode would build again needlessly
    settings = {"SEGEDU_FAST": os.environ.get("SEGEDU_FAST", "").strip().lower(),
                "SOLUTIONS": solutions.strip(),
                "BOOK_KERNEL_ENV": kernel_env.strip()}
    return {"settings": settings, "files": files}


def changes(recorded: dict, now: dict, limit: int = 5) -> list[str]:
    """What differs between two :func:`book_inputs` (empty when nothing does), in words."""
    found = [f"{key} was {recorded['settings'].get(key)!r}, is {value!r}"
             for key, value in now["settings"].items() if recorded["settings"].get(key) != value]
    before, after = recorded["files"], now["files"]
    edited = sorted(p for p in before.keys() & after.keys() if before[p] != after[p])
    for label, paths in (("changed", edited), ("new", sorted(after.keys() - before.keys())),
                         ("gone", sorted(before.keys() - after.keys()))):
        if paths:
            more = f" and {len(paths) - limit} more" if len(paths) > limit else ""
            found.append(f"{label} since: {', '.join(paths[:limit])}{more}")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m segedu.slides.reuse", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=("snapshot", "record", "check"))
    parser.add_argument("book_out", type=Path, help="the book build's folder (BOOK_OUT)")
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="the repository")
    parser.add_argument("--solutions", default="", help="make's SOLUTIONS")
    parser.add_argument("--kernel-env", default="", help="make's BOOK_KERNEL_ENV")
    args = parser.parse_args(argv)
    record, pending = args.book_out / RECORD, args.book_out / PENDING
    if args.action == "record":
        pending.replace(record)
        return 0
    now = book_inputs(args.root, solutions=args.solutions, kernel_env=args.kernel_env)
    if args.action == "snapshot":
        record.unlink(missing_ok=True)  # the build replaces the executed chapters
        pending.parent.mkdir(parents=True, exist_ok=True)
        now["started"] = time.strftime("%Y-%m-%d %H:%M:%S %Z")
        pending.write_text(json.dumps(now, indent=0), encoding="utf8")
        return 0
    executed = args.book_out / "_build" / "jupyter_execute"
    if not record.is_file() or not executed.is_dir():
        print(f"make slides: no finished `make book` recorded in {args.book_out}: building the "
              "book first")
        return 1
    recorded = json.loads(record.read_text(encoding="utf8"))
    differences = changes(recorded, now)
    if differences:
        print(f"make slides: the chapters executed in {args.book_out} are out of date ("
              + "; ".join(differences) + "): building the book again first")
        return 1
    print(f"make slides: reusing the chapters that `make book` executed in {executed} (started "
          f"{recorded.get('started', '?')}); chapters, segedu and the book's configuration are "
          "unchanged since, so no chapter is executed again")
    return 0


if __name__ == "__main__":
    sys.exit(main())
