"""What Gradescope runs for each submission: ``run_autograder`` of the zip that
``segedu-grade gradescope`` writes (:mod:`.gradescope_zip`).

``python -m segedu.grading.run.gradescope_autograder`` (the whole of ``run_autograder``), in the
tree that Gradescope's specification lays out
(https://gradescope-autograders.readthedocs.io/en/latest/specs/) under ``$SEGEDU_AUTOGRADER_ROOT``
(default ``/autograder``):

1. reads ``source/segedu_lab/``: the released lab, the solution (its hidden tests) and
   ``config.json`` (the limits, the visibility of the hidden tests' details, what to do with the
   written answers), all into memory;
2. finds the one notebook among ``submission/``'s files (any name; a clear message and 0 points
   when there is none, or several);
3. grades it with :func:`~.grade_one.grade_submission`, the function that ``segedu-grade`` runs for
   every student (the same hidden tests, limits, tamper checks and notes), then reads its written
   answers and checks whether it is a copy of the solution as ``segedu-grade``'s batch does
   (:mod:`.batch_outputs`);
4. writes ``results/results.json`` (:mod:`.gradescope_results`); what it prints goes to
   Gradescope's ``results/stdout``, which only the instructor sees.

**The hidden tests stay out of the student's reach.** Gradescope runs ``run_autograder`` as root,
and code running as root reads any file. So, when it runs as root, this command makes ``source/``
readable by root only and grades in a child process that runs as an unprivileged user (``nobody``;
``SEGEDU_AUTOGRADER_USER`` names another) and that cannot be inspected by the processes it starts
(``PR_SET_DUMPABLE`` 0): the lab, the solution and the submission reach it through a pipe, and the
student's notebook, run by that child, can read neither ``source/`` nor the child's memory, nor
write ``results/``. Where bubblewrap works, the run is also isolated as ``segedu-grade
--isolate`` isolates it, with ``source/`` hidden. Where the unprivileged user cannot run this
Python (a test tree under a private home), the run is isolated with bubblewrap as root instead;
where neither is possible, the command says so on the instructor's output and grades anyway.
"""

from __future__ import annotations

import base64
import ctypes
import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from ..labs.assignment import Assignment, readable
from ..labs.notebook import graded_id
from ..labs.written import student_answers
from ..results.gradescope_results import problem_results, results_json
from ..results.manual_points import attach_points
from ..results.similarity import solution_copies
from .batch import MAX_SUBMISSION_MB
from .grade_one import Limits, grade_submission
from .isolation import isolation_problem

__all__ = ["ROOT_ENV", "USER_ENV", "LAB_FOLDER", "autograder_root", "find_notebook",
           "grade_to_results", "main"]

ROOT_ENV = "SEGEDU_AUTOGRADER_ROOT"
USER_ENV = "SEGEDU_AUTOGRADER_USER"
LAB_FOLDER = "segedu_lab"  # inside source/: lab.ipynb, solution.ipynb, config.json
STUDENT = "submission"  # the id the feedback names
SKIPPED = {"__MACOSX", ".ipynb_checkpoints"}
PR_SET_DUMPABLE = 4


def autograder_root() -> Path:
    """``$SEGEDU_AUTOGRADER_ROOT``, default ``/autograder``."""
    return Path(os.environ.get(ROOT_ENV) or "/autograder")


def find_notebook(submission: Path) -> tuple[Path | None, str]:
    """(the one notebook among the submitted files, ``""``), or (``None``, what to tell the
    student)."""
    files = sorted(p for p in submission.rglob("*") if p.is_file()
                   and not any(part.startswith(".") or part in SKIPPED
                               for part in p.relative_to(submission).parts))
    notebooks = [p for p in files if p.suffix.lower() == ".ipynb"]
    if len(notebooks) == 1:
        return notebooks[0], ""
    if not notebooks:
        seen = ", ".join(str(p.relative_to(submission)) for p in files[:10]) or "no file at all"
        return None, ("No notebook was found in your submission (it holds "
                      f"{seen}). Submit the lab's .ipynb file (File > Download in JupyterLab): "
                      "0 points until you do.")
    names = ", ".join(str(p.relative_to(submission)) for p in notebooks[:10])
    return None, (f"Your submission holds {len(notebooks)} notebooks ({names}); the grader "
                  "cannot know which one to grade. Submit only the lab's notebook: 0 points "
                  "until you do.")


