"""JupyterLab's Run All on a student lab runs every cell: a failing check stops nothing.

JupyterLab sends every cell's execute request at once, with ``stop_on_error=True`` unless the cell
is tagged ``raises-exception``. After an error, ipykernel aborts only the requests that it has
already received, so with failing checks Run All used to skip some later cells (their outputs
cleared) and run others. The generator tags the graded cells of the student labs, and the other
cells of a lab wait for unfinished parts quietly (``segedu.lab.needs``). The grader removes the tag
before nbval runs a submission (``segedu.grading.run.prepare``), so a failed check still fails
there.
"""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from jupyter_client.manager import start_new_kernel
from nbclient import NotebookClient

from segedu.grading.labs.assignment import Assignment
from segedu.grading.labs.generate import student_version
from segedu.grading.labs.notebook import graded_cells, is_hidden_tests, read_notebook
from segedu.grading.run.prepare import prepare
from tests.grading.lab_runs import NOT_YET_COACHING

ROOT = Path(__file__).resolve().parents[2]
LABS = sorted((ROOT / "labs").glob("*.ipynb"))
TAG = "raises-exception"
INLINE = "module://matplotlib_inline.backend_inline"  # figures as JupyterLab shows them
FIGURE = "<figure>"


def _tags(cell) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


@pytest.mark.parametrize("lab", LABS, ids=lambda p: p.stem)
def test_graded_cells_of_the_labs_are_tagged_and_the_solutions_are_not(lab):
    notebook = read_notebook(lab)
    graded = {cell.index for cell in graded_cells(notebook)}
    for index, cell in enumerate(notebook.cells):
        assert (TAG in _tags(cell)) == (index in graded), (
            f"{lab.name}, cell {index}: tag {TAG} on graded cells only")
    solution = read_notebook(ROOT / "solutions" / lab.name)
    assert not any(TAG in _tags(cell) for cell in solution.cells), (
        "nbval must fail on any error of a solution")


def blank_lab_with_hidden_tests(name: str) -> tuple[nbformat.NotebookNode, list[bool], list[bool]]:
    """The student lab ``labs/<name>.ipynb``, untouched, as the grader runs it (its own
    :func:`~segedu.grading.run.prepare.prepare`: the solution's hidden tests put back); and, per
    code cell, whether it is a hidden test and whether JupyterLab's Run All sends it with
    ``stop_on_error`` (a released cell without the tag, which the grader removes)."""
    lab_path, solution_path = ROOT / "labs" / f"{name}.ipynb", ROOT / "solutions" / f"{name}.ipynb"
    lab = read_notebook(lab_path)
    assignment = Assignment.from_bytes(lab_path.read_bytes(), solution_path.read_bytes())
    prepared = prepare(lab, assignment)
    assert prepared.flags == [], f"{name}: the untouched lab is flagged: {prepared.flags}"
    released_tags = {cell.id: _tags(cell) for cell in lab.cells}
    code = [cell for cell in prepared.notebook.cells if cell.cell_type == "code"]
    hidden = [is_hidden_tests(cell) for cell in code]
    assert any(hidden), f"{name} has no hidden tests"
    stop = [not grader and TAG not in released_tags[cell.id]
            for cell, grader in zip(code, hidden, strict=True)]
    return prepared.notebook, hidden, stop


