"""Feedback for the common failures, from one real run of the tiny lab of ``test_grade``.

One submission has the two failures that students meet most: a missing colon in the cell that
defines ``double`` (every check of ``double`` then fails with a ``NameError``), and an endless
loop in ``grow``, a helper of the student's in a cell it added (no TODO), which ``square`` calls
(its check is stopped after the cell time limit). The page must say both at its top, in the
student's terms: the line and "invalid syntax"; the function that was running, read from the
interrupt's traceback, and the TODO's function that called it.
"""

from __future__ import annotations

import html

import nbformat

from segedu.grading.run.batch import grade_batch
from segedu.grading.run.diagnose import running_functions, timeout_note

from .test_grade import LIMITS, solved, tiny  # noqa: F401 (tiny is a fixture)


def test_a_missing_colon_and_an_endless_loop_are_named_on_top(tiny, tmp_path):  # noqa: F811
    solution, lab_path, lab = tiny
    submissions, out = tmp_path / "submissions", tmp_path / "out"
    submissions.mkdir()
    submission = solved(lab, double="def double(x)\n    return 2 * x",
                        square="def square(x):\n    return grow(x)")
    # the loop sleeps, so that its 10 s cost no CPU (the broken batch of test_grade keeps a busy
    # `while True: pass`); the interrupt stops it inside `grow` all the same
    submission.cells.insert(2, nbformat.v4.new_code_cell(
        "import time\n\n\ndef grow(x):\n    total = 0\n    while total >= 0:\n"
        "        total += x\n        time.sleep(0.01)\n    return total"))
    nbformat.write(submission, submissions / "s1.ipynb")
    rows, _ = grade_batch(lab_path, submissions, out, solution=solution, limits=LIMITS)
    assert (rows[0].status, rows[0].total) == ("timeout", 0)
    page = html.unescape((out / "feedback" / "s1.html").read_text(encoding="utf-8"))
    top = page[:page.index("<section")]
    assert "Graded: 0 of 6 points" in top
    assert ("Syntax error in your cell that defines `double`: line 1: invalid syntax (expected "
            "':'): `def double(x)`.") in top
    assert (f"The check `square` was stopped after {LIMITS.cell_timeout:g} s while it ran `grow` "
            "(called from `square`). Check that every loop in it ends") in top
    # double's code once, with its visible and hidden checks under it
    assert page.count("def double(x)") == 2  # the note and the code, not once per check
    assert page.index("<h3>✗ double<") < page.index("<h3>✗ double-hidden<")
    text = (out / "feedback" / "s1.txt").read_text(encoding="utf-8")
    assert "line 1: invalid syntax" in text


# the end of a real interrupt's traceback (IPython 9, the guard's frame in between)
INTERRUPTED = """KeyboardInterrupt                         Traceback (most recent call last)
Cell In[1], line 1
----> 1 __segedu_grade__('square')

File /tmp/segedu-grade-6/ipython/profile_default/startup/00-segedu-guard.py:227, in \
_segedu_install_guard.<locals>.grade(gid)
--> 227     exec_(code, user_ns)

File <graded cell square>:2

Cell In[1], line 2, in square(x)
----> 2     return grow(x)

Cell In[3], line 3, in grow(x)
----> 3     while total >= 0:

KeyboardInterrupt:"""


def test_the_note_names_the_innermost_function_of_the_students():
    sources = ["import torch", "def grow(x):\n    while True: pass",
               "def square(x):\n    return grow(x)",
               'with check("square of 3"):\n    assert square(3) == 9']
    mine = {"grow": 1, "square": 2}
    assert running_functions(INTERRUPTED, mine) == ["grow", "square"]
    assert running_functions(INTERRUPTED, {"square": 2}) == ["square"]  # grow not the student's
    assert running_functions("", mine) == []
    graded = {3: "square"}
    assert "while it ran `grow` (called from `square`)." in timeout_note(
        sources, 3, graded, 10, interrupted=INTERRUPTED)
    # the notebook killed: no traceback, the cell's own call is named
    assert "while it ran `square`." in timeout_note(sources, 3, graded, 900)
    # a cell of the student's own that loops in a helper
    assert timeout_note(["def f():\n    return grow(1)\nf()", "def grow(x): pass"], 0, {}, 10,
                        interrupted=INTERRUPTED.replace("square", "f")).startswith(
        "Your cell that defines `f` was stopped after 10 s while it ran `grow` (called from `f`).")
