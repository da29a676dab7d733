"""One slip costs only its own points: every single-TODO mutant of every lab, graded.

For each mutant of ``tests/grading/mutants/<lab>.py`` (a plausible wrong answer to one TODO), the
lab's solution runs in this process, the mutant replaces the functions it defines, and every graded
cell (hidden tests included) runs in order, scored as the grader scores it (``lab_runs``). Then

- the mutant is caught: its TODO's graded cells lose points;
- it costs only its own TODO's points: every graded cell of every other TODO earns all its points;
- every graded cell ends in ✓ lines or a ✗ message, never in another error (a traceback).

A graded cell that cannot depend on the mutated TODO is not run again for each mutant: the
solution's graded cells run once under a profiler (``lab_runs.clean_run``), and a cell in which no
code of that TODO ran, that reads none of its names, and that reads no data the mutant or a cell
run before it with the mutant could change in place keeps the solution's outcome (the mutants of
labs 05 and 07 spend most of their time re-running training checks that no other TODO reaches).
``test_skipping_changes_no_outcome`` grades the mutants of two labs both ways; the tests of
``lab_runs`` at the end show that a dependency through a helper, a name or data is seen.

``python -m tests.grading.test_lab_mutants`` prints, per mutant, the points it cost and its
feedback.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
import re
from pathlib import Path

import pytest

from tests.grading import lab_runs, mutants

TABLES = {info.name: importlib.import_module(f"{mutants.__name__}.{info.name}")
          for info in pkgutil.iter_modules(mutants.__path__)}
CASES = [(table.LAB, name, source) for table in TABLES.values() for name, source in table.MUTANTS]


@functools.cache
def _lab(name: str) -> tuple[lab_runs.Lab, dict, lab_runs.CleanRun]:
    lab = lab_runs.read_lab(lab_runs.ROOT / "solutions" / name)
    namespace = lab_runs.solved(lab)
    return lab, namespace, lab_runs.clean_run(lab, namespace)


def _defined(source: str) -> list[str]:
    return lab_runs.defined_names(source)


def test_every_todo_has_two_mutants():
    for table in TABLES.values():
        lab = lab_runs.read_lab(lab_runs.ROOT / "solutions" / table.LAB)
        per_todo = {index: 0 for index in lab.todos if lab.points_of(index) > 0}
        for _, source in table.MUTANTS:
            per_todo[lab.todo_of(_defined(source))] += 1
        thin = {", ".join(lab.todos[i]): n for i, n in per_todo.items() if n < 2}
        assert not thin, f"{table.LAB}: TODOs with fewer than two mutants: {thin}"


@pytest.mark.parametrize(("lab_name", "name", "source"), CASES,
                         ids=[f"{c[0][:2]}-{c[1]}" for c in CASES])
def test_a_slip_costs_only_its_own_points(lab_name, name, source):
    lab, namespace, clean = _lab(lab_name)
    todo = lab.todo_of(_defined(source))
    outcomes = lab_runs.grade_with(lab, namespace, source, name, clean=clean)
    raw = {gid: o.raw_error for gid, o in outcomes.items() if o.raw_error}
    assert not raw, f"graded cells ended in an error, not a ✗ message: {raw}"
    others = {cell.id: outcomes[cell.id] for cell in lab.graded if cell.todo != todo}
    lost = {gid: f"{o.earned:g} of {o.points:g}: {o.shown}" for gid, o in others.items()
            if o.earned < o.points}
    assert not lost, f"the slip in {lab.todos[todo]} costs other TODOs' points: {lost}"
    own = [outcomes[cell.id] for cell in lab.graded if cell.todo == todo]
    assert sum(o.earned for o in own) < sum(o.points for o in own), (
        f"no graded cell of {lab.todos[todo]} catches it: "
        + " | ".join(o.shown for o in own))


@pytest.mark.parametrize("lab_name", ["02_conv_arithmetic.ipynb", "08_features_prompts.ipynb"])
def test_skipping_changes_no_outcome(lab_name):
    """Every mutant of these labs earns the same in every graded cell, with the same feedback,
    whether the cells that cannot depend on it are skipped or run again. (Numbers in the feedback
    are left out: some hidden checks draw unseeded random inputs, so two full runs differ there.)"""
    lab, namespace, clean = _lab(lab_name)
    table = next(t for t in TABLES.values() if t.LAB == lab_name)

    def seen(outcomes):
        return {gid: (o.earned, o.points, o.raw_error, re.sub(r"[-+.\de]*\d", "#", o.shown))
                for gid, o in outcomes.items()}

    skipped = 0
    for name, source in table.MUTANTS:
        fast = lab_runs.grade_with(lab, namespace, source, name, clean=clean)
        full = lab_runs.grade_with(lab, namespace, source, name)
        assert seen(fast) == seen(full), name
        todo = lab.todo_of(_defined(source))
        skipped += sum(not clean.depends_on(cell, todo, lab) for cell in lab.graded)
    assert skipped, "no graded cell was skipped: the test compares nothing"


def _mini_lab(tmp_path, graded_sources: list[str]) -> lab_runs.Lab:
    """A solution with three TODOs (double; SCALE and triple; half) and the given graded cells: the
    first checks double, the others half."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    cells = [nbformat.v4.new_code_cell("LOG = []\ndef twice(f, x):\n    return f(f(x))")]
    cells.append(nbformat.v4.new_code_cell(
        "# BEGIN SOLUTION\ndef double(x):\n    return 2 * x\n# END SOLUTION"))
    cells.append(nbformat.v4.new_code_cell(
        "# BEGIN SOLUTION\nSCALE = 3\ndef triple(x):\n    return SCALE * x\n# END SOLUTION"))
    cells.append(nbformat.v4.new_code_cell(
        "# BEGIN SOLUTION\ndef half(x):\n    return x / 2\n# END SOLUTION"))
    for i, source in enumerate(graded_sources):
        cell = nbformat.v4.new_code_cell(source)
        cell.metadata["segedu"] = {"grade": True, "id": f"g{i}", "points": 1,
                                   "todo": "double" if i == 0 else "half"}
        cells.append(cell)
    nb.cells = cells
    nbformat.write(nb, tmp_path / "mini.ipynb")
    return lab_runs.read_lab(tmp_path / "mini.ipynb")


