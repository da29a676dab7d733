"""The LMS in and out, without running a notebook: the roster, bulk downloads, and the exports.

The bulk downloads are written here in the shapes each system documents (see
:mod:`segedu.grading.run.submissions`): Canvas' ``<name>_[LATE_]<user>_<attachment>_<file>`` files,
Moodle's ``<Full Name>_<participant>_assignsubmission_file_/`` folders, and Gradescope's
``submission_metadata.yml`` beside ``submission_<n>/`` folders. The exports are read back with
:mod:`csv` and compared cell by cell with rows written by hand from the roster below.
"""

from __future__ import annotations

import csv
import io
import os
import time

import pytest

from segedu.grading.__main__ import main as grading_main
from segedu.grading.cli import main as grade_main
from segedu.grading.results.export import ExportError, export_rows, export_text
from segedu.grading.results.export import main as export_main
from segedu.grading.results.gradebook import CellGrade, Row, write_outputs
from segedu.grading.results.roster import RosterError, parse_roster
from segedu.grading.run.submissions import collect_submissions, find_submissions

ROSTER = """id,name,email,canvas_id,sis_user_id,sis_login_id,section,moodle_id
s001,Ada Lovelace,ada@uni.example,48213,A-1001,ada,Lab A,7301
s002,Alan Turing,alan@uni.example,48214,A-1002,alan,Lab B,7302
s003,Grace Hopper,Grace@Uni.example,48215,A-1003,grace,Lab A,
s004,Edsger Dijkstra,edsger@uni.example,48216,,,Lab B,7304
"""
NOTEBOOK = '{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'


@pytest.fixture
def roster():
    return parse_roster(ROSTER)


def _write(folder, relative: str, text: str = NOTEBOOK):
    path = folder / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _by_id(entries):
    return {e.student_id: e for e in entries}


@pytest.mark.parametrize("text, message", [
    ("id,name\ns1,A\n", "missing column(s) email"),
    ("id,name,email,canvas id\ns1,A,a@x\n", "unknown column(s) 'canvas id'"),
    ("id,name,email\ns1,A,a@x\ns1,B,b@x\n", "line 3: id 's1' is already used on line 2"),
    ("id,name,email\ns1,A,a@x\ns2,B,A@X\n", "line 3: email 'A@X' is already used on line 2"),
    ("id,name,email,canvas_id\ns1,A,a@x,9\ns2,B,b@x,9\n", "line 3: canvas_id '9' is already"),
    ("id,name,email\ns1,,a@x\n", "line 2: empty 'name'"),
    ("id,name,email\n../x,A,a@x\n", "line 2: id '../x' may hold only letters"),
    ("id,name,email\ns1,A\n", "line 2: 2 cells for 3 columns"),
    ("", "empty file"),
])
def test_a_malformed_roster_is_refused_with_its_line(text, message):
    with pytest.raises(RosterError) as error:
        parse_roster(text, where="roster.csv")
    assert message in str(error.value) and str(error.value).startswith("roster.csv")


def test_a_roster_with_a_byte_order_mark_and_blank_optional_ids(roster):
    parsed = parse_roster("\ufeff" + ROSTER)
    assert parsed == roster
    assert [s.id for s in roster.students] == ["s001", "s002", "s003", "s004"]
    assert roster.by_email("grace@UNI.example").id == "s003"
    assert roster.students[2].moodle_id == "" and roster.by_moodle_id("") is None


def test_a_canvas_download(tmp_path, roster):
    # Canvas: sortable name (lower case, no punctuation), LATE_, user id, attachment id, file name
    _write(tmp_path, "lovelaceada_48213_9911_lab02.ipynb")
    _write(tmp_path, "turingalan_LATE_48214_9920_lab02.ipynb")
    _write(tmp_path, "hoppergrace_48215_9930_lab02-1.ipynb")  # a renamed resubmission
    _write(tmp_path, "hoppergrace_48215_9931_scratch.ipynb")
    _write(tmp_path, "dijkstraedsger_48216_9940_report.pdf", "%PDF")  # no notebook at all
    _write(tmp_path, "stranger_50000_9950_lab02.ipynb")  # a user id not in the roster
    _write(tmp_path, "anon_Xy7Qk_9960_lab02.ipynb")  # an anonymised assignment
    entries = _by_id(collect_submissions(tmp_path, roster, prefer="lab02.ipynb"))
    # roster order, then the unmatched ones by file name
    assert list(entries) == ["s001", "s002", "s003", "s004", "canvas-anon_Xy7Qk", "canvas-50000"]
    assert entries["s001"].path.name == "lovelaceada_48213_9911_lab02.ipynb"
    assert entries["s001"].flags == ()
    assert entries["s002"].flags == ("submitted late (Canvas)",)
    # the one named like the lab (Canvas' rename lab02-1) is graded, though scratch is newer
    assert entries["s003"].path.name == "hoppergrace_48215_9930_lab02-1.ipynb"
    assert entries["s003"].flags == ("several notebooks: graded the newest, "
                                     "hoppergrace_48215_9930_lab02-1.ipynb; not graded: "
                                     "hoppergrace_48215_9931_scratch.ipynb",)
    assert entries["s004"].path is None
    assert entries["s004"].flags == ("no notebook among the submitted files "
                                     "(dijkstraedsger_48216_9940_report.pdf)",)
    assert entries["canvas-50000"].student is None
    assert entries["canvas-50000"].flags == (
        "no student in the roster matches this submission (Canvas user 50000 (stranger))",)
    assert entries["canvas-anon_Xy7Qk"].flags[-1].startswith("no student in the roster")


