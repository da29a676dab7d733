"""Written answers end to end: grade a tiny lab, grade its written answer by hand on the page in
Debian's Chromium, grade again, and the points are in the gradebook and the student's page.

The lab is test_grade's tiny lab plus one written question worth 3 points. Two submissions:
``alice`` answers everything (her code and her answer carry a ``<script>`` that must never run),
``bob`` hands in the untouched lab. The browser fixture is the book test's (tests/test_site.py):
Debian's /usr/bin/chromium through Playwright, skipped when either is missing (failed with
SEGEDU_REQUIRE_BROWSER=1).
"""

from __future__ import annotations

import csv
import json
import re
import shutil
import threading
import urllib.request
from pathlib import Path

import nbformat
import pytest

from segedu.grading.labs.generate import student_version
from segedu.grading.results.gradebook import CellGrade, Row
from segedu.grading.results.manual_page import ManualGrading, make_server
from segedu.grading.results.manual_points import POINTS
from segedu.grading.results.similarity import SimilarPair, write_similar
from segedu.grading.run import batch as batch_module
from segedu.grading.run.batch import grade_batch
from tests.grading.test_grade import LIMITS, solved, tiny_solution
from tests.test_site import browser  # noqa: F401  (the fixture: Debian's Chromium)

QUESTION = ("**Question.** Why does doubling twice quadruple?\n\n# BEGIN SOLUTION\n"
            "Because 2 * (2 * x) = 4 * x.\n# END SOLUTION")
RUBRIC = "1 point: names the product; 2 points: writes 2 * (2 * x) = 4 * x."
SCRIPT = "<script>window.pwned = 1</script>"
ALICE = f"Twice two is four. {SCRIPT}"


def written_solution() -> nbformat.NotebookNode:
    nb = tiny_solution()
    cell = nbformat.v4.new_markdown_cell(QUESTION)
    cell.metadata["segedu"] = {"written": {"id": "quadruple", "points": 3, "rubric": RUBRIC}}
    nb.cells.append(cell)
    return nb


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory):
    """The tiny written lab graded once: (lab, solution, submissions, out)."""
    folder = tmp_path_factory.mktemp("written")
    solution, lab = folder / "solution.ipynb", folder / "lab.ipynb"
    nbformat.write(written_solution(), solution)
    released = student_version(written_solution())
    nbformat.write(released, lab)
    submissions = folder / "submissions"
    submissions.mkdir()
    alice = solved(released, double=f"def double(x):\n    # {SCRIPT}\n    return 2 * x")
    question = next(c for c in alice.cells if "written" in c.metadata.get("segedu", {}))
    question.source = question.source.replace("YOUR ANSWER HERE", ALICE)
    alice.cells.append(alice.cells.pop(alice.cells.index(question)))  # moved: found by its id
    nbformat.write(alice, submissions / "alice.ipynb")
    nbformat.write(released, submissions / "bob.ipynb")
    out = folder / "out"
    grade_batch(lab, submissions, out, solution=solution, workers=2, limits=LIMITS)
    return lab, solution, submissions, out


def read_gradebook(out: Path) -> dict[str, dict[str, str]]:
    with open(out / "gradebook.csv", encoding="utf8", newline="") as file:
        return {row["student_id"]: row for row in csv.DictReader(file)}


