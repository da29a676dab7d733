"""Feedback for the common failures, from one real run of the tiny lab of ``test_grade``.

One submission has the two failures that students meet most: a missing colon in the cell that
defines ``double`` (every check of ``double`` then fails with a ``NameError``), and an endless
loop inside ``square`` (its check is stopped after the cell time limit). The page must say both
at its top, in the student's terms: the line and "invalid syntax"; the function that was running.
"""

from __future__ import annotations

import html

import nbformat

from segedu.grading.grade import grade_batch

from .test_grade import LIMITS, solved, tiny  # noqa: F401 (tiny is a fixture)


def test_a_missing_colon_and_an_endless_loop_are_named_on_top(tiny, tmp_path):  # noqa: F811
    solution, lab_path, lab = tiny
    submissions, out = tmp_path / "submissions", tmp_path / "out"
    submissions.mkdir()
    nbformat.write(solved(lab, double="def double(x)\n    return 2 * x",
                          square="def square(x):\n    while True:\n        pass"),
                   submissions / "s1.ipynb")
    rows, _ = grade_batch(lab_path, submissions, out, solution=solution, limits=LIMITS)
    assert (rows[0].status, rows[0].total) == ("timeout", 0)
    page = html.unescape((out / "feedback" / "s1.html").read_text(encoding="utf-8"))
    top = page[:page.index("<section")]
    assert "Graded: 0 of 6 points" in top
    assert ("Syntax error in your cell that defines `double`: line 1: invalid syntax (expected "
            "':'): `def double(x)`.") in top
    assert (f"The check `square` was stopped after {LIMITS.cell_timeout:g} s while it ran "
            "`square`. Check that every loop in it ends") in top
    # double's code once, with its visible and hidden checks under it
    assert page.count("def double(x)") == 2  # the note and the code, not once per check
    assert page.index("<h3>✗ double<") < page.index("<h3>✗ double-hidden<")
    text = (out / "feedback" / "s1.txt").read_text(encoding="utf-8")
    assert "line 1: invalid syntax" in text
