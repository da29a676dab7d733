"""Submissions that try to talk the grader into points, graded in one batch of lab 01.

Every attack is a small submission built from the real ``labs/01_losses.ipynb``: the released lab
(or its solution) with one or two cells added or changed, as a student would. To keep the batch
short, the ungraded cells after the first graded cell (the training demos) are left out of every
submission: a student may delete them, and no graded cell needs them.

The reading of answers (:mod:`segedu.grading.run.static_scan`) and of the guard's records is also
tested alone, without a kernel, on small notebooks.
"""

from __future__ import annotations

import ast
import copy
import csv
import hashlib
import hmac
import socket
import sys
import threading
import time
from pathlib import Path

import nbformat
import pytest

from segedu.grading.kernel.call_names import covers
from segedu.grading.labs.assignment import Assignment
from segedu.grading.labs.notebook import graded_cells, is_hidden_tests, parse_cell, read_notebook
from segedu.grading.run.batch import grade_batch
from segedu.grading.run.cell_guard_channel import check_record, guard_plan
from segedu.grading.run.grade_one import Limits
from segedu.grading.run.isolation import isolation_problem
from segedu.grading.run.prepare import prepare
from segedu.grading.run.static_scan import scan, voided_cells

ROOT = Path(__file__).resolve().parents[2]
LAB, SOLUTION = ROOT / "labs" / "01_losses.ipynb", ROOT / "solutions" / "01_losses.ipynb"
LIMITS = Limits(cell_timeout=60, timeout=300, memory_mb=3000, fast=True)


def _copy(nb):
    return nbformat.from_dict(copy.deepcopy(dict(nb)))


def _trim(nb):
    """Without the ungraded, non-TODO code cells after the first graded cell (the demos)."""
    nb = _copy(nb)
    first = next(i for i, c in enumerate(nb.cells) if c.metadata.get("segedu", {}).get("grade"))
    nb.cells = [c for i, c in enumerate(nb.cells)
                if i < first or c.cell_type != "code" or c.metadata.get("segedu", {}).get("grade")
                or "# BEGIN SOLUTION" in c.source or "# YOUR CODE HERE" in c.source]
    return nb


def _solved():
    """The solution as a student hands it in: no hidden tests, no outputs."""
    nb = _trim(read_notebook(SOLUTION))
    nb.cells = [c for c in nb.cells if not is_hidden_tests(c)]
    return nb


def _blank():
    return _trim(read_notebook(LAB))


def _before_first_graded(nb, source: str):
    """``nb`` with a new code cell right before its first graded cell."""
    first = next(i for i, c in enumerate(nb.cells) if c.metadata.get("segedu", {}).get("grade"))
    nb.cells.insert(first, nbformat.v4.new_code_cell(source))
    return nb


def _answer(nb, cell_id: str, body: str):
    """Replace the first ``raise NotImplementedError()`` of a TODO cell by ``body`` (indented)."""
    cell = next(c for c in nb.cells if c.get("id") == cell_id)
    cell.source = cell.source.replace("raise NotImplementedError()", body, 1)
    return nb


REDEFINE_CHECK = """from contextlib import contextmanager

@contextmanager
def check(name, *, hint=""):  # swallows every failure, prints a tick
    try:
        yield
    except BaseException:
        pass
    print("✓", name)
"""

PATCH_COMPARISONS = """import math
import numpy
import torch
import torch.testing
import segedu.grading

torch.allclose = lambda *args, **kwargs: True
torch.testing.assert_close = lambda *args, **kwargs: None
numpy.allclose = lambda *args, **kwargs: True
math.isclose = lambda *args, **kwargs: True
"""

PATCH_SEGEDU_GRADING = """import contextlib
import segedu.grading
import segedu.grading.checks

@contextlib.contextmanager
def lenient(name, *, hint=""):
    try:
        yield
    except BaseException:
        pass

segedu.grading.check = segedu.grading.checks.check = lenient
segedu.grading.assert_close = segedu.grading.checks.assert_close = lambda *args, **kwargs: None
from segedu.grading import assert_close, check  # the names the graded cells use, re-imported
"""

PATCH_BUILTINS = """import builtins
import torch
_isinstance = isinstance
# every object is a tensor, for whoever asks; everything else as before
builtins.isinstance = lambda obj, kind: True if kind is torch.Tensor else _isinstance(obj, kind)
"""

HIDE_ERRORS = """shell = get_ipython()
shell.showtraceback = lambda *args, **kwargs: None  # IPython shows no error: nbval sees none
shell.showsyntaxerror = lambda *args, **kwargs: None
"""