def serve(grading: ManualGrading):
    server = make_server(grading, port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def open_page(chromium, url: str, errors: list[str]):
    """A new page showing ``url``, whose script errors are added to ``errors``."""
    page = chromium.new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(url)
    return page


def test_grading_writes_the_answers_a_blank_column_and_the_pages(graded_class):
    _, _, _, out = graded_class
    rows = read_gradebook(out)
    # the written column comes after the graded cells; blank until graded; max_total counts it
    assert list(rows["alice"])[:6] == ["student_id", "double", "double-hidden", "square",
                                       "quadruple", "total"]
    assert [(r["quadruple"], r["total"], r["max_total"]) for r in rows.values()] == [
        ("", "6", "9"), ("", "0", "9")]
    answers = json.loads((out / "manual" / "answers.json").read_text(encoding="utf8"))
    assert answers["answers"] == {"alice": {"quadruple": ALICE}, "bob": {"quadruple": ""}}
    assert answers["questions"][0]["rubric"] == RUBRIC
    assert answers["questions"][0]["model_answer"] == "Because 2 * (2 * x) = 4 * x."
    assert not (out / POINTS).exists(), "the grader never writes the points file"
    page = (out / "feedback" / "alice.html").read_text(encoding="utf8")
    assert "Graded: 6 of 9 points" in page
    assert "3 points of written answers are not graded yet" in page
    assert SCRIPT not in page and "&lt;script&gt;window.pwned = 1&lt;/script&gt;" in page
    bob = (out / "feedback" / "bob.html").read_text(encoding="utf8")
    assert "not done yet" in bob and "(no answer)" in bob


def test_the_page_hides_names_unless_asked(graded_class, tmp_path):
    out = tmp_path / "out"  # the class's answers, and a pair of identical code answers
    (out / "manual").mkdir(parents=True)
    shutil.copy(graded_class[3] / "manual" / "answers.json", out / "manual" / "answers.json")
    write_similar(out, [SimilarPair("lab-double", "alice", "bob", 2, False, "f00d")])
    for names, labels in ((False, {"answer 1", "answer 2"}), (True, {"alice", "bob"})):
        server, url = serve(ManualGrading(out, names=names))
        try:
            with urllib.request.urlopen(url + "data.json") as reply:
                data = json.loads(reply.read())
        finally:
            server.shutdown()
            server.server_close()
        shown = data["questions"][0]["answers"]
        assert {a["label"] for a in shown} == labels
        assert [(g["todo"], g["size"], g["students"]) for g in data["similar"]] == [
            ("lab-double", 2, ["alice", "bob"] if names else [])]
        if not names:
            assert "alice" not in json.dumps(data) and "bob" not in json.dumps(data)
    # a lab without written questions: the page shows the similar answers alone
    (out / "manual" / "answers.json").unlink()
    alone = ManualGrading(out).data()
    assert alone["questions"] == [] and len(alone["similar"]) == 1


def test_points_entered_in_chromium_survive_a_regrade(graded_class, browser):  # noqa: F811
    lab, solution, submissions, out = graded_class
    server, url = serve(ManualGrading(out))
    try:
        errors: list[str] = []
        page = open_page(browser, url, errors)
        card = page.locator(".card", has_text="Twice two is four")
        card.wait_for()
        assert page.evaluate("window.pwned") is None, "a student's text ran as a script"
        assert "alice" not in page.content() and RUBRIC in page.inner_text("body")
        # a point above the question's worth is refused, and nothing is saved
        card.locator("input").fill("4")
        card.locator("button").click()
        card.locator(".status.error").wait_for()  # (the page's CSP forbids wait_for_function)
        assert "at most 3" in card.locator(".status").inner_text()
        assert not (out / POINTS).exists()
        card.locator("input").fill("2.5")
        card.locator("textarea").fill("Right, but say why <b>2 * 2</b> = 4.")
        card.locator("button").click()
        card.locator(".status", has_text=re.compile("^saved$")).wait_for()
        assert "1 of 2 graded" in page.inner_text("body")
        page.close()
        assert errors == []
    finally:
        server.shutdown()
        server.server_close()
    saved = json.loads((out / POINTS).read_text(encoding="utf8"))
    assert saved["points"] == {"quadruple": {"alice": {
        "points": 2.5, "comment": "Right, but say why <b>2 * 2</b> = 4."}}}

    # the grader again (the same command): the points are merged, the points file is untouched
    before = (out / POINTS).read_bytes()
    grade_batch(lab, submissions, out, solution=solution, workers=2, limits=LIMITS)
    assert (out / POINTS).read_bytes() == before
    rows = read_gradebook(out)
    assert [(r["quadruple"], r["total"], r["max_total"]) for r in rows.values()] == [
        ("2.5", "8.5", "9"), ("", "0", "9")]
    feedback = (out / "feedback" / "alice.html").read_text(encoding="utf8")
    assert "Graded: 8.5 of 9 points" in feedback and "not graded yet" not in feedback
    assert "say why &lt;b&gt;2 * 2&lt;/b&gt; = 4." in feedback
    assert "quadruple (written): 2.5 / 3" in (out / "feedback" / "alice.txt").read_text("utf8")


def test_the_page_as_a_tool_used_all_day(graded_class, browser, tmp_path,  # noqa: F811
                                         monkeypatch):
    """Markdown rendered, Enter saves, "2,5" is 2.5, no id in any message while anonymous, one
    click gives 0 to the empty answers, an unsaved value warns, and a save made while a grading
    run is going reaches that run's gradebook."""
    lab, solution, submissions, original = graded_class
    out = tmp_path / "out"
    shutil.copytree(original, out)
    # a grading run that waits, on the stand-in's signal, while the instructor saves
    release, running = threading.Event(), threading.Event()

    def slow(student_id, data, assignment, limits, **options):
        running.set()
        release.wait(60)
        return Row(student_id=student_id, status="ok", max_total=assignment.max_total,
                   cells=[CellGrade(g, False, 0.0, assignment.points[g], "✗ wrong")
                          for g in assignment.columns])

    monkeypatch.setattr(batch_module, "grade_submission", slow)
    server, url = serve(ManualGrading(out))
    try:
        errors: list[str] = []
        page = open_page(browser, url, errors)
        alice = page.locator(".card", has_text="Twice two is four")
        alice.wait_for()
        # the question's Markdown is rendered (its bold text), not shown as asterisks
        assert page.locator(".prompt strong").first.inner_text() == "Question."
        # Enter saves; a value above the worth is refused without naming the student
        alice.locator("input").fill("4")
        alice.locator("input").press("Enter")
        alice.locator(".status.error").wait_for()
        message = alice.locator(".status").inner_text()
        assert re.search(r"question 'quadruple', answer [12]: points must be at least 0 and "
                         r"at most 3, got 4", message), message
        assert "alice" not in page.content() and "bob" not in page.content()
        # a decimal comma is a decimal; anything else is refused with a line
        alice.locator("input").fill("2,5x")
        alice.locator("input").press("Enter")
        alice.locator(".status.error", has_text="write the points as a number").wait_for()
        alice.locator("input").fill("2,5")
        alice.locator("input").press("Enter")
        alice.locator(".status", has_text=re.compile("^saved$")).wait_for()
        assert json.loads((out / POINTS).read_text("utf8"))["points"]["quadruple"]["alice"][
            "points"] == 2.5
        # one click: 0 to every empty answer (bob's)
        page.locator(".zero-empty").click()
        page.locator(".card.no-answer .status", has_text="saved").wait_for()
        assert json.loads((out / POINTS).read_text("utf8"))["points"]["quadruple"]["bob"][
            "points"] == 0
        # a value typed and not saved is marked, and leaving the page asks first
        alice.locator("input").fill("")
        alice.locator("input").press_sequentially("3")  # typed keys: the page was used
        assert "not saved yet" in alice.locator(".status").inner_text()
        from playwright.sync_api import Error as PlaywrightError

        asked: list[str] = []
        page.on("dialog", lambda dialog: (asked.append(dialog.type), dialog.dismiss()))
        with pytest.raises(PlaywrightError):  # leaving (a reload) is cancelled at the question
            page.goto(url, timeout=10_000)
        assert asked == ["beforeunload"]
        assert alice.locator("input").input_value() == "3"  # the value typed is still there
        page.close()

        # a save while a grading run is going: kept beside the points file, merged at its end
        batch = threading.Thread(target=grade_batch, args=(lab, submissions, out),
                                 kwargs=dict(solution=solution, force=True))
        batch.start()
        assert running.wait(60)
        page = open_page(browser, url, errors)
        alice = page.locator(".card", has_text="Twice two is four")
        alice.locator("input").fill("3")
        alice.locator("input").press("Enter")
        alice.locator(".status", has_text="a grading run is going").wait_for()
        assert json.loads((out / POINTS).read_text("utf8"))["points"]["quadruple"]["alice"][
            "points"] == 2.5  # the guarded file waits for the run's end
        release.set()
        batch.join(60)
        assert read_gradebook(out)["alice"]["quadruple"] == "3"
        page.reload()
        page.locator(".card").first.wait_for()
        assert json.loads((out / POINTS).read_text("utf8"))["points"]["quadruple"]["alice"][
            "points"] == 3  # folded into the points file once the run ended
        page.close()
        assert errors == []
    finally:
        release.set()
        server.shutdown()
        server.server_close()


def test_a_graded_code_cell_is_overridden_on_the_page(graded_class, browser,  # noqa: F811
                                                      tmp_path):
    """Each graded code cell has a card per student (the code, what the checks gave, a points
    box over them); an override saved there reaches the gradebook and both feedback files, and
    the card still shows what the checks gave."""
    lab, solution, submissions, original = graded_class
    out = tmp_path / "out"
    shutil.copytree(original, out)
    (out / POINTS).unlink(missing_ok=True)
    server, url = serve(ManualGrading(out))
    try:
        errors: list[str] = []
        page = open_page(browser, url, errors)
        square = page.locator('section.code-cell[data-question="square"]')
        square.wait_for()
        assert square.locator("h2").inner_text() == "square (graded code cell, 3 points)"
        assert "assert square(3) == 9" in square.locator("pre.checks").text_content()
        # bob handed in the lab untouched: his card shows his code and the checks' 0
        bob = square.locator(".card", has_text="raise NotImplementedError")
        assert bob.locator(".autograded").inner_text() == "The checks gave 0 / 3"
        alice = square.locator(".card", has_text="return x * x")
        assert alice.locator(".autograded").inner_text() == "The checks gave 3 / 3"
        # alice's code (with its <script>) is text, and no student id is on the page
        double = page.locator('section.code-cell[data-question="double"]')
        assert SCRIPT in double.locator(".card pre.code").first.inner_text() + \
            double.locator(".card pre.code").last.inner_text()
        assert page.evaluate("window.pwned") is None
        assert "alice" not in page.content() and "bob" not in page.content()
        # above the cell's worth: refused, naming the card as the page shows it
        bob.locator("input").fill("4")
        bob.locator("input").press("Enter")
        bob.locator(".status.error").wait_for()
        assert re.search(r"graded cell 'square', answer [12]: points must be at least 0 and at "
                         r"most 3, got 4", bob.locator(".status").inner_text())
        bob.locator("input").fill("1,5")
        bob.locator("textarea").fill("the loop is right; the return is missing")
        bob.locator("input").press("Enter")
        bob.locator(".status", has_text=re.compile("^saved$")).wait_for()
        assert square.locator(".progress").inner_text() == "1 of 2 with points by hand"
        assert json.loads((out / POINTS).read_text("utf8"))["points"] == {"square": {"bob": {
            "points": 1.5, "comment": "the loop is right; the return is missing"}}}
        page.close()

        # the next run (results reused): the override is in the gradebook and the feedback
        grade_batch(lab, submissions, out, solution=solution, limits=LIMITS)
        row = read_gradebook(out)["bob"]
        assert (row["square"], row["total"]) == ("1.5", "1.5")
        assert row["reason"] == "points set by hand: square 1.5 / 3 (the checks gave 0)"
        text = (out / "feedback" / "bob.txt").read_text("utf8")
        assert "Total: 1.5 / 9 (status: ok; points of square set by hand;" in text
        assert ("points set by hand: 1.5 / 3 (the checks gave 0): the loop is right; the return "
                "is missing") in text
        assert ("Points set by hand: 1.5 / 3 (the checks gave 0): the loop is right"
                in (out / "feedback" / "bob.html").read_text("utf8"))
        # the page again, as the grader rewrote it: the override is in the box, and the
        # checks' own points are still shown
        server.shutdown()
        server.server_close()
        server, url = serve(ManualGrading(out))
        page = open_page(browser, url, errors)
        bob = page.locator('section.code-cell[data-question="square"] .card',
                           has_text="raise NotImplementedError")
        bob.wait_for()
        assert bob.locator("input").input_value() == "1.5"
        assert bob.locator(".autograded").inner_text() == "The checks gave 0 / 3"
        page.close()
        assert errors == []
    finally:
        server.shutdown()
        server.server_close()
