"""A TODO answered by the library's own function, however the function is reached.

The lab is written by the test: thirteen TODOs, each asking for the multiclass soft Dice loss under
its own name (``dice_1`` ... ``dice_13``) and forbidding ``segedu.losses``; TODO 12 allows
``segedu.losses.dice_loss``. Each graded cell checks the answer against ``segedu.losses.dice_loss``
itself, so the grader's own checks call the forbidden function in every graded cell.

Two submissions run in one batch: ``honest`` writes the loss by hand everywhere (and calls the
library in a cell of its own, to compare); ``library`` answers each TODO with the library's
function, reached each in another way that only shows when the code runs (the module's name built
from strings). The reading of the code (:func:`segedu.grading.run.static_scan.scan`) finds none of
them; the call recorder must find every one.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import importlib
import pickle
import sys
import threading

import nbformat
import pytest
import torch

import segedu.losses
from segedu.grading.kernel.call_recorder import Recorder
from segedu.grading.labs.assignment import Assignment
from segedu.grading.results.similarity import read_similar
from segedu.grading.run.batch import grade_batch
from segedu.grading.run.cell_guard_channel import signed_bodies
from segedu.grading.run.grade_one import Limits
from segedu.grading.run.library_calls import answer_rules, library_findings
from segedu.grading.run.prepare import prepare
from segedu.grading.run.static_scan import scan

# 15 s per cell: the import cell takes seconds on loaded cores; the endless answer is cut there
LIMITS = Limits(cell_timeout=15, timeout=240, memory_mb=2000, fast=True)
TODOS = 14
HONEST = """p = logits.softmax(1)
    y = torch.nn.functional.one_hot(target, logits.shape[1]).permute(0, 3, 1, 2).to(p.dtype)
    inter, total = (p * y).sum((0, 2, 3)), p.sum((0, 2, 3)) + y.sum((0, 2, 3))
    return 1 - ((2 * inter + 1) / (total + 1)).mean()"""
# the library's module and function, named only at run time
FETCH = 'getattr(importlib.import_module("segedu." + "losses"), "dice" + "_loss")'
PAYLOAD = pickle.dumps(segedu.losses.dice_loss)  # refers to segedu.losses.dice.dice_loss by name

# TODO number -> (a cell added before the TODO cell, the body of the TODO, a cell added after it)
VARIANTS = {
    1: ("", f"return {FETCH}(logits, target)", ""),
    2: ("", 'module = __import__("segedu." + "losses", fromlist=["x"])\n'
            '    return getattr(module, "dice_" + "loss")(logits, target)', ""),
    3: ("", 'return getattr(getattr(getattr(sys.modules["seg" + "edu"], "loss" + "es"), "di"'
            ' + "ce"), "dice_" + "loss")(logits, target)', ""),
    4: ("", 'scope = {"a": logits, "b": target}\n'
            '    exec("import segedu." + "losses as m\\nr = m.dice_loss(a, b)", scope)\n'
            '    return scope["r"]', ""),
    5: ("", 'return eval("__import__(\'segedu.\' + \'losses\', fromlist=[\'x\'])'
            '.dice_loss")(logits, target)', ""),
    6: ("", f"return pickle.loads({PAYLOAD!r})(logits, target)", ""),
    # a reference taken in an earlier cell
    7: (f"_taken_earlier = {FETCH}", "return _taken_earlier(logits, target)", ""),
    # the TODO left as it is, its name bound to the library's function in a later cell
    9: ("", "raise NotImplementedError()", f"dice_9 = {FETCH}"),
    # a helper of the student's, in another cell, does the call
    10: (f"def helper(a, b):\n    return {FETCH}(a, b)", "return helper(logits, target)", ""),
    # the name bound to a partial of the library's function: no frame of the student's runs
    11: ("", "raise NotImplementedError()",
         f"dice_11 = functools.partial({FETCH}, smooth=1.0)"),
    # allowed by the lab: earns its points
    12: ("", f"return {FETCH}(logits, target)", ""),
    # the call made in a worker thread, the answer waiting for it
    13: ("", "with concurrent.futures.ThreadPoolExecutor(1) as pool:\n"
             f"        return pool.submit({FETCH}, logits, target).result()", ""),
    # an answer that never ends: the time limit's interrupt, which may strike inside the recorder,
    # makes a timeout, not tampering
    14: ("", "while True:\n        time.sleep(0.001)\n        len([abs(-1)])", ""),
}
# a default argument holds the reference (the TODO's header is the student's to change)
DEFAULT_ARGUMENT = f"def dice_8(logits, target, _f={FETCH}):\n    return _f(logits, target)\n"


def _lab() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(
        "import concurrent.futures\nimport functools\nimport importlib\nimport pickle\n"
        "import sys\nimport time\n\nimport torch\n\n"
        "import segedu.losses\nfrom segedu.grading import assert_close, check")]
    for k in range(1, TODOS + 1):
        todo = nbformat.v4.new_code_cell(
            f"def dice_{k}(logits, target):\n    # YOUR CODE HERE\n    raise NotImplementedError()")
        todo.id = f"todo-{k}"
        todo.metadata["segedu"] = {"answer": {"forbid": ["segedu.losses"], "allow": (
            ["segedu.losses.dice_loss"] if k == 12 else [])}}
        test = nbformat.v4.new_code_cell(
            f'with check("dice {k}"):\n'
            "    torch.manual_seed(0)\n"
            "    logits, target = torch.randn(2, 3, 4, 5), torch.randint(0, 3, (2, 4, 5))\n"
            f"    assert_close(dice_{k}(logits, target), segedu.losses.dice_loss(logits, target))")
        test.id = f"test-{k}"
        test.metadata["segedu"] = {"grade": True, "id": f"dice-{k}", "points": 1}
        nb.cells += [todo, test]
    return nb


def _answered(lab, bodies: dict[int, str], before: dict[int, str], after: dict[int, str]):
    nb = nbformat.from_dict(nbformat.reads(nbformat.writes(lab), as_version=4))
    cells = []
    for cell in nb.cells:
        number = int(cell.id.split("-")[1]) if cell.id.startswith("todo-") else None
        if number in before and before[number]:
            cells.append(nbformat.v4.new_code_cell(before[number]))
        if number is not None and number in bodies:
            cell.source = cell.source.replace("raise NotImplementedError()", bodies[number])
        if number == 8 and 8 not in bodies:
            cell.source = DEFAULT_ARGUMENT
        cells.append(cell)
        if number in after and after[number]:
            cells.append(nbformat.v4.new_code_cell(after[number]))
    nb.cells = cells
    return nb


def _honest(lab):
    # the allowed function for TODO 12, as in the other submission: the two are a similar pair
    nb = _answered(lab, {**dict.fromkeys(range(1, TODOS + 1), HONEST), 12: VARIANTS[12][1]}, {},
                   {})
    # comparing with the library in a cell of one's own is no answer
    nb.cells.insert(4, nbformat.v4.new_code_cell(
        "x, t = torch.randn(1, 3, 4, 4), torch.randint(0, 3, (1, 4, 4))\n"
        "print(float(dice_1(x, t)), float(segedu.losses.dice_loss(x, t)))"))
    return nb


def _library(lab):
    return _answered(lab, {k: v[1] for k, v in VARIANTS.items()},
                     {k: v[0] for k, v in VARIANTS.items()}, {k: v[2] for k, v in VARIANTS.items()})


def test_the_reading_of_the_code_misses_every_variant():
    """So the zeros of the batch below come from the recorder, not from the reading."""
    lab = _lab()
    assignment = Assignment.from_bytes(nbformat.writes(lab).encode())
    prepared = prepare(_library(lab), assignment)
    assert scan(prepared.notebook, lab) == []
    rules = answer_rules(prepared.notebook, lab)
    assert sorted(rules) == sorted(f"todo-{k}" for k in range(1, TODOS + 1))
    assert rules["todo-12"]["allow"] == ["segedu.losses.dice_loss"]
    assert rules["todo-8"]["defines"] == ["dice_8"] and rules["todo-8"]["mine"] == [1, 2]
    assert rules["todo-9"]["mine"] == []  # left as released


def test_records_carry_the_calls_only_when_signed():
    import hashlib
    import hmac

    key, rules = b"k" * 32, {"todo-1": {"defines": ["dice_1"]}}

    def signed(body: str) -> dict:
        return {"body": body, "mac": hmac.new(key, body.encode(), hashlib.sha256).hexdigest()}

    body = "dice-1|1|1||todo-1~segedu.losses.dice.dice_loss~`dice_1`;other~x~y"
    found = library_findings([signed(body)], key, rules)
    assert [(f.exercise, f.used, f.defines) for f in found] == [
        ("todo-1", "segedu.losses.dice.dice_loss", ("dice_1",))]
    assert library_findings([{"body": body, "mac": "0" * 64}], key, rules) == []
    assert signed_bodies([signed("a|1|2|x;y|")], key) == ([{
        "gid": "a", "passed": "1", "count": "2", "replaced": "x;y", "calls": ""}], False)


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    folder = tmp_path_factory.mktemp("library_calls")
    lab = _lab()
    nbformat.write(lab, folder / "lab.ipynb")
    (folder / "submissions").mkdir()
    nbformat.write(_honest(lab), folder / "submissions" / "honest.ipynb")
    nbformat.write(_library(lab), folder / "submissions" / "library.ipynb")
    rows, warnings = grade_batch(folder / "lab.ipynb", folder / "submissions", folder / "out",
                                 workers=2, limits=LIMITS)
    assert warnings == []
    with open(folder / "out" / "gradebook.csv", encoding="utf8", newline="") as file:
        book = {row["student_id"]: row for row in csv.DictReader(file)}
    messages = {row.student_id: {cell.id: cell.message for cell in row.cells} for row in rows}
    return book, messages, read_similar(folder / "out")


def test_an_honest_answer_and_the_graders_own_calls_earn_every_point(batch):
    honest = batch[0]["honest"]
    assert (honest["total"], honest["status"], honest["reason"]) == (str(TODOS), "ok", ""), honest


@pytest.mark.parametrize("k", sorted(set(range(1, TODOS)) - {12}))
def test_each_way_of_reaching_the_library_earns_0_on_its_cell(batch, k):
    row, message = batch[0]["library"], batch[1]["library"][f"dice-{k}"]
    assert row[f"dice-{k}"] == "0", (k, message)
    assert message.startswith("✗ voided:") and "segedu.losses.dice.dice_loss" in message, message


def test_the_allowed_call_earns_its_points(batch):
    row = batch[0]["library"]
    assert (row["dice-12"], row["total"]) == ("1", "1"), batch[1]["library"]["dice-12"]
    assert batch[1]["library"]["dice-1"] == (
        "✗ voided: `dice_1` uses `segedu.losses.dice.dice_loss`, the library's version of what the"
        " exercise asks you to write")


def test_the_batch_lists_the_similar_answers(batch):
    assert [(p.todo, p.first, p.second, p.group) for p in batch[2]] == [
        ("todo-12", "honest", "library", 2)]


def test_a_time_limit_is_no_tampering(batch):
    """TODO 14 never ends; the row's status is the worse one, ``timeout`` (over ``library``)."""
    row = batch[0]["library"]
    assert (row["status"], row["dice-14"]) == ("timeout", "0"), row["reason"]
    assert "recorder" not in row["reason"] and "tampered" not in row["reason"]
    assert "graded cell(s) 'dice-1' voided" in row["reason"]  # the library's flags, after it