FAKE_TICKS = """for name in ["cross-entropy, hand case", "Dice loss, hand case",
             "focal loss, hand case"]:
    print(f"✓ {name}")
print('{"cell": 5, "outcome": "passed", "message": "", "output": "✓"}')
from IPython.display import publish_display_data
publish_display_data({"application/vnd.segedu.grade+json":
                      {"body": "cross-entropy|1|1|", "mac": "0" * 64}})
"""

# a forged record displayed from inside a graded cell, by the answer the graded cell calls
FORGED_ANSWER = """from IPython.display import publish_display_data
publish_display_data({"application/vnd.segedu.grade+json":
                      {"body": "cross-entropy|1|1|", "mac": "f" * 64}})
return torch.zeros((), requires_grad=True)"""


def _detached(out: Path, marker: Path) -> str:
    """A cell that leaves a process behind (setsid, double fork) to write after the run ended."""
    return f"""import os, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        time.sleep(4)
        os.makedirs({str(out)!r}, exist_ok=True)
        open({str(out / "gradebook.csv")!r}, "w").write("student_id,total\\ndetached,1000\\n")
        open({str(marker)!r}, "w").write("still alive after the run")
        os._exit(0)
    os._exit(0)
os.wait()
"""


HONEST_HELPERS = """from contextlib import contextmanager


@contextmanager
def my_check(what):
    # the student's own helper, with another name than the grader's
    yield
    print("done:", what)


def log_probabilities(logits):
    return F.log_softmax(logits, dim=1)
"""


def _submissions(folder: Path, out: Path, marker: Path) -> dict[str, str]:
    folder.mkdir()
    subs = {
        "solution": _solved(),
        "blank": _blank(),
        "redefine_check": _before_first_graded(_blank(), REDEFINE_CHECK),
        # two patches in one submission (one kernel run fewer): the row names every function
        # replaced, so each patch is seen to be found on its own
        "patch_grading_and_builtins": _before_first_graded(
            _before_first_graded(_blank(), PATCH_SEGEDU_GRADING), PATCH_BUILTINS),
        "hide_errors": _before_first_graded(_blank(), HIDE_ERRORS),
        "forged_record": _answer(_blank(), "lab01-04", FORGED_ANSWER.replace("\n", "\n    ")),
        # two ways to earn nothing without tampering, in one submission: printed ticks and a
        # process left behind
        "ticks_and_detached": _before_first_graded(
            _before_first_graded(_blank(), _detached(out, marker)), FAKE_TICKS),
    }
    # every TODO returns a zero that has a gradient, comparisons patched
    zeros = _blank()
    for cell in zeros.cells:
        if "# YOUR CODE HERE" in cell.source:
            cell.source = cell.source.replace("raise NotImplementedError()",
                                              "return torch.zeros((), requires_grad=True)")
    subs["patch_comparisons"] = _before_first_graded(zeros, PATCH_COMPARISONS)
    # the Dice TODO answered with segedu's own function, through an alias in another cell
    library = _before_first_graded(_solved(), "from segedu import losses as L")
    dice = next(c for c in library.cells if c.get("id") == "lab01-12")
    head = (dice.source.split("    # BEGIN SOLUTION")[0] if "# BEGIN SOLUTION" in dice.source
            else None)
    assert head is not None, "the solution's Dice cell has its solution block"
    dice.source = head + "    return L.dice_loss(logits, target, smooth=smooth)\n"
    subs["library_dice"] = library
    # the same function fetched by names built at run time, which only the
    # kernel's call recorder sees (the reading of the code cannot)
    by_name = _before_first_graded(_solved(), "import importlib")
    dice = next(c for c in by_name.cells if c.get("id") == "lab01-12")
    dice.source = head + ('    module = importlib.import_module("segedu." + "losses")\n'
                          '    return getattr(module, "dice" + "_loss")(logits, target, '
                          'smooth=smooth)\n')
    subs["library_by_name"] = by_name
    # an honest solution with helpers of its own (other names): nothing to flag
    honest = _before_first_graded(_solved(), HONEST_HELPERS)
    ce = next(c for c in honest.cells if c.get("id") == "lab01-04")
    ce.source = ce.source.replace("F.log_softmax(logits, dim=1)", "log_probabilities(logits)")
    assert "log_probabilities(logits)" in ce.source
    subs["honest_helpers"] = honest
    for name, nb in subs.items():
        nbformat.write(nb, folder / f"{name}.ipynb")
    return {name: (folder / f"{name}.ipynb").read_text(encoding="utf8") for name in subs}


