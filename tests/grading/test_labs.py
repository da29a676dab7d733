"""The labs: badge, metadata, no outputs, and graded cells that each check one TODO.

That every graded cell, hidden tests included, fails with its check's message on the untouched lab
is proven by tests/grading/test_run_all.py, in the same run as JupyterLab's Run All on that lab.
tests/test_colab.py checks what Colab needs. That every graded cell passes on the solution is
proven by tests/test_student_install.py, which runs the solution notebooks in fast mode on the
students' install: any cell that raises fails it.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat
import pytest

from segedu.grading.labs.notebook import read_notebook
from tests.grading import lab_runs

ROOT = Path(__file__).resolve().parents[2]
SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))


def test_the_first_four_labs_are_there():
    assert [p.stem for p in SOLUTIONS][:4] == ["00_masks", "01_losses", "02_conv_arithmetic",
                                               "03_metrics"]


@pytest.mark.parametrize("solution", SOLUTIONS, ids=lambda p: p.stem)
def test_lab_metadata_and_colab_cell(solution):
    notebook = read_notebook(solution)
    assert notebook.metadata["kernelspec"]["name"] == "python3"
    assert notebook.metadata.get("accelerator") == "GPU", "request a GPU runtime on Colab"
    first_code = next(c for c in notebook.cells if c.cell_type == "code")
    assert '"google.colab" in sys.modules' in first_code.source, (
        "the first code cell installs segedu on Colab")
    assert "torch" not in first_code.source, "Colab's preinstalled torch must be kept"
    badge = f"https://colab.research.google.com/github/segedu/segedu/blob/main/labs/{solution.name}"
    assert f"]({badge})" in notebook.cells[0].source, "the first cell has the lab's Colab badge"
    assert all(not c.get("outputs") for c in notebook.cells if c.cell_type == "code"), (
        "solution notebooks are committed without outputs")
    nbformat.validate(notebook)


def _coaching(solutions):
    return [pytest.param(p, marks=pytest.mark.xfail(reason="not yet coaching"))
            if p.stem in lab_runs.NOT_YET_COACHING else p for p in solutions]


def _checks(tree: ast.AST) -> list[ast.Call]:
    """The ``check(...)`` calls of a cell (in ``with`` items)."""
    return [item.context_expr for node in ast.walk(tree) if isinstance(node, ast.With)
            for item in node.items if isinstance(item.context_expr, ast.Call)
            and getattr(item.context_expr.func, "id", None) == "check"]


def _stand_ins(tree: ast.AST) -> set[str]:
    """The names a cell replaces by the library's version (``library_versions(ns, X=...)``)."""
    return {keyword.arg for node in ast.walk(tree) if isinstance(node, ast.Call)
            and getattr(node.func, "id", None) == "library_versions"
            for keyword in node.keywords}


@pytest.mark.parametrize("solution", _coaching(SOLUTIONS), ids=lambda p: p.stem)
def test_graded_cells_check_one_todo_and_share_their_points(solution):
    """README, *Labs coach* rules 1 and 2: a graded cell uses no other TODO's names (except while
    the library's version stands in for them), and a cell of several checks gives each its points
    (adding up to the cell's) and ends with ``finish_checks()``."""
    lab = lab_runs.read_lab(solution)
    problems = []
    for cell in lab.graded:
        tree = ast.parse(cell.source)
        others = {name for index, names in lab.todos.items() if index != cell.todo
                  for name in names}
        used = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
        foreign = (used & others) - _stand_ins(tree)
        if foreign:
            problems.append(f"{cell.id}: checks {lab.todos[cell.todo]} but uses "
                            f"{sorted(foreign)} of another TODO (use library_versions)")
        checks = _checks(tree)
        points = [next((k.value for k in call.keywords if k.arg == "points"), None)
                  for call in checks]
        if len(checks) > 1 or any(p is not None for p in points):
            if not all(isinstance(p, ast.Constant) for p in points):
                problems.append(f"{cell.id}: {len(checks)} checks, not every one with points=")
                continue
            total = sum(p.value for p in points)
            if abs(total - cell.points) > 1e-9:
                problems.append(f"{cell.id}: its checks' points add up to {total:g}, the cell "
                                f"has {cell.points:g}")
            last = tree.body[-1]
            if not (isinstance(last, ast.Expr) and isinstance(last.value, ast.Call)
                    and getattr(last.value.func, "id", None) == "finish_checks"):
                problems.append(f"{cell.id}: a cell of checks with points ends with "
                                "finish_checks()")
    assert not problems, "\n".join(problems)


REQUIREMENTS = [  # (what the text says, what a visible check of that TODO must contain)
    (re.compile(r"raises? (?:an? )?`(\w+Error)`"), lambda m: m.group(1)),
    (re.compile(r"(?:leave|leaves) (?:the|its) input|must not change|without changing"),
     lambda m: ".clone()"),
    (re.compile(r"returns?(?:ing)? (?:an? )?(?:\(\w+(?:, \w+)*\) )?(float32|int64)"),
     lambda m: m.group(1)),
]


@pytest.mark.parametrize("solution", _coaching(SOLUTIONS), ids=lambda p: p.stem)
def test_every_stated_requirement_has_a_visible_check(solution):
    """README, *Labs coach* rule 3: what a TODO's text says the answer must do (raise an error,
    leave its input as it was, return a dtype) is tested by a visible graded cell of that TODO."""
    notebook = read_notebook(solution)
    lab = lab_runs.read_lab(solution)
    code_index, text, problems = -1, [], []
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            text.append(" ".join(cell.source.split()))
            continue
        code_index += 1
        if code_index not in lab.todos:
            if cell.metadata.get("segedu", {}).get("grade"):
                text = []  # the text after a graded cell is about the next TODO
            continue
        visible = " ".join(g.source for g in lab.graded if g.todo == code_index and not g.hidden)
        for pattern, needed in REQUIREMENTS:
            for match in pattern.finditer(" ".join(text)):
                if needed(match) not in visible:
                    problems.append(f"{lab.todos[code_index]}: the text says “{match.group(0)}”;"
                                    f" no visible check holds it (none uses {needed(match)!r})")
        text = []
    assert not problems, "\n".join(problems)