def grade_to_results(data: bytes, lab: bytes, solution: bytes, config: dict, *,
                     hidden: tuple[Path, ...] = ()) -> dict:
    """Grade one submission's bytes as ``segedu-grade`` does and return Gradescope's results
    object (without ``execution_time``). ``config``: ``config.json`` (``limits``,
    ``hidden_visibility``, ``written``); ``hidden``: folders an isolated run must not see."""
    assignment = Assignment.from_bytes(lab, solution)
    limits = Limits(**config.get("limits", {}))
    row = grade_submission(STUDENT, data, assignment, limits, hidden=hidden)
    # as segedu-grade's batch does after the run (.batch_outputs): the written answers, and
    # whether the submission looks like the solution itself
    notebook = readable(data)
    answers = {STUDENT: student_answers(notebook, assignment.lab)}
    attach_points([row], assignment.written, answers, {})
    copies, _ = solution_copies({STUDENT: notebook}, assignment.lab, readable(solution),
                                [cell.source for cell, _ in assignment.hidden],
                                assignment.written, answers)
    if STUDENT in copies:
        row.flags[:0] = copies[STUDENT]
        if row.status == "ok":
            row.status = "solution-copy"
    hidden_ids = {graded_id(cell) for cell, _ in assignment.hidden}
    return results_json(row, hidden=hidden_ids,
                        hidden_visibility=config.get("hidden_visibility", "visible"),
                        written=config.get("written", "tests"))


def _child() -> int:
    """The grading child: inputs as JSON on stdin, the results as JSON on stdout's last line."""
    try:  # nothing it starts may read its memory (ptrace, /proc/<pid>/mem) or its pipes
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    except (OSError, AttributeError):
        pass
    job = json.loads(sys.stdin.buffer.read())
    raw = {k: base64.b64decode(job[k]) for k in ("submission", "lab", "solution")}
    isolate = job["isolate"]
    if isolate == "auto":
        isolate = isolation_problem() is None
    config = {**job["config"], "limits": {**job["config"].get("limits", {}), "isolate": isolate}}
    results = grade_to_results(raw["submission"], raw["lab"], raw["solution"], config,
                               hidden=tuple(Path(p) for p in job["hidden"]))
    results.setdefault("extra_data", {})["isolated"] = bool(isolate)
    sys.stdout.write("\n" + json.dumps(results) + "\n")
    sys.stdout.flush()
    return 0


def _unprivileged() -> tuple[int, int] | None:
    """(uid, gid) of the user the notebook runs as when this runs as root, else ``None``."""
    if os.geteuid() != 0:
        return None
    name = os.environ.get(USER_ENV) or "nobody"
    try:
        entry = pwd.getpwnam(name)
        return entry.pw_uid, entry.pw_gid
    except KeyError:
        return (65534, 65534) if name == "nobody" else None


def _kill_tree(process: subprocess.Popen) -> None:
    try:
        tree = psutil.Process(process.pid).children(recursive=True)
    except psutil.Error:
        tree = []
    for each in [*tree]:
        try:
            each.kill()
        except psutil.Error:
            pass
    process.kill()
    process.wait()