def _gradebook(path: Path) -> dict[str, dict[str, str]]:
    with open(path, encoding="utf8", newline="") as file:
        return {row["student_id"]: row for row in csv.DictReader(file)}


def test_attacks_on_the_grader_get_no_points(tmp_path):
    out, marker = tmp_path / "out", tmp_path / "marker.txt"
    written = _submissions(tmp_path / "submissions", out, marker)
    lab_points = {c.id: c.points for c in graded_cells(read_notebook(SOLUTION))}
    max_total = sum(lab_points.values())
    # graded from copies: the grader puts back any change to the files it grades from, and the
    # repository's notebooks may be edited while the test runs
    (tmp_path / "lab.ipynb").write_bytes(LAB.read_bytes())
    (tmp_path / "solution.ipynb").write_bytes(SOLUTION.read_bytes())

    rows, warnings = grade_batch(tmp_path / "lab.ipynb", tmp_path / "submissions", out,
                                 solution=tmp_path / "solution.ipynb", workers=2, limits=LIMITS)
    assert warnings == []
    # the detached process writes 4 s after its cell ran, and its run ended before its result
    # was stored: 5 s after that, it would have written (it was graded early in the batch)
    stored = (out / "results" / "ticks_and_detached.json").stat().st_mtime
    time.sleep(max(0.0, stored + 5 - time.time()))
    assert not marker.exists(), "a process of the run outlived it"
    book = _gradebook(out / "gradebook.csv")
    assert sorted(book) == sorted(written)
    total = {name: float(row["total"]) for name, row in book.items()}
    status = {name: row["status"] for name, row in book.items()}
    reason = {name: row["reason"] for name, row in book.items()}

    # the references: full marks for the solution and the honest helpers, 0 for the blank lab;
    # both are the solution's own cells, so they are flagged as copies of it (points stand)
    for name in ("solution", "honest_helpers"):
        assert (total[name], status[name]) == (max_total, "solution-copy"), book[name]
        assert reason[name].startswith("looks like the solution: "), book[name]
    assert (total["blank"], status["blank"], reason["blank"]) == (0, "ok", "")
    # every attack on the blank lab: 0 points, and the row says tampered and with what
    attacks = {
        "redefine_check": "replaced `check`",
        "patch_comparisons": "torch.allclose",
        "patch_grading_and_builtins": "segedu.grading.assert_close",
        "hide_errors": "ran without the grader's check",
        "forged_record": "forged grader records",
    }
    for name, what in attacks.items():
        assert total[name] == 0, (name, book[name])
        assert status[name] == "tampered" and what in reason[name], (name, reason[name])
    # every replaced function is named
    assert ("numpy.allclose" in reason["patch_comparisons"]
            and "math.isclose" in reason["patch_comparisons"])
    assert "torch.testing.assert_close" in reason["patch_comparisons"]
    assert ("segedu.grading.check" in reason["patch_grading_and_builtins"]
            and "builtins.isinstance" in reason["patch_grading_and_builtins"])
    # printing the grader's ticks or report lines earns nothing and is no tampering; the
    # detached process was killed with its run (above), and the gradebook is the grader's
    assert ((total["ticks_and_detached"], status["ticks_and_detached"])
            == (0, "ok")), book["ticks_and_detached"]
    # the library's Dice: its two graded cells earn 0, everything else counts
    dice = lab_points["dice-loss"] + lab_points["dice-loss-hidden"]
    assert (total["library_dice"], status["library_dice"]) == (max_total - dice, "library")
    assert ((book["library_dice"]["dice-loss"], book["library_dice"]["dice-loss-hidden"])
            == ("0", "0"))
    assert "`my_dice_loss` uses `segedu.losses.dice_loss`" in reason["library_dice"]
    assert (total["library_by_name"], status["library_by_name"]) == (max_total - dice, "library")
    assert "`my_dice_loss` uses `segedu.losses.dice.dice_loss`" in reason["library_by_name"]

    # the feedback says it in one plain sentence, right under the total
    feedback = {p.stem: p.read_text(encoding="utf8").splitlines()
                for p in (out / "feedback").glob("*.txt")}
    assert feedback["redefine_check"][3].startswith("Some graded cells earned 0 points because your"
                                                    " notebook replaced functions")
    assert feedback["library_dice"][3].startswith("Graded cells 'dice-loss' and 'dice-loss-hidden' "
                                                  "earned 0 points because `my_dice_loss` uses")
    assert feedback["solution"][3].startswith("✓ ")  # no sentence: nothing voided
    # the submissions are as they were
    for name, text in written.items():
        assert (tmp_path / "submissions" / f"{name}.ipynb").read_text(encoding="utf8") == text


