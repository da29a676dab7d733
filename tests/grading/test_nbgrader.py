"""nbgrader's course layout on a JupyterHub (segedu.grading.labs.nbgrader_layout): the labs released
into ``release/<assignment>/``, and a class graded from ``submitted/<student>/<assignment>/`` and
from the exchange's ``inbound/<student>+<assignment>+<timestamp>/`` folders, where the newest
attempt by ``timestamp.txt`` is graded, as ``nbgrader collect`` takes it.

The layouts follow nbgrader's documentation ("Exchanging assignment files",
https://nbgrader.readthedocs.io/en/stable/user_guide/managing_assignment_files.html): the
timestamp is written as ``2026-11-20 17:05:01.123456 UTC``. The class is test_grade.py's tiny lab
(cheap kernels); only two notebooks are run.
"""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest

from segedu.grading.labs.nbgrader_layout import attempt_time, inbound_attempt, main, parse_timestamp
from segedu.grading.run.batch import grade_batch
from segedu.grading.run.submissions import collect_submissions

from .test_grade import LIMITS, solved, tiny  # noqa: F401 (tiny is a fixture)

ROOT = Path(__file__).resolve().parents[2]
OLD, NEW = "2026-11-20 09:00:00.000000 UTC", "2026-11-20 17:05:01.123456 UTC"


def _attempt(folder: Path, notebook, stamp: str | None, mtime: float) -> Path:
    """``folder/lab.ipynb`` (with ``timestamp.txt`` when ``stamp``), modified at ``mtime``."""
    folder.mkdir(parents=True)
    path = folder / "lab.ipynb"
    nbformat.write(notebook, path)
    if stamp is not None:
        (folder / "timestamp.txt").write_text(stamp)
    os.utime(path, (mtime, mtime))
    return path


def test_timestamps_and_inbound_names():
    assert parse_timestamp(NEW) - parse_timestamp(OLD) == pytest.approx(8 * 3600 + 301.123456)
    assert parse_timestamp("2026-11-20T09:00:00+01:00") == parse_timestamp(
        "2026-11-20 08:00:00 UTC")
    assert parse_timestamp("yesterday") is None and parse_timestamp("") is None
    attempt = inbound_attempt(f"alice+lab+{NEW}+a1b2c3")
    assert (attempt.student, attempt.assignment, attempt.when) == ("alice", "lab",
                                                                   parse_timestamp(NEW))
    assert inbound_attempt(f"alice+lab+{OLD}").when == parse_timestamp(OLD)
    assert inbound_attempt("alice") is None and inbound_attempt("a+b+not a time") is None


def test_the_newest_attempt_by_its_timestamp_is_graded(tiny, tmp_path):  # noqa: F811
    """Each student's newer attempt was written first (its file is older): only timestamp.txt
    tells them apart, in both layouts; a folder without timestamp.txt falls back on mtime."""
    _, _, lab = tiny
    inbound, submitted = tmp_path / "inbound", tmp_path / "submitted"
    early, late = 1_700_000_000, 1_700_100_000
    new = _attempt(inbound / f"alice+lab+{NEW}+x1", solved(lab), NEW, early)
    _attempt(inbound / f"alice+lab+{OLD}+x2", lab, OLD, late)
    bob = _attempt(inbound / f"bob+lab+{OLD}", lab, None, early)  # the folder's name says when
    entries = {e.student_id: e for e in collect_submissions(inbound, prefer="lab.ipynb")}
    assert sorted(entries) == ["alice", "bob"]
    assert entries["alice"].path == new and entries["bob"].path == bob
    assert any("several notebooks: graded the newest" in f for f in entries["alice"].flags)
    # submitted/<student>/<assignment>/, and two attempts kept in one student's folder
    carol_new = _attempt(submitted / "carol" / "lab" / "2", solved(lab), NEW, early)
    _attempt(submitted / "carol" / "lab" / "1", lab, OLD, late)
    dave = _attempt(submitted / "dave" / "lab", lab, NEW, early)
    assert attempt_time(dave, submitted / "dave") == parse_timestamp(NEW)
    entries = {e.student_id: e for e in collect_submissions(submitted, prefer="lab.ipynb")}
    assert (entries["carol"].path, entries["dave"].path) == (carol_new, dave)
    # without timestamp.txt, the newer file wins
    for stamp in (submitted / "carol" / "lab").rglob("timestamp.txt"):
        stamp.unlink()
    entries = {e.student_id: e for e in collect_submissions(submitted, prefer="lab.ipynb")}
    assert entries["carol"].path != carol_new


def test_a_class_graded_from_nbgrader_submitted_folders(tiny, tmp_path):  # noqa: F811
    """segedu-grade on ``submitted/``: students named by their folders, the newest attempt."""
    solution, lab_path, lab = tiny
    submitted = tmp_path / "course" / "submitted"
    _attempt(submitted / "alice" / "tiny" / "b", solved(lab), NEW, 1_700_000_000)
    _attempt(submitted / "alice" / "tiny" / "a", lab, OLD, 1_700_100_000)
    _attempt(submitted / "bob" / "tiny", solved(lab, square="def square(x):\n    return x + x"),
             NEW, 1_700_000_000)
    rows, warnings = grade_batch(lab_path, submitted, tmp_path / "out", solution=solution,
                                 workers=2, limits=LIMITS)
    assert warnings == []
    got = {r.student_id: (r.total, r.status) for r in rows}
    assert got == {"alice": (6, "ok"), "bob": (3, "ok")}  # bob's square is wrong (3 points)
    assert (tmp_path / "out" / "feedback" / "alice.html").is_file()


def test_release_writes_nbgraders_release_folders(tmp_path, capsys):
    labs = sorted((ROOT / "labs").glob("*.ipynb"))[:2]
    course = tmp_path / "course"
    assert main([*map(str, labs), "--course", str(course),
                 "--assignment", f"{labs[0].stem}=lab0"]) == 0
    first, second = course / "release" / "lab0", course / "release" / labs[1].stem
    assert (first / labs[0].name).read_bytes() == labs[0].read_bytes()
    assert (second / labs[1].name).read_bytes() == labs[1].read_bytes()
    assert sorted(p.name for p in (course / "release").iterdir()) == sorted(["lab0",
                                                                            labs[1].stem])
    # a second release stops before writing anything, unless --force
    assert main([str(labs[1]), "--course", str(course)]) == 2
    assert "exists" in capsys.readouterr().err
    assert main([str(labs[1]), "--course", str(course), "--force"]) == 0
    assert main([str(tmp_path / "nothing.ipynb"), "--course", str(course)]) == 2
    assert main([str(labs[0]), "--course", str(course), "--assignment", "x"]) == 2