@pytest.mark.parametrize("name", [lab.stem for lab in LABS])
def test_run_all_on_a_blank_lab_runs_every_cell_and_every_graded_cell_fails_with_a_check(
        name, tmp_path, warm_kernels):
    """Every request sent at once, as JupyterLab's Run All does: none is aborted, only checks fail.

    Every lab: a cell that uses an unfinished part says so in one line (``segedu.lab.needs``)
    instead of failing with an unrelated error (a NotImplementedError traceback, a NameError, a
    division by zero); only graded cells fail, each with its check's ✗ message and no traceback,
    and no cell draws a figure after such a line (the empty axes of a figure whose data never
    came). Figures are drawn as JupyterLab shows them (matplotlib's inline backend).

    One run proves both what a student sees on Run All and that every graded cell, the grader's
    hidden tests included, fails on the untouched lab (what nbval runs: the hidden tests put back,
    each sent on without stopping, as nbval goes on after a failed cell). The released cells are
    sent as JupyterLab sends them, each with ``stop_on_error`` unless it is tagged.
    """
    notebook, hidden, stop = blank_lab_with_hidden_tests(name)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    env = dict(os.environ, SEGEDU_FAST="1", MPLBACKEND=INLINE)
    manager, client = start_new_kernel(kernel_name="python3", cwd=str(tmp_path), env=env)
    try:
        requests = [client.execute(cell.source, stop_on_error=stops)
                    for cell, stops in zip(code, stop, strict=True)]
        status = {}
        while not all(request in status for request in requests):
            reply = client.get_shell_msg(timeout=300)
            if reply["msg_type"] == "execute_reply":
                status[reply["parent_header"]["msg_id"]] = reply["content"]["status"]
        outcome = [status[request] for request in requests]
        assert "aborted" not in outcome, outcome
        # what each cell showed, in order: every request ends with the kernel's idle status
        shown, errors, idle = {r: [] for r in requests}, {r: [] for r in requests}, set()
        while idle != set(requests):
            message = client.get_iopub_msg(timeout=300)
            parent, kind = message["parent_header"].get("msg_id"), message["msg_type"]
            if kind == "status" and message["content"]["execution_state"] == "idle":
                idle.add(parent)
            elif kind == "stream" and parent in shown:
                shown[parent].append(message["content"]["text"])
            elif kind == "display_data" and parent in shown:
                shown[parent].append(FIGURE if "image/png" in message["content"]["data"] else "")
            elif kind == "error" and parent in errors:
                errors[parent].append("\n".join(message["content"]["traceback"]))
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    for cell, grader, request, result in zip(code, hidden, requests, outcome, strict=True):
        graded = cell.metadata.get("segedu", {}).get("grade", False)
        assert graded or not grader, f"hidden test {cell.id!r} is not a graded cell"
        assert result == "error" if graded else result == "ok", (
            f"cell {cell.id}: {result} on the blank lab ({'graded' if graded else 'not graded'})")
        waiting = [n for n, text in enumerate(shown[request]) if "⏸" in text]
        if waiting and not graded:
            assert FIGURE not in shown[request][waiting[0]:], (
                f"cell {cell.id} draws a figure after saying it waits: {shown[request]}")
        if graded:
            assert errors[request], f"graded cell {cell.id!r} of {name} shows no error"
            text = errors[request][0]
            assert "✗" in text, (f"graded cell {cell.id!r} fails with a bare "
                                 f"traceback:\n{text[:500]}")
            assert "Traceback" not in text, (f"graded cell {cell.id!r} shows a "
                                             f"traceback:\n{text[:500]}")


SLIPS = {  # what every TODO of the lab does instead of its solution
    "raises": 'raise RuntimeError("a planted slip")',
    "returns None": "return None",  # a wrong answer that goes on: every later use of it breaks
}


def _slipped(name: str, slip: str) -> nbformat.NotebookNode:
    """The student lab of solution ``name`` with every ``# YOUR CODE HERE`` answered by ``slip``
    (at module level, where ``return`` cannot stand, by the raise)."""
    lab = student_version(read_notebook(ROOT / "solutions" / f"{name}.ipynb"))
    for cell in lab.cells:
        if cell.cell_type != "code":
            continue
        lines = cell.source.split("\n")
        for k, line in enumerate(lines):
            answer = k and "YOUR CODE HERE" in lines[k - 1]
            if line.strip() == "raise NotImplementedError()" and answer:
                indent = line[: len(line) - len(line.lstrip())]
                lines[k] = indent + (slip if indent else SLIPS["raises"])
        cell.source = "\n".join(lines)
    return lab


@pytest.mark.parametrize("slip", list(SLIPS))
@pytest.mark.parametrize("name", [
    pytest.param(lab.stem, marks=pytest.mark.xfail(reason="not yet coaching"))
    if lab.stem in NOT_YET_COACHING else lab.stem for lab in LABS])
def test_run_all_with_a_slip_in_every_todo_stops_on_no_cell_the_student_did_not_write(
        name, slip, tmp_path, warm_kernels):
    """Whatever the student's code does, a cell that is not graded and is not the
    student's own prints one line and goes on (``segedu.lab.needs``), and a graded cell shows its
    ✗ message (a ``CheckFailed``), never a traceback."""
    lab = _slipped(name, SLIPS[slip])
    env = {"SEGEDU_FAST": "1", "MPLBACKEND": "Agg"}
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        NotebookClient(lab, timeout=600, kernel_name="python3", allow_errors=True,
                       resources={"metadata": {"path": str(tmp_path)}}).execute()
    problems = []
    for index, cell in enumerate(lab.cells):
        if cell.cell_type != "code":
            continue
        graded = cell.metadata.get("segedu", {}).get("grade", False)
        student = "YOUR CODE HERE" in cell.source
        first = cell.source.strip().split("\n")[0][:60]
        for output in cell.outputs:
            text = output.get("text", "") if output.output_type == "stream" else ""
            if "Traceback (most recent call last)" in text:
                problems.append(f"cell {index} (`{first}`) printed a traceback")
            if output.output_type != "error" or student:
                continue
            if not graded:
                problems.append(f"cell {index} (`{first}`) raised {output.ename}: "
                                f"{output.evalue[:200]}")
            elif output.ename != "CheckFailed" or len(output.traceback) > 40:
                problems.append(f"graded cell {index} (`{first}`) showed a traceback of "
                                f"{len(output.traceback)} lines ({output.ename}: "
                                f"{output.evalue[:200]})")
    assert not problems, "\n".join(problems)