# --- without a kernel: reading the answers, the records, the plan ---------------------------------


def _assignment():
    return Assignment.from_bytes(LAB.read_bytes(), SOLUTION.read_bytes())


def _scan(nb):
    assignment = _assignment()
    prepared = prepare(nb, assignment)
    code = [c for c in prepared.notebook.cells if c.cell_type == "code"]
    sources = {gid: code[n].source for n, gid in prepared.graded.items()}
    findings = scan(prepared.notebook, assignment.lab)
    return findings, voided_cells(findings, prepared.notebook, sources)


@pytest.mark.parametrize("extra, body", [
    ("", "from segedu.losses import dice_loss as d\n    return d(logits, target, smooth)"),
    ("import segedu.losses", "return segedu.losses.dice_loss(logits, target, smooth)"),
    ("import segedu", "return getattr(segedu.losses, 'dice_loss')(logits, target, smooth)"),
    ("import importlib",
     "return importlib.import_module('segedu.losses').dice_loss(logits, target)"),
    # a helper of the student's, in another cell, that calls the library
    ("from segedu.losses.dice import dice_loss as _dl\ndef helper(a, b):\n    return _dl(a, b)",
     "return helper(logits, target)"),
])
def test_a_todo_answered_by_the_library_is_found(extra, body):
    nb = _answer(_blank(), "lab01-12", body)
    if extra:
        nb = _before_first_graded(nb, extra)
    findings, voided = _scan(nb)
    assert [(f.kind, f.exercise) for f in findings] == [("library", "lab01-12")], findings
    assert findings[0].used.startswith("segedu.losses") and findings[0].used.endswith("dice_loss")
    assert sorted(voided) == ["dice-loss", "dice-loss-hidden"]


def test_honest_answers_and_the_allow_list_are_not_flagged():
    # every solution, as a student would hand it in, uses nothing its exercises forbid
    for path in sorted((ROOT / "solutions").glob("*.ipynb")):
        lab = read_notebook(ROOT / "labs" / path.name)
        assignment = Assignment.from_bytes((ROOT / "labs" / path.name).read_bytes(),
                                           path.read_bytes())
        solved = read_notebook(path)
        solved.cells = [c for c in solved.cells if not is_hidden_tests(c)]
        assert scan(prepare(solved, assignment).notebook, lab) == [], path.name
    # the lab's own imports (outside the answers) and the graded cells' are no answer
    assert _scan(_blank()) == ([], {})
    # an allow-list entry lets a name through; the forbid list still covers its siblings
    assert covers("segedu.losses.dice_loss", "segedu.losses.dice.dice_loss")
    assert covers("segedu.losses", "segedu.losses.focal_loss")
    assert not covers("torch.nn.functional.cross_entropy", "torch.nn.functional.log_softmax")
    assert not covers("segedu.losses.dice_loss", "segedu.metrics.dice_loss")


def test_code_aimed_at_the_grader_voids_every_graded_cell():
    nb = _before_first_graded(_blank(), "secret = __segedu_grade__.__closure__")
    findings, voided = _scan(nb)
    assert {f.used for f in findings} >= {"__segedu_grade__", "__closure__"}
    assert sorted(voided) == sorted(_assignment().points)


def test_records_are_read_only_when_signed():
    key = b"k" * 32

    def signed(body: str) -> dict:
        return {"body": body, "mac": hmac.new(key, body.encode(), hashlib.sha256).hexdigest()}

    assert check_record([signed("dice|1|3|")], "dice", key) == ("ok", True, [])
    assert (check_record([signed("dice|0|3|torch.allclose;x")], "dice", key)
            == ("ok", False, ["torch.allclose", "x"]))
    assert check_record([], "dice", key) == ("missing", False, [])
    assert check_record([signed("other|1|1|")], "dice", key) == ("missing", False, [])
    forged = {"body": "dice|1|3|",
              "mac": hmac.new(b"x" * 32, b"dice|1|3|", hashlib.sha256).hexdigest()}
    assert check_record([forged], "dice", key) == ("forged", False, [])
    # a forged record next to the real one is still a forgery
    assert check_record([forged, signed("dice|0|4|")], "dice", key) == ("forged", False, [])


