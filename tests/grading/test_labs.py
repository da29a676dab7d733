"""The labs: every graded cell fails on the untouched lab; badge, metadata and no outputs.

tests/test_colab.py checks what Colab needs. That every graded cell passes on the solution is
proven by tests/test_student_install.py, which runs the solution notebooks in fast mode on the
students' install: any cell that raises fails it.
"""

from __future__ import annotations

import ast
import os
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from segedu.grading.generate import strip_solution, student_version
from segedu.grading.notebook import graded_cells, is_hidden_tests, read_notebook
from tests.grading import lab_runs

ROOT = Path(__file__).resolve().parents[2]
SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))


def blank_lab_with_hidden_tests(solution: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The untouched student lab as the grader runs it: solutions stripped, hidden tests kept."""
    blank = nbformat.from_dict(solution)  # a copy
    for index, cell in enumerate(blank.cells):
        if cell.cell_type in ("code", "markdown"):
            cell.source = strip_solution(cell.source, cell_type=cell.cell_type,
                                         where=f"cell {index}")
    return blank


def test_the_first_four_labs_are_there():
    assert [p.stem for p in SOLUTIONS][:4] == ["00_masks", "01_losses", "02_conv_arithmetic",
                                               "03_metrics"]


@pytest.mark.parametrize("solution", SOLUTIONS, ids=lambda p: p.stem)
def test_every_graded_cell_fails_on_the_blank_lab(solution, tmp_path):
    solution_notebook = read_notebook(solution)
    lab_ids = {cell.id for cell in graded_cells(student_version(solution_notebook))}
    assert lab_ids, f"{solution.name} has no graded cell"
    assert any(is_hidden_tests(c) for c in solution_notebook.cells), (
        f"{solution.name} has no hidden tests")
    blank = blank_lab_with_hidden_tests(solution_notebook)
    graded = graded_cells(blank)
    assert lab_ids < {cell.id for cell in graded}, "the hidden tests are graded cells too"
    # run every cell, errors included, as a student who changed nothing (in an empty folder)
    client = NotebookClient(blank, timeout=300, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute(env=dict(os.environ, SEGEDU_FAST="1", MPLBACKEND="Agg"))
    for cell in graded:
        outputs = blank.cells[cell.index].outputs
        errors = [o for o in outputs if o.output_type == "error"]
        assert errors, f"graded cell {cell.id!r} of {solution.name} passes on the blank lab"
        shown = "\n".join(errors[0].traceback)
        assert "✗" in shown, f"graded cell {cell.id!r} fails with a bare traceback:\n{shown[:500]}"
        assert "Traceback" not in shown, (f"graded cell {cell.id!r} shows a "
                                          f"traceback:\n{shown[:500]}")


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
    return [pytest.param(p, marks=pytest.mark.xfail(reason="not converted yet (issue 52)"))
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
