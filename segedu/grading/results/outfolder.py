"""One lab per output folder: ``OUT/lab.json`` records what the folder's grades were graded against.

The grader writes, before it grades anything into ``OUT``::

    {"format": "segedu-grade-folder", "version": 1,
     "lab": "06_cells.ipynb", "lab_sha256": "...", "solution": "06_cells.ipynb",
     "solution_sha256": "..." (or null), "columns": ["graded id", ...],
     "points": {"graded id": worth, ...}, "written": ["written question id", ...]}

A later run into the same folder with another lab, or with the same lab's file changed or another
solution, stops with one line before it writes anything (:class:`OutFolderError`), so that last
week's gradebook, feedback and exports are never replaced by this week's by mistake. ``--force``
claims the folder for the new lab: the previous lab's grader outputs (the gradebook, the
feedback pages, the stored results, the exports, ``similar_answers.csv`` and the collected
written answers) are removed then, so that nothing of the other lab stays beside the new
gradebook; the points entered by hand (``manual/points.json``) are never removed. A folder
graded by a grader older than this record is recognised by its gradebook's columns.
"""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
from pathlib import Path

from .gradebook import write_atomic

__all__ = ["RECORD", "OutFolderError", "claim", "read_record"]

RECORD = "lab.json"
FORMAT = "segedu-grade-folder"
# what the grader writes into an output folder for one lab (removed when --force claims it)
OUTPUTS = ("gradebook.csv", "similar_answers.csv", "feedback", "results", "manual/answers.json")


class OutFolderError(ValueError):
    """The output folder holds the grades of another lab (or of another version of this one)."""


def _sha(data: bytes | None) -> str | None:
    return None if data is None else hashlib.sha256(data).hexdigest()


def _gradebook_columns(path: Path) -> list[str] | None:
    try:
        with open(path, encoding="utf-8", newline="") as file:
            return next(csv.reader(file), None)
    except (OSError, UnicodeDecodeError):
        return None


def _previous(out: Path) -> dict | None:
    """What the folder was graded against: its record, or (older graders) its gradebook's
    columns; ``None`` for a folder without grades."""
    path = out / RECORD
    if path.is_file():
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise OutFolderError(f"{path}: not readable ({error}); move it away or pass "
                                 "--force") from None
        if isinstance(record, dict) and record.get("format") == FORMAT:
            return record
        raise OutFolderError(f"{path}: not segedu-grade's record of this folder; move it away or "
                             "pass --force")
    header = _gradebook_columns(out / "gradebook.csv")
    if header is None:
        return None
    end = header.index("total") if "total" in header else len(header)
    return {"lab": None, "columns": header[1:end]}


def read_record(out: str | Path) -> dict | None:
    """The folder's record (``None`` when there is none or it is not readable)."""
    try:
        record = json.loads((Path(out) / RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and record.get("format") == FORMAT else None


def claim(out: str | Path, *, lab: Path, lab_data: bytes, solution: Path | None,
          solution_data: bytes | None, columns: dict[str, float], written: list[str] = (),
          force: bool = False) -> list[str]:
    """Check that ``out`` holds no other lab's grades, then record this lab; return what was done
    (lines for the log). Raises :class:`OutFolderError` (having changed nothing) when it holds
    another lab's grades, unless ``force``."""
    out = Path(out)
    lab_sha, solution_sha = _sha(lab_data), _sha(solution_data)
    try:
        previous = _previous(out)
    except OutFolderError:
        if not force:
            raise
        previous = {"lab": "an unknown lab", "lab_sha256": None}
    done: list[str] = []
    if previous is not None:
        if previous.get("lab") is None:  # graded before the record existed: its columns say
            same_lab = previous["columns"][:len(columns)] == list(columns)
            differs = None if same_lab else "another lab (other graded cells)"
        elif previous.get("lab_sha256") != lab_sha:
            differs = (f"{'another version of ' if previous.get('lab') == lab.name else ''}"
                       f"the lab {previous.get('lab')}")
        elif previous.get("solution_sha256") != solution_sha:
            differs = f"this lab with another solution ({previous.get('solution')})"
        else:
            differs = None
        if differs is not None and not force:
            raise OutFolderError(f"{out} holds the grades of {differs}, not of {lab.name}: give "
                                 "another --out, or --force to regrade this folder with "
                                 f"{lab.name}")
        if differs is not None and previous.get("lab_sha256") != lab_sha:
            removed = []
            for name in [*OUTPUTS, *(p.name for p in out.glob("export-*.csv"))]:
                path = out / name
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                elif path.exists() or path.is_symlink():
                    path.unlink()
                else:
                    continue
                removed.append(name)
            if removed:
                other = previous.get("lab") or "the other lab"
                done.append(f"--force: removed the grades of {other} from {out} "
                            f"({', '.join(removed)}); the points entered by hand stay")
    record = {"format": FORMAT, "version": 1, "lab": lab.name, "lab_sha256": lab_sha,
              "solution": solution.name if solution is not None else None,
              "solution_sha256": solution_sha, "columns": list(columns),
              "points": dict(columns), "written": list(written)}
    path = out / RECORD
    text = json.dumps(record, indent=1) + "\n"
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        write_atomic(path, text)
    return done