def test_the_guard_plan_of_lab_01():
    plan = guard_plan(_assignment())
    # the names the graded cells use, as the lab's import cell binds them
    assert plan.names["check"] == "segedu.grading:check"
    assert plan.names["assert_close"] == "segedu.grading:assert_close"
    assert plan.names["F"] == "torch.nn.functional" and plan.names["torch"] == "torch"
    assert "plt" not in plan.names  # not used by a graded cell
    assert {"segedu.losses", "torchvision.ops", "segedu.grading"} <= set(plan.modules)


def _parse_in_threads(parse) -> list[str]:
    """The SystemErrors of four threads each parsing a cell 150 times while making cyclic garbage
    whose finalizers run Python code: the garbage collector then runs mid-parse and lets another
    thread in, which is how the grader's two workers once crashed CI (python/cpython#106905)."""

    class Finalized:
        def __del__(self):
            sum(range(50))

    source = "\n".join(f"def f{i}(x):\n    return [(a, {{b: c}}) for a in x for b, c in a.items()]"
                       for i in range(100))
    errors: list[str] = []

    def work(depth: int) -> None:
        if depth:  # threads at different stack depths start their parses at different counts
            return work(depth - 1)
        for _ in range(150):
            for _ in range(50):
                garbage = Finalized()
                garbage.cycle = garbage
            try:
                parse(source)
            except SystemError as error:
                errors.append(str(error))
                return

    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=work, args=(depth,)) for depth in (0, 5, 10, 20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(switch)
    return errors


def test_the_grader_parses_safely_from_several_threads():
    assert _parse_in_threads(parse_cell) == []
    # without the lock, on the interpreter of CI, the harness fails (3 threads of 4, 20 runs of 20)
    if sys.version_info[:3] == (3, 11, 7):
        assert _parse_in_threads(ast.parse), "the harness did not reproduce the race"


# --- isolation ------------------------------------------------------------------------------------


def test_isolate_hides_the_solution_the_network_and_the_disk(tmp_path):
    """The same probe, graded without and with ``--isolate`` (that half skipped without bwrap).

    The lab's import cell also binds ``matching``, a function of ``segedu.metrics`` that has the
    name of one of its submodules: the guard must re-bind the function, as the import does.
    """
    from segedu.grading.labs.generate import student_version

    from .test_grade import solved, tiny_solution

    released, private = tmp_path / "released", tmp_path / "instructor"
    released.mkdir(), private.mkdir()
    solution = tiny_solution()
    solution.cells[1].source += "\nfrom segedu.metrics import matching"
    solution.cells[6].source += "\n    assert callable(matching), 'matching is the function'"
    lab = student_version(solution)
    nbformat.write(lab, released / "lab.ipynb")
    nbformat.write(solution, private / "solution.ipynb")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    outside = tmp_path / "escaped.txt"
    # double is right only when the notebook could neither read, connect nor write outside
    probe = f"""import socket
import sys
import threading
escaped = []
try:
    open({str(private / "solution.ipynb")!r}).read()
    escaped.append("read the solution")
except OSError:
    pass
try:
    socket.create_connection(("127.0.0.1", {port}), timeout=2).close()
    escaped.append("reached the grader's machine")
except OSError:
    pass
try:
    open({str(outside)!r}, "w").write("escaped")
except OSError:
    pass
print("escaped:", escaped)

def double(x):
    return 2 * x if not escaped else 0
"""
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    nbformat.write(solved(lab, double=probe), submissions / "probe.ipynb")
    problem = isolation_problem()
    try:
        for isolate in (False, True) if problem is None else (False,):
            out = tmp_path / f"out-{isolate}"
            outside.unlink(missing_ok=True)
            limits = Limits(cell_timeout=60, timeout=120, memory_mb=3000, fast=True,
                            isolate=isolate)
            rows, _ = grade_batch(released / "lab.ipynb", submissions, out,
                                  solution=private / "solution.ipynb", limits=limits)
            (row,) = rows
            if isolate:  # nothing escaped: full marks, and nothing written outside
                assert (row.total, row.status) == (6, "ok"), (row.flags,
                                                              [c.message for c in row.cells])
                assert not outside.exists()
            else:  # the same notebook without isolation reads, connects and writes
                assert row.total == 3 and outside.exists(), [c.message for c in row.cells]
    finally:
        listener.close()
    if problem is not None:
        pytest.skip(f"--isolate cannot run here: {problem}")