# --- the recorder alone, in this process (no kernel) ----------------------------------------------

@contextlib.contextmanager
def _recording(todos: dict, notebook: dict):
    """A :class:`~segedu.grading.kernel.call_recorder.Recorder` of ``todos`` recording in this
    process, with ``notebook`` as the notebook's namespace; the profile functions are put back
    after."""
    saved = sys.setprofile, threading.setprofile
    recorder = Recorder(todos=todos, user_ns=notebook, grader_globals=())
    try:
        recorder.install()
        recorder.start()
        yield recorder
    finally:
        sys.setprofile, threading.setprofile = saved
        sys.setprofile(None)
        threading.setprofile(None)


def _graded(recorder, source: str, notebook: dict) -> None:
    """Run ``source`` as a graded cell would run (its code the grader's)."""
    code = compile(source, "<graded cell>", "exec")
    recorder.grader_code(code)
    recorder.graded(lambda: exec(code, notebook))


def _rule(*forbid: str, allow=()) -> dict:
    return {"todo": {"forbid": list(forbid), "allow": list(allow), "defines": ["answer"],
                     "source": "", "mine": []}}


def test_the_recorder_tells_the_graders_calls_from_the_answers():
    notebook: dict = {"__name__": "__main__"}
    with _recording(_rule("segedu.losses"), notebook) as recorder:
        exec("import segedu.losses\n"
             "def answer(a, b):\n    return segedu.losses.dice_loss(a, b)\n", notebook)
        _graded(recorder, "import torch\nlogits, target = torch.zeros(1, 2, 1, 2), "
                          "torch.zeros(1, 1, 2, dtype=torch.long)\n"
                          "expected = segedu.losses.dice_loss(logits, target)\n", notebook)
        assert recorder.calls == set()  # the grader's own call
        _graded(recorder, "got = answer(logits, target)", notebook)
        assert recorder.calls == {"todo~segedu.losses.dice.dice_loss~`answer`"}
        # the name bound to the library's function itself: the answer entry is on the stack
        recorder.calls.clear()
        notebook["answer"] = segedu.losses.dice_loss
        _graded(recorder, "got = answer(logits, target)", notebook)
        assert recorder.calls == {
            "todo~segedu.losses.dice.dice_loss~`answer` is bound to it",
            "todo~segedu.losses.dice.dice_loss~called by a graded cell as the answer"}
        assert notebook["answer"] is segedu.losses.dice_loss  # bound back after the cell
        # switching the recorder off is refused and noted
        sys.setprofile(None)
        assert sys.getprofile() is not None
        assert recorder.problems() == ["sys.setprofile (the grader's call recorder)"]