def _run_child(job: dict, *, user: tuple[int, int] | None, timeout: float,
               log) -> tuple[dict | None, str]:
    """Run the grading child (as ``user`` when given); (its results, or ``None``, and why)."""
    home = Path(tempfile.mkdtemp(prefix="segedu-gradescope-"))
    try:
        env = {k: v for k, v in os.environ.items() if k != ROOT_ENV}
        env.update({"HOME": str(home), "PYTHONDONTWRITEBYTECODE": "1"})
        options = {}
        if user is not None:
            os.chown(home, *user)
            options = {"user": user[0], "group": user[1], "extra_groups": []}
        child = [sys.executable, "-m", "segedu.grading.run.gradescope_autograder", "--child"]
        process = subprocess.Popen(child, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, cwd=home, env=env,
                                   start_new_session=True, **options)
        try:
            out, err = process.communicate(json.dumps(job).encode(), timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_tree(process)
            return None, f"the grader ran longer than {timeout:g} s"
        if err:
            log(err.decode("utf8", errors="replace")[-4000:])
        lines = out.decode("utf8", errors="replace").strip().splitlines()
        if process.returncode != 0 or not lines:
            return None, f"the grader stopped (exit status {process.returncode})"
        try:
            results = json.loads(lines[-1])
        except json.JSONDecodeError:
            return None, "the grader's answer could not be read"
        return results, ""
    finally:
        shutil.rmtree(home, ignore_errors=True)


def _can_run_as(user: tuple[int, int]) -> bool:
    """Whether ``user`` can start this Python and import segedu (not under a private home)."""
    try:
        done = subprocess.run([sys.executable, "-c", "import segedu.grading.run.prepare"],
                              user=user[0], group=user[1], extra_groups=[], cwd="/",
                              capture_output=True, timeout=120,
                              env={**os.environ, "HOME": "/"})
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv == ["--child"]:
        return _child()
    start = time.monotonic()
    root = autograder_root()
    source, results_path = root / "source" / LAB_FOLDER, root / "results" / "results.json"

    def finish(results: dict) -> int:
        results["execution_time"] = int(round(time.monotonic() - start))
        results_path.parent.mkdir(parents=True, exist_ok=True)
        results_path.write_text(json.dumps(results, indent=1, ensure_ascii=False),
                                encoding="utf8")
        print(f"wrote {results_path}: {results['score']:g} points "
              f"({results.get('extra_data', {}).get('segedu_status', '')})")
        return 0

    try:
        config = json.loads((source / "config.json").read_text(encoding="utf8"))
        lab = (source / "lab.ipynb").read_bytes()
        solution = (source / "solution.ipynb").read_bytes()
    except (OSError, ValueError) as error:
        print(f"error: the autograder is incomplete: {error}", file=sys.stderr)
        return 2
    notebook, problem = find_notebook(root / "submission")
    if notebook is None:
        return finish(problem_results(problem))
    if notebook.stat().st_size > MAX_SUBMISSION_MB * 2**20:
        return finish(problem_results(f"Your notebook is larger than {MAX_SUBMISSION_MB} MiB: "
                                      "clear its outputs (Edit > Clear Outputs of All Cells) and "
                                      "submit it again."))
    print(f"grading {notebook.relative_to(root / 'submission')}")
    # the student's code must not read the hidden tests: an unprivileged user, else bubblewrap
    user = _unprivileged()
    if user is not None and not _can_run_as(user):
        print(f"user {user[0]} cannot run {sys.executable}: the run is isolated as root instead")
        user = None
    if user is not None:
        os.chmod(root / "source", 0o700)
        isolate, how = "auto", f"as user {user[0]}"
    elif isolation_problem() is None:
        isolate, how = True, "isolated with bubblewrap"
    else:
        isolate, how = False, ("WITHOUT protection: the submission can read the hidden tests "
                               "(run as root, or install bubblewrap)")
    print(f"the notebook runs {how}")
    job = {"submission": base64.b64encode(notebook.read_bytes()).decode(),
           "lab": base64.b64encode(lab).decode(), "solution": base64.b64encode(solution).decode(),
           "config": config, "isolate": isolate, "hidden": [str(root / "source")]}
    limits = Limits(**config.get("limits", {}))
    results, why = _run_child(job, user=user, timeout=limits.timeout + 300,
                              log=lambda text: print(text, file=sys.stderr))
    if results is None:
        print(f"error: {why}", file=sys.stderr)
        return finish(problem_results(f"The grader stopped before your notebook was graded ({why})."
                                      " Submit it again; if this happens again, tell your "
                                      "instructor."))
    return finish(results)


if __name__ == "__main__":
    raise SystemExit(main())
