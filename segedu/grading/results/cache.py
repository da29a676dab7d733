"""Grade only what changed: each student's result, stored with the hash of everything it depends on.

A result depends on the submitted bytes, the released lab, the solution (its hidden tests), the
grader (every file of segedu, whose library the labs call, and the versions of Python and of the
packages the notebooks run with: :func:`grader_version`) and the options that change a result
(the limits, ``--fast``, ``--isolate``). :func:`batch_key` hashes all but the submission,
:func:`result_key` adds the submission. ``OUT/results/<student_id>.json`` holds::

    {"key": "<sha256>", "batch": "<sha256>", "row": {...the gradebook row and its feedback...}}

:class:`ResultStore` reads such a file back as a :class:`~segedu.grading.results.gradebook.Row` only
when its ``key`` is the one computed now, so an unchanged student is not run again, and any change
to one of the inputs regrades. It writes only the files of that folder, one per student graded,
atomically and after the batch; what others write into the output folder (the points entered by
hand) is never touched. The folder is the grader's: :meth:`ResultStore.restore` undoes, after the
batch, whatever a submission changed or planted there while it ran. What matching the roster
adds to a row (late, unmatched) is not stored: it is added again on every run. A row whose
grading failed inside the grader (``grader error: ...``) is not stored, so the next run tries
again.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import sys
import typing
from importlib import metadata
from pathlib import Path

from ... import __version__
from .gradebook import Row, write_atomic

__all__ = ["FOLDER", "PACKAGES", "files_digest", "grader_version", "batch_key", "result_key",
           "ResultStore"]

FOLDER = "results"  # under the output folder
FORMAT = 1  # of the stored files; a new format regrades everything
# the packages whose versions a result depends on (the notebooks' numbers, the runner)
PACKAGES = ("torch", "torchvision", "numpy", "scipy", "scikit-image", "nbformat", "nbval",
            "ipykernel", "jupyter_client")


def files_digest(folder: Path) -> str:
    """sha256 of every file under ``folder`` (names and bytes; ``__pycache__`` left out)."""
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            name = path.relative_to(folder).as_posix()
            digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


@functools.cache
def grader_version() -> str:
    """segedu's version and a hash of what grading runs with: every file of the segedu package
    (the grader, and the library and zoo checkpoints that the labs call), Python's version and
    those of :data:`PACKAGES`. Any edit to one of them changes it; it is read once per process
    (about 0.2 s), as the grader's own code is."""
    digest = hashlib.sha256(__version__.encode())
    digest.update(files_digest(Path(__file__).resolve().parents[2]).encode())  # segedu/
    digest.update(sys.version.encode())
    for name in PACKAGES:
        try:
            version = metadata.version(name)
        except metadata.PackageNotFoundError:
            version = "none"
        digest.update(f"{name}={version}\0".encode())
    return f"{__version__}+{digest.hexdigest()[:16]}"


def batch_key(lab: bytes, solution: bytes | None, options: dict) -> str:
    """The hash of what every result of a batch depends on, the submission aside."""
    digest = hashlib.sha256(f"segedu-grade results v{FORMAT}\0".encode())
    digest.update(hashlib.sha256(lab).digest())
    digest.update(hashlib.sha256(solution).digest() if solution is not None else b"no solution")
    digest.update(grader_version().encode())
    # 10 and 10.0 seconds are the same option (the command line gives floats, Python code ints)
    numbers = {k: float(v) if isinstance(v, int | float) and not isinstance(v, bool) else v
               for k, v in options.items()}
    digest.update(json.dumps(numbers, sort_keys=True, default=str).encode())
    return digest.hexdigest()


def result_key(batch: str, submission: bytes) -> str:
    """The hash of everything one student's result depends on."""
    return hashlib.sha256(batch.encode() + b"\0" + hashlib.sha256(submission).digest()).hexdigest()


def _row_to_json(row: Row) -> dict:
    return dataclasses.asdict(row)


def _row_from_json(data: dict) -> Row:
    """A Row from its stored dict (its lists of dataclasses, such as ``cells``, rebuilt);
    ``TypeError``/``KeyError`` when the stored layout is not today's Row."""
    hints = typing.get_type_hints(Row)
    if set(data) != set(hints):
        raise KeyError(f"stored fields {sorted(data)} are not Row's")
    values = {}
    for name, value in data.items():
        kind = typing.get_args(hints[name])
        if isinstance(value, list) and kind and dataclasses.is_dataclass(kind[0]):
            value = [kind[0](**item) for item in value]
        values[name] = value
    return Row(**values)


class ResultStore:
    """The stored results of one output folder (``OUT/results/``)."""

    def __init__(self, out: str | Path):
        self.folder = Path(out) / FOLDER

    def path(self, student_id: str) -> Path:
        return self.folder / f"{student_id}.json"

    def stored(self, student_id: str) -> dict | None:
        """The stored file of this student as it is (``key``, ``batch``, ``row``), or ``None``."""
        try:
            data = json.loads(self.path(student_id).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def load(self, student_id: str, key: str | None) -> Row | None:
        """The stored row of this student if it was computed from ``key`` (any key: ``None``)."""
        data = self.stored(student_id)
        if data is None or (key is not None and data.get("key") != key):
            return None
        try:
            row = _row_from_json(data["row"])
        except (TypeError, KeyError, AttributeError):
            return None  # written by another version of the grader: regrade
        row.student_id = student_id
        return row

    def snapshot(self) -> dict[str, bytes]:
        """Every stored result's bytes (file name -> bytes), read before anything runs."""
        if not self.folder.is_dir():
            return {}
        return {p.name: p.read_bytes() for p in sorted(self.folder.glob("*.json"))
                if p.is_file() and not p.is_symlink()}

    def restore(self, snapshot: dict[str, bytes]) -> list[str]:
        """Put the stored results back as ``snapshot`` holds them; the names of those changed.

        Only the grader writes this folder, and only after the batch (:meth:`store`): a file that
        changed while the submissions ran gets its bytes back, and one that appeared is removed,
        so that no submission can plant a result for the next run to reuse.
        """
        if self.folder.is_symlink() or (self.folder.exists() and not self.folder.is_dir()):
            self.folder.unlink()
        changed = []
        now = sorted(self.folder.glob("*.json")) if self.folder.is_dir() else []
        for path in now:
            if path.name not in snapshot:
                path.unlink()
                changed.append(path.name)
        for name, data in snapshot.items():
            path = self.folder / name
            if path.is_symlink() or not path.is_file() or path.read_bytes() != data:
                if path.is_symlink():
                    path.unlink()
                write_atomic(path, data.decode("utf-8"))
                changed.append(name)
        return sorted(changed)

    def store(self, student_id: str, key: str, batch: str, row: Row) -> None:
        """Store ``row`` (as graded, before matching flags) under ``key``, atomically."""
        if any(flag.startswith("grader error") for flag in row.flags):
            return
        text = json.dumps({"key": key, "batch": batch, "row": _row_to_json(row)},
                          ensure_ascii=False, indent=1)
        write_atomic(self.path(student_id), text)
