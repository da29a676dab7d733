"""nbgrader's course layout, for a course on a JupyterHub: the labs released into it, and its
submissions read by ``segedu-grade``.

nbgrader (https://nbgrader.readthedocs.io, "Philosophy" and "Exchanging assignment files") keeps
a course in one folder:

- ``release/<assignment>/<notebook>.ipynb``: the student version, which ``nbgrader
  release_assignment`` copies into the exchange, where students fetch it (``segedu-grade release``,
  :func:`release_labs`, writes segedu's labs there);
- the exchange's ``inbound/<student>+<assignment>+<timestamp>[+<random>]/``: one folder per
  submission, every attempt kept, each with the student's files and ``timestamp.txt``;
- ``submitted/<student>/<assignment>/``: what ``nbgrader collect`` copies from the inbound
  folder, the newest attempt of each student, with its ``timestamp.txt``.

``segedu-grade --submissions COURSE/submitted`` (or the exchange's ``inbound``) grades them: the
student is named by the folder (:mod:`.submissions`), and when one student has several attempts
(several inbound folders, or several folders with a ``timestamp.txt`` in the student's folder),
the newest by its ``timestamp.txt`` is graded, as nbgrader's collect takes the newest; the row
names the others. Without a ``timestamp.txt`` a file's modification time decides, as for any
folder of submissions.
"""

from __future__ import annotations

import argparse
import datetime
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from .notebook import NotebookError, read_notebook

__all__ = ["TIMESTAMP", "Attempt", "parse_timestamp", "inbound_attempt", "attempt_time",
           "release_labs", "main"]

TIMESTAMP = "timestamp.txt"
# <student>+<assignment>+<timestamp>, and newer nbgrader's +<random string> after it
INBOUND = re.compile(r"^(?P<student>[^+]+)\+(?P<assignment>[^+]+)\+(?P<timestamp>[^+]+)"
                     r"(?:\+(?P<random>[^+]+))?$")


@dataclass(frozen=True)
class Attempt:
    """One inbound folder's name, read: who, which assignment, when (seconds since the epoch)."""

    student: str
    assignment: str
    when: float


def parse_timestamp(text: str) -> float | None:
    """Seconds since the epoch of nbgrader's timestamp (``2026-11-20 17:05:01.123456 UTC``, as
    ``timestamp.txt`` and the inbound folders write it; a time without a zone is UTC), or
    ``None`` when it is not one."""
    text = text.strip()
    if not text:
        return None
    zone = datetime.UTC
    if text.endswith((" UTC", " GMT", "Z")):
        text = text[:-1] if text.endswith("Z") else text[:-4]
    try:
        moment = datetime.datetime.fromisoformat(text.strip().replace(" ", "T", 1))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.timestamp()


def inbound_attempt(name: str) -> Attempt | None:
    """The attempt that an exchange's inbound folder name describes, or ``None``."""
    match = INBOUND.fullmatch(name)
    if match is None:
        return None
    when = parse_timestamp(match["timestamp"])
    return None if when is None else Attempt(match["student"], match["assignment"], when)


def attempt_time(path: Path, top: Path) -> float | None:
    """When the attempt that holds ``path`` was submitted: the nearest ``timestamp.txt`` in its
    folder or a folder above it, up to ``top`` (included); ``None`` when there is none (or it
    cannot be read)."""
    folder = path.parent
    while True:
        stamp = folder / TIMESTAMP
        if stamp.is_file():
            try:
                return parse_timestamp(stamp.read_text(encoding="utf8", errors="replace")[:200])
            except OSError:
                return None
        if folder == top or top not in folder.parents:
            return None
        folder = folder.parent


def release_labs(labs: list[Path], course: Path, *, names: dict[str, str] | None = None,
                 force: bool = False) -> list[Path]:
    """Copy each student lab into ``course/release/<assignment>/<lab file>``; the assignment is
    the lab's stem unless ``names`` (lab stem -> assignment) says otherwise. A lab that is not a
    readable notebook, or a release folder that exists (without ``force``), stops it before
    anything is written."""
    names = names or {}
    plan = []
    for lab in labs:
        read_notebook(lab)  # NotebookError names a missing or broken lab
        assignment = names.get(lab.stem, lab.stem)
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", assignment):
            raise NotebookError(f"assignment name {assignment!r}: letters, digits, . _ - only "
                                "(nbgrader and the exchange's folder names)")
        target = course / "release" / assignment
        if target.exists() and not force:
            raise NotebookError(f"{target} exists (nbgrader may have released it): --force "
                                "replaces it")
        plan.append((lab, target))
    written = []
    for lab, target in plan:
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        shutil.copyfile(lab, target / lab.name)
        written.append(target / lab.name)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="segedu-grade release",
        description="Write the student labs into an nbgrader course's release/<assignment>/ "
                    "folders (then: nbgrader release_assignment <assignment>).")
    parser.add_argument("labs", nargs="*", help="student labs (default: every labs/*.ipynb)")
    parser.add_argument("--course", required=True, help="the nbgrader course folder")
    parser.add_argument("--assignment", action="append", default=[], metavar="LAB=NAME",
                        help="the assignment name of a lab (default: the lab's stem), e.g. "
                             "00_masks=lab0")
    parser.add_argument("--force", action="store_true", help="replace release folders that exist")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    labs = [Path(p) for p in args.labs] or sorted(Path("labs").glob("*.ipynb"))
    if not labs:
        print("error: no lab given and no labs/*.ipynb here", file=sys.stderr)
        return 2
    names = {}
    for pair in args.assignment:
        lab, sep, name = pair.partition("=")
        if not sep:
            print(f"error: --assignment {pair!r}: expected LAB=NAME", file=sys.stderr)
            return 2
        names[Path(lab).stem] = name
    try:
        written = release_labs(labs, Path(args.course), names=names, force=args.force)
    except NotebookError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for path in written:
        print(f"wrote {path}")
    return 0
