"""One slip costs only its own points: every single-TODO mutant of every lab, graded.

For each mutant of ``tests/grading/mutants/<lab>.py`` (a plausible wrong answer to one TODO), the
lab's solution runs in this process, the mutant replaces the functions it defines, and every graded
cell (hidden tests included) runs in order, scored as the grader scores it (``lab_runs``). Then

- the mutant is caught: its TODO's graded cells lose points;
- it costs only its own TODO's points: every graded cell of every other TODO earns all its points;
- every graded cell ends in ✓ lines or a ✗ message, never in another error (a traceback).

``python -m tests.grading.test_lab_mutants`` prints, per mutant, the points it cost and its
feedback (the figures of issue 52's closing note).
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from pathlib import Path

import pytest

from tests.grading import lab_runs, mutants

TABLES = {info.name: importlib.import_module(f"{mutants.__name__}.{info.name}")
          for info in pkgutil.iter_modules(mutants.__path__)}
CASES = [(table.LAB, name, source) for table in TABLES.values() for name, source in table.MUTANTS]


@functools.cache
def _lab(name: str) -> tuple[lab_runs.Lab, dict]:
    lab = lab_runs.read_lab(lab_runs.ROOT / "solutions" / name)
    return lab, lab_runs.solved(lab)


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
    lab, namespace = _lab(lab_name)
    todo = lab.todo_of(_defined(source))
    outcomes = lab_runs.grade_with(lab, namespace, source, name)
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