def test_a_c_function_behind_a_partial_is_seen_by_its_binding():
    """Calling it runs no Python frame; the name bound to it is what the recorder sees."""
    notebook: dict = {"__name__": "__main__", "torch": torch,
                      "answer": functools.partial(torch.conv2d, stride=1)}
    with _recording(_rule("torch.conv2d"), notebook) as recorder:
        _graded(recorder, "answer(torch.ones(1, 1, 3, 3), torch.ones(1, 1, 3, 3))", notebook)
    assert recorder.calls == {"todo~torch.conv2d~`answer` is bound to it"}


def test_an_allowed_function_may_call_what_is_forbidden_but_not_for_a_callback(tmp_path,
                                                                              monkeypatch):
    (tmp_path / "toolbox.py").write_text(
        "def forbidden():\n    return 1\n\n"
        "def allowed():\n    return forbidden()\n\n"  # the library's own use: fine
        "def apply(function):\n    return function()\n", encoding="utf8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "toolbox", raising=False)
    importlib.import_module("toolbox")  # the module the rules name, imported before the recorder
    notebook: dict = {"__name__": "__main__"}
    with _recording(_rule("toolbox", allow=["toolbox.allowed", "toolbox.apply"]),
                    notebook) as recorder:
        exec("import toolbox\n"
             "def helper():\n    return toolbox.forbidden()\n"
             "def answer(callback):\n    return toolbox.allowed() + toolbox.apply(callback)\n",
             notebook)
        _graded(recorder, "answer(lambda: 0)", notebook)
        assert recorder.calls == set()  # allowed() calls forbidden(): the library's own business
        _graded(recorder, "answer(helper)", notebook)
        assert recorder.calls == {"todo~toolbox.forbidden~`answer`"}  # through apply(helper)
    sys.modules.pop("toolbox", None)