def test_the_newest_file_of_a_student_is_graded(tmp_path, roster):
    # a second Canvas download unzipped over the first: the on-time file and the late
    # resubmission (a higher attachment id) of one user, plus an older Moodle-style pair
    _write(tmp_path, "lovelaceada_48213_9911_lab02.ipynb")
    _write(tmp_path, "lovelaceada_LATE_48213_9987_lab02-1.ipynb")
    os.utime(tmp_path / "lovelaceada_48213_9911_lab02.ipynb", (time.time() + 60,) * 2)  # mtime
    entries = _by_id(collect_submissions(tmp_path, roster, prefer="lab02.ipynb"))
    assert list(entries) == ["s001", "s002", "s003", "s004"]  # no second row for s001
    assert entries["s001"].path.name == "lovelaceada_LATE_48213_9987_lab02-1.ipynb"
    assert entries["s001"].flags == ("submitted late (Canvas)",
                                     "several notebooks: graded the newest, "
                                     "lovelaceada_LATE_48213_9987_lab02-1.ipynb; not graded: "
                                     "lovelaceada_48213_9911_lab02.ipynb")
    # Moodle: the newer file by its time; Gradescope: the newer submission by created_at
    moodle = tmp_path / "moodle"
    old = _write(moodle, "Ada Lovelace_7301_assignsubmission_file_/lab02.ipynb")
    new = _write(moodle, "Ada Lovelace_7301_assignsubmission_file_/lab02-1.ipynb")
    os.utime(old, (time.time() + 60,) * 2)
    entries = _by_id(collect_submissions(moodle, roster, prefer="lab02.ipynb"))
    assert entries["s001"].path == old and "not graded: lab02-1.ipynb" in entries["s001"].flags[0]
    os.utime(new, (time.time() + 120,) * 2)
    assert _by_id(collect_submissions(moodle, roster, prefer="lab02.ipynb"))["s001"].path == new
    scope = tmp_path / "gradescope"
    metadata = GRADESCOPE_METADATA.replace("submission_103", "submission_104").replace(
        "visitor@other.example", "ada@uni.example")  # Ada again, a day after submission_101
    last = metadata.rindex("  :status: Graded")
    metadata = (metadata[:last] + "  :created_at: 2026-11-21 09:00:00.000000000 -08:00\n"
                + metadata[last:])
    _write(scope, "submission_metadata.yml", metadata)
    for number in (101, 102, 104):
        _write(scope, f"submission_{number}/lab02.ipynb")
    os.utime(scope / "submission_101/lab02.ipynb", (time.time() + 60,) * 2)  # not the file time
    entries = _by_id(collect_submissions(scope, roster, prefer="lab02.ipynb"))
    assert entries["s001"].path == scope / "submission_104/lab02.ipynb"
    assert entries["s001"].flags == ("older submission(s) not graded: Gradescope submission_101 "
                                     "(ada@uni.example)",)


def test_a_moodle_download(tmp_path, roster):
    # Moodle: a folder per participant; the number is the participant id, not the user id
    _write(tmp_path, "Ada Lovelace_7301_assignsubmission_file_/lab02.ipynb")
    _write(tmp_path, "Ada Lovelace_7301_assignsubmission_onlinetext_/onlinetext.html", "<p>")
    _write(tmp_path, "Alan Turing_7302_assignsubmission_file_/old.ipynb")
    _write(tmp_path, "Alan Turing_7302_assignsubmission_file_/lab02.ipynb")
    # no moodle_id for Grace in the roster: matched by her (unique) full name
    _write(tmp_path, "Grace Hopper_9999_assignsubmission_file_/lab02.ipynb")
    # blind marking: no name, and a participant id nobody has
    _write(tmp_path, "Participant_7777_assignsubmission_file_/lab02.ipynb")
    # download as folders off: the prefix is in the file's name
    _write(tmp_path, "Edsger Dijkstra_7304_assignsubmission_file_lab02.ipynb")
    entries = _by_id(collect_submissions(tmp_path, roster, prefer="lab02.ipynb"))
    assert list(entries) == ["s001", "s002", "s003", "s004", "moodle-7777"]
    assert entries["s001"].path.parent.name == "Ada Lovelace_7301_assignsubmission_file_"
    assert entries["s001"].flags == ()  # the online text is not a notebook: no flag
    assert entries["s002"].path.name == "lab02.ipynb"  # the one named like the lab
    assert entries["s002"].flags == ("several notebooks: graded the newest, lab02.ipynb; "
                                     "not graded: old.ipynb",)
    assert entries["s003"].flags == ("matched by name: Moodle participant 9999 is not a "
                                     "moodle_id of the roster",)
    assert entries["s004"].path.name == "Edsger Dijkstra_7304_assignsubmission_file_lab02.ipynb"
    assert entries["moodle-7777"].flags == ("no student in the roster matches this submission "
                                            "(Moodle participant 7777 (Participant))",)


