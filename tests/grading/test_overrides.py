"""Points set by hand on a graded code cell, and what the student reads, without running a notebook.

An override (:func:`segedu.grading.results.manual_points.apply_overrides`) must reach the gradebook
(the cell's column, the total, the reason) and both feedback files: the page and the ``.txt`` say,
on the total's line, that points were set by hand and that notes follow, and show the comment with
the cell. A written question's prompt is Markdown: the page renders it, with any HTML in it escaped.
"""

from __future__ import annotations

import html

from segedu.grading.labs.written import WrittenQuestion
from segedu.grading.results.feedback import feedback_page, markdown
from segedu.grading.results.gradebook import (
    CellGrade,
    Row,
    WrittenGrade,
    feedback_text,
    gradebook_text,
)
from segedu.grading.results.manual_points import Mark, apply_overrides, code_answers

COLUMNS = ["double", "square"]


def _rows() -> list[Row]:
    def cells():
        return [CellGrade("double", True, 2.0, 2.0, "✓ double of 2"),
                CellGrade("square", False, 0.0, 3.0, "✗ square of 3: got 6, expected 9")]

    return [Row("ada", "ok", 8, cells=cells(), written=[WrittenGrade("why", 3, "because")]),
            Row("alan", "ok", 8, cells=cells(), written=[WrittenGrade("why", 3, "", 1.0, "")]),
            Row("grace", "missing", 8, cells=[CellGrade(g, False, 0.0, p, "no submission")
                                              for g, p in (("double", 2.0), ("square", 3.0))])]


def test_an_override_reaches_the_gradebook_and_both_feedback_files():
    rows = _rows()
    marks = {"square": {"ada": Mark(2.5, "right idea; x ** 2 would do"),
                        "grace": Mark(3.0, "")},  # a student without a submission: not used
             "why": {"alan": Mark(1.0, "")}}
    apply_overrides(rows, marks)
    book = gradebook_text(rows, COLUMNS, ["why"]).splitlines()
    assert book[1] == ("ada,2,2.5,,4.5,8,ok,points set by hand: square 2.5 / 3 (the checks gave "
                       "0)")
    assert book[2] == "alan,2,0,1,3,8,ok,"  # untouched: the checks' points
    assert book[3] == "grace,0,0,,0,8,missing,"
    # the text: the total's line says it, the cell shows the note and the comment, then the check
    text = feedback_text(rows[0]).splitlines()
    assert text[1] == ("Total: 4.5 / 8 (status: ok; points of square set by hand; 3 points of "
                       "written answers are not graded yet; 1 note below)")
    at = text.index("✗ square: 2.5 / 3")
    assert text[at + 1:at + 3] == [
        "    points set by hand: 2.5 / 3 (the checks gave 0): right idea; x ** 2 would do",
        "    ✗ square of 3: got 6, expected 9"]
    assert feedback_text(rows[1]).splitlines()[1] == "Total: 3 / 8 (status: ok)"
    # the page says the same on its total's line, and the override above the check's message
    page = html.unescape(feedback_page(rows[0]))
    assert ("Graded: 4.5 of 8 points\n <span class=\"pending\">(points of square set by hand; 3 "
            "points of written answers are not graded yet; 1 note below)</span>") in page
    assert ("<p class=\"override\">Points set by hand: 2.5 / 3 (the checks gave 0): right idea; "
            "x ** 2 would do</p>") in page
    assert page.index("Points set by hand: 2.5") < page.index("square of 3: got 6")


def test_the_manual_page_gets_what_the_checks_gave_before_any_override():
    rows = _rows()
    found = code_answers(rows, {"ada": {"double": ["def double(x):\n    return 2 * x"],
                                        "square": ["def square(x):\n    return 2 * x", None]}})
    assert set(found) == {"ada", "alan"}  # a missing row has no answer to override
    assert found["ada"]["square"].code == ("def square(x):\n    return 2 * x\n\n# (this "
                                           "exercise's cell is not in the notebook)")
    assert (found["ada"]["square"].earned, found["alan"]["double"].code) == (0.0, "")
    assert found["ada"]["square"].message == "✗ square of 3: got 6, expected 9"


def test_a_written_questions_markdown_is_rendered_and_its_html_escaped():
    prompt = ("**Why** does `a<b` hold?\n\n- one\n- two\n\n<script>alert(1)</script>\n\n"
              "[see](javascript:alert(1)) ![x](http://example.com/x.png)")
    row = Row("ada", "ok", 3, written=[WrittenGrade("why", 3, "because", 2.0, "")])
    page = feedback_page(row, questions=[WrittenQuestion(id="why", points=3, prompt=prompt)])
    question = page[page.index('<div class="question">'):page.index("Your answer")]
    assert "<strong>Why</strong> does <code>a&lt;b</code> hold?" in question
    assert "<ul>\n<li>one</li>\n<li>two</li>\n</ul>" in question
    assert "**" not in question and "<script" not in question
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in question
    assert "javascript:" not in question.split(">")[0] and 'href="javascript' not in question
    assert "<img" not in question  # the page loads nothing
    assert markdown("plain") == "<p>plain</p>\n"
