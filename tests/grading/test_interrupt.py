"""Ctrl-C keeps every finished result, and one output folder holds one lab.

The interrupted batch runs the real ``segedu-grade`` command in a subprocess, on the tiny lab of
``test_grade``, with the notebook runner replaced (:data:`SCRIPT`): the students ``a1``, ``a2`` and
``a4`` get an instant stand-in result; ``a3``, whose notebook holds ``# SLOW``, runs a real notebook
that writes its kernel's pid and never ends, through the real runner. The test sends SIGINT (as a
terminal's Ctrl-C does) once two students have finished and ``a3``'s kernel runs.
"""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
import time

import nbformat
import psutil
import pytest

from segedu.grading import cli
from segedu.grading.results.outfolder import OutFolderError
from segedu.grading.run import grade_one
from segedu.grading.run.batch import grade_batch

from .test_grade import ENV, solved, tiny, tiny_solution  # noqa: F401 (tiny: a fixture)
from .test_regrade import Counting

SCRIPT = """
import json, sys
import nbformat
from segedu.grading import cli
from segedu.grading.run import grade_one, sandbox

PID = sys.argv.pop(1)
endless = nbformat.v4.new_notebook()
endless.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                  "language": "python"}
endless.cells = [nbformat.v4.new_code_cell(
    f"import os\\nopen({PID!r}, 'w').write(str(os.getpid()))"),
    nbformat.v4.new_code_cell("while True:\\n    pass")]

def runner(text, **options):
    if "# SLOW" in text:  # a real kernel, killed only by the cancel event
        return sandbox.run_notebook(nbformat.writes(endless), cell_timeout=600, timeout=600,
                                    cancel=options["cancel"])
    return sandbox.RunResult(returncode=0)

grade_one.run_notebook = runner
sys.exit(cli.main(sys.argv[1:]))
"""


def _gradebook(path):
    with open(path, encoding="utf-8", newline="") as file:
        return {row["student_id"]: row for row in csv.DictReader(file)}


def _files(folder):
    """Every file under ``folder``: relative path -> (bytes, modification time)."""
    return {p.relative_to(folder).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_ctrl_c_keeps_the_finished_students_and_the_rerun_grades_the_rest(tiny, tmp_path,  # noqa: F811
                                                                           monkeypatch):
    solution, lab_path, lab = tiny
    submissions, out, pid = tmp_path / "submissions", tmp_path / "out", tmp_path / "kernel.pid"
    submissions.mkdir()
    for name in ("a1", "a2", "a3", "a4"):
        notebook = solved(lab)
        if name == "a3":
            notebook.cells.append(nbformat.v4.new_code_cell("# SLOW"))
        nbformat.write(notebook, submissions / f"{name}.ipynb")
    command = [sys.executable, "-c", SCRIPT, str(pid), "--lab", str(lab_path), "--solution",
               str(solution), "--submissions", str(submissions), "--out", str(out),
               "--workers", "1"]
    process = subprocess.Popen(command, env=ENV, stderr=subprocess.PIPE, text=True)
    lines = []
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        lines.append(line)
        if line.startswith("a2:"):
            break
    while not (pid.is_file() and pid.read_text()) and time.monotonic() < deadline:
        time.sleep(0.2)  # a3's kernel has started its endless loop
    kernel = int(pid.read_text())
    assert psutil.pid_exists(kernel)
    process.send_signal(signal.SIGINT)
    rest = process.stderr.read()
    assert process.wait(timeout=60) == 130
    lines += rest.splitlines()
    # one line says what happened; no traceback
    assert "Traceback" not in rest, rest
    stop = [line for line in lines if line.startswith("interrupted:")]
    assert stop == [f"interrupted: 2 student(s) graded in this run and kept in {out} (gradebook "
                    "and feedback of what is finished); 2 not graded: run the same command "
                    "again to grade them"]
    # each student's own duration: the instant stand-ins take well under a second each
    assert [line.split(" (")[0] for line in lines if line[:3] in ("a1:", "a2:")] == [
        "a1: 0/6 crashed", "a2: 0/6 crashed"]
    assert all(float(line.split("(")[-1].split(" s)")[0]) < 5 for line in lines
               if line[:3] in ("a1:", "a2:"))
    # the running notebook was killed
    deadline = time.monotonic() + 10
    while psutil.pid_exists(kernel) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not psutil.pid_exists(kernel) or psutil.Process(kernel).status() == "zombie"
    # the finished students are kept: stored, in the gradebook, with their feedback
    assert sorted(p.name for p in (out / "results").iterdir()) == ["a1.json", "a2.json"]
    assert sorted(_gradebook(out / "gradebook.csv")) == ["a1", "a2"]
    assert sorted(p.name for p in (out / "feedback").glob("*.html")) == ["a1.html", "a2.html"]
    # the rerun grades only the rest
    runner = Counting()
    monkeypatch.setattr(grade_one, "run_notebook", runner)
    grade_batch(lab_path, submissions, out, solution=solution)
    assert runner.calls == 2
    assert sorted(_gradebook(out / "gradebook.csv")) == ["a1", "a2", "a3", "a4"]


def test_another_lab_into_a_graded_folder_changes_no_byte(tiny, tmp_path, monkeypatch):  # noqa: F811
    solution, lab_path, lab = tiny
    submissions, out = tmp_path / "submissions", tmp_path / "out"
    submissions.mkdir()
    nbformat.write(solved(lab), submissions / "s1.ipynb")
    monkeypatch.setattr(grade_one, "run_notebook", Counting())
    grade_batch(lab_path, submissions, out, solution=solution)
    (out / "export-canvas.csv").write_text("last week's export\n", encoding="utf-8")
    record = json.loads((out / "lab.json").read_text(encoding="utf-8"))
    assert (record["lab"], record["columns"]) == ("lab.ipynb", ["double", "double-hidden",
                                                                "square"])
    before = _files(out)
    # another lab: the same tiny lab with a fourth graded cell, under another name
    other = tiny_solution()
    extra = nbformat.v4.new_code_cell("assert square(2) == 4")
    extra.metadata["segedu"] = {"grade": True, "id": "square-2", "points": 1}
    other.cells.append(extra)
    other_lab = tmp_path / "other" / "03_other.ipynb"
    other_lab.parent.mkdir()
    nbformat.write(other, other_lab)
    with pytest.raises(OutFolderError, match=f"^{out} holds the grades of the lab lab.ipynb, not "
                                             "of 03_other.ipynb: give another --out, or --force"):
        grade_batch(other_lab, submissions, out)
    assert cli.main(["--lab", str(other_lab), "--submissions", str(submissions), "--out",
                       str(out)]) == 2
    assert _files(out) == before
    # --force claims the folder: nothing of the other lab stays beside the new gradebook
    assert cli.main(["--lab", str(other_lab), "--submissions", str(submissions), "--out",
                       str(out), "--force"]) == 0
    assert not (out / "export-canvas.csv").exists()
    assert json.loads((out / "lab.json").read_text(encoding="utf-8"))["lab"] == "03_other.ipynb"
    assert "square-2" in _gradebook(out / "gradebook.csv")["s1"]
    # the same lab again is no change of lab
    assert cli.main(["--lab", str(other_lab), "--submissions", str(submissions), "--out",
                       str(out)]) == 0