GRADESCOPE_METADATA = """submission_101:
  :submitters:
  - :name: Ada Lovelace
    :sid: s001
    :email: ada@uni.example
  :created_at: 2026-11-20 10:00:00.000000000 -08:00
  :score: !ruby/object:BigDecimal 18:0.0
  :status: Graded
submission_102:
  :submitters:
  - :name: Alan Turing
    :sid: ''
    :email: ALAN@uni.example
  - :name: Grace Hopper
    :sid: s003
    :email: grace.hopper@elsewhere.example
  :created_at: 2026-11-20 11:00:00.000000000 -08:00
  :status: Graded
submission_103:
  :submitters:
  - :name: Visiting Student
    :sid: v9
    :email: visitor@other.example
  :status: Graded
"""


def test_a_gradescope_export(tmp_path, roster):
    _write(tmp_path, "submission_metadata.yml", GRADESCOPE_METADATA)
    for number in (101, 102, 103):
        _write(tmp_path, f"submission_{number}/lab02.ipynb")
    found = find_submissions(tmp_path, prefer="lab02.ipynb")
    assert [(f.lms, f.key) for f in found] == [("gradescope", f"submission_{n}")
                                               for n in (101, 102, 103)]
    assert found[1].submitters == (("Alan Turing", "", "ALAN@uni.example"),
                                   ("Grace Hopper", "s003", "grace.hopper@elsewhere.example"))
    entries = _by_id(collect_submissions(tmp_path, roster, prefer="lab02.ipynb"))
    # a group submission counts for each of its members (by email, else by sid)
    assert list(entries) == ["s001", "s002", "s003", "s004", "gradescope-103"]
    assert entries["s002"].path == entries["s003"].path == tmp_path / "submission_102/lab02.ipynb"
    assert entries["s004"].path is None and entries["s004"].flags == ("no submission",)
    assert entries["gradescope-103"].flags == (
        "no student in the roster matches this submission "
        "(Gradescope submission_103 (visitor@other.example))",)


def test_plain_files_with_and_without_a_roster(tmp_path, roster):
    _write(tmp_path, "s001.ipynb")
    _write(tmp_path, "s002/lab02.ipynb")  # a folder per student
    _write(tmp_path, "someone.ipynb")
    _write(tmp_path, "notes.txt", "not a submission")
    _write(tmp_path, "__MACOSX/._s001.ipynb", "resource fork")
    _write(tmp_path, "grades/gradebook.csv", "student_id\n")  # a folder without a notebook
    without = collect_submissions(tmp_path)
    assert [(e.student_id, e.flags) for e in without] == [("s001", ()), ("s002", ()),
                                                          ("someone", ())]
    entries = _by_id(collect_submissions(tmp_path, roster))
    assert [e.path is None for e in entries.values()] == [False, False, True, True, False]
    assert entries["someone"].flags[0].startswith("no student in the roster matches")
    # the same student twice (a plain file and a Canvas one): the newer file is graded, the row
    # names the other
    canvas = _write(tmp_path, "lovelaceada_48213_9911_lab02.ipynb")
    os.utime(canvas, (time.time() + 60, time.time() + 60))
    entries = _by_id(collect_submissions(tmp_path, roster))
    assert entries["s001"].path == canvas and len(entries) == 5
    assert entries["s001"].flags == ("older submission(s) not graded: file s001.ipynb",)


def _gradebook(tmp_path):
    """A gradebook written by the grader's own writer: s001 6/6, s002 missing, s003 1.5/6, and a
    row nobody in the roster matches; s004 has no row (graded without the roster)."""
    cells = {"s001": [6.0], "s002": [0.0], "s003": [1.5], "canvas-50000": [3.0]}
    rows = [Row(student_id=i, status="missing" if i == "s002" else "ok", max_total=6.0,
                cells=[CellGrade("all", e == 6.0, e, 6.0) for e in earned])
            for i, earned in cells.items()]
    write_outputs(tmp_path, rows, ["all"])
    return tmp_path / "gradebook.csv"