def test_the_trace_sees_a_dependency_through_a_helper_a_name_and_data(tmp_path):
    tick = "from segedu.grading import check\nwith check('{}'):\n    assert {}\nprint('✓')"
    lab = _mini_lab(tmp_path, [
        tick.format("double", "double(2) == 4"),
        tick.format("through a helper", "twice(triple, 1) == 9"),  # reaches no double
        tick.format("a name", "SCALE == 3"),
        tick.format("data", "LOG == []"),
        tick.format("nothing of double", "triple(1) == 3"),
    ])
    namespace = lab_runs.solved(lab)
    clean = lab_runs.clean_run(lab, namespace)
    double, triple, _ = sorted(lab.todos)
    depends = {cell.id: clean.depends_on(cell, double, lab) for cell in lab.graded}
    assert depends == {"g0": True, "g1": False, "g2": False, "g3": False, "g4": False}
    # triple reached through the helper `twice` and directly; SCALE read by name; LOG is not its
    assert {cell.id for cell in lab.graded if clean.depends_on(cell, triple, lab)} == {
        "g1", "g2", "g4"}
    # a slip in double that also writes to LOG: the data cell after it runs again and fails
    slip = "def double(x):\n    LOG.append(x)\n    return 2 * x + 1"
    outcomes = lab_runs.grade_with(lab, namespace, slip, "logs", clean=clean)
    assert outcomes["g0"].earned == 0 and outcomes["g3"].earned == 0
    assert outcomes["g1"].earned == outcomes["g4"].earned == 1
    assert outcomes == lab_runs.grade_with(lab, dict(namespace, LOG=[]), slip, "logs")


def cost_table(lab_name: str, solution=None) -> list[tuple[str, float, float, float, str]]:
    """(mutant, points it cost, points of its TODO, points of other TODOs lost, feedback) for
    every mutant of ``lab_name``, graded against ``solution`` (a path; the lab's by default)."""
    table = next(t for t in TABLES.values() if t.LAB == lab_name)
    lab = lab_runs.read_lab(Path(solution or lab_runs.ROOT / "solutions" / lab_name))
    namespace = lab_runs.solved(lab)
    rows = []
    for name, source in table.MUTANTS:
        todo = lab.todo_of(_defined(source))
        outcomes = lab_runs.grade_with(lab, namespace, source, name)
        cost = sum(o.points - o.earned for o in outcomes.values())
        other = sum(o.points - o.earned for cell in lab.graded if cell.todo != todo
                    for o in [outcomes[cell.id]])
        shown = "\n".join(f"[{cell.id}] {outcomes[cell.id].shown}" for cell in lab.graded
                          if outcomes[cell.id].earned < outcomes[cell.id].points)
        rows.append((name, cost, lab.points_of(todo), other, shown))
    return rows


if __name__ == "__main__":  # the costs, for the closing note
    import sys

    lab_name, solution = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else None)
    for name, cost, own, other, shown in cost_table(lab_name, solution):
        print(f"## {name}: cost {cost:g} (its TODO has {own:g}; other TODOs lost {other:g})")
        print(shown)