def _read_csv(path):
    with open(path, encoding="utf-8", newline="") as file:
        return list(csv.reader(file))


def test_the_canvas_export(tmp_path, roster, capsys):
    _gradebook(tmp_path)
    code = export_main(["--format", "canvas", "--grades", str(tmp_path), "--roster",
                        str(_write(tmp_path, "roster.csv", ROSTER)), "--assignment",
                        "Lab 02 (12345)"])
    assert code == 0
    err = capsys.readouterr().err
    assert "canvas-50000 is not in the roster: not exported" in err
    assert "s004 has no row in the gradebook: exported empty" in err
    rows = _read_csv(tmp_path / "export-canvas.csv")
    assert rows == [
        ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Lab 02 (12345)"],
        ["Points Possible", "", "", "", "", "6"],
        ["Ada Lovelace", "48213", "A-1001", "ada", "Lab A", "6"],
        ["Alan Turing", "48214", "A-1002", "alan", "Lab B", ""],  # missing: blank
        ["Grace Hopper", "48215", "A-1003", "grace", "Lab A", "1.5"],
        ["Edsger Dijkstra", "48216", "", "", "Lab B", ""],
    ]
    assert (tmp_path / "export-canvas.csv").read_bytes().count(b"\r\n") == 6


def test_the_moodle_export_and_no_gradescope_roster(tmp_path, roster, capsys):
    _gradebook(tmp_path)
    roster_path = _write(tmp_path, "roster.csv", ROSTER)
    assert export_main(["--format", "moodle", "--grades", str(tmp_path), "--roster",
                        str(roster_path), "--assignment", "Lab 02", "--missing", "zero"]) == 0
    assert _read_csv(tmp_path / "export-moodle.csv") == [
        ["Email address", "Full name", "Lab 02"],
        ["ada@uni.example", "Ada Lovelace", "6"],
        ["alan@uni.example", "Alan Turing", "0"],  # missing, exported as 0 when asked
        ["Grace@Uni.example", "Grace Hopper", "1.5"],
        ["edsger@uni.example", "Edsger Dijkstra", ""],
    ]
    # Gradescope imports rosters, not scores: no file that could overwrite its SIDs
    capsys.readouterr()
    assert export_main(["--format", "gradescope", "--grades", str(tmp_path), "--roster",
                        str(roster_path), "--assignment", "Lab 02"]) == 2
    assert "Gradescope documents no CSV import" in capsys.readouterr().err
    assert not (tmp_path / "export-gradescope.csv").exists()


def test_export_errors(tmp_path, roster, capsys):
    grades = {"s001": {"student_id": "s001", "total": "1", "max_total": "6", "status": "ok"}}
    bare = parse_roster("id,name,email\ns001,Ada Lovelace,ada@uni.example\n")
    with pytest.raises(ExportError, match="Canvas needs canvas_id, sis_user_id or sis_login_id "
                                          "for s001"):
        export_rows("canvas", grades, bare, "Lab 02")
    with pytest.raises(ExportError, match="unknown format 'blackboard'"):
        export_rows("blackboard", grades, roster, "Lab 02")
    mixed = {**grades, "s002": {**grades["s001"], "student_id": "s002", "max_total": "7"}}
    with pytest.raises(ExportError, match="disagree on max_total: 6, 7"):
        export_rows("canvas", mixed, roster, "Lab 02")
    assert export_main(["--format", "moodle", "--grades", str(tmp_path / "none"), "--roster",
                        str(_write(tmp_path, "roster.csv", ROSTER))]) == 2
    assert "no gradebook (run segedu-grade first)" in capsys.readouterr().err
    # a name with a comma and a quote is quoted as RFC 4180 says
    assert export_text([['Hopper, "Amazing" Grace', "1"]]) == '"Hopper, ""Amazing"" Grace",1\r\n'
    assert list(csv.reader(io.StringIO(export_text([["a,b", "c"]])))) == [["a,b", "c"]]


def test_the_help_documents_the_roster_the_regrade_and_the_exports(capsys):
    with pytest.raises(SystemExit):
        grade_main(["--help"])
    text = capsys.readouterr().out
    for option in ("--roster", "--only", "--force", "Canvas, Moodle or Gradescope", "export"):
        assert option in text, option
    # `grade` is the default subcommand: the same help with or without the word
    with pytest.raises(SystemExit):
        grade_main(["grade", "--help"])
    assert capsys.readouterr().out == text
    with pytest.raises(SystemExit):
        grading_main(["export", "--help"])  # python -m segedu.grading export
    text = capsys.readouterr().out
    for word in ("canvas", "moodle", "Gradescope", "SIS User ID", "Email address", "--assignment"):
        assert word in text, word
