"""Lab 03's surface-distance exercise (HD95 and NSD by hand) catches the usual mistakes, names
them, and passes on the solution.

The test runs, in this process, the lab's import cell and the cells of its section 5 (the answer
cell, the graded cell and the hidden tests) from ``solutions/03_metrics.ipynb``. Each mutant below
is an answer a student could plausibly write (no spacing,
surface pixels taken from the wrong mask, the wrong percentile; and a few more); it replaces the
student's function in a copy of the namespace, and the graded cell must fail with a ✗ message
that contains the words naming that mistake. That the untouched lab fails every graded cell is
tests/grading/test_labs.py's job.
"""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path

import nbformat
import pytest

from segedu.grading import CheckFailed

ROOT = Path(__file__).resolve().parents[2]
SOLUTION = ROOT / "solutions" / "03_metrics.ipynb"
SECTION_IDS = ("surface-distances", "surface-distances-hidden")

# the solution's helpers, for mutants that get only one function wrong
DISTANCES = '''
def distances(pred, target, spacing):
    sp, st = my_surface(pred), my_surface(target)
    return my_directed_distances(sp, st, spacing), my_directed_distances(st, sp, spacing)
'''

# (name, graded cell id, words the failure message must contain, source replacing the function)
MUTANTS = [
    # --- surfaces
    ("the whole mask as its surface", "surface-distances", "8 rim pixels", '''
def my_surface(mask):
    return np.asarray(mask, dtype=bool).copy()
'''),
    ("erosion with the full 3x3 square (8-neighbours)", "surface-distances", "4-) neighbour", '''
def my_surface(mask):
    mask = np.asarray(mask, dtype=bool)
    return mask & ~ndimage.binary_erosion(mask, structure=np.ones((3,) * mask.ndim))
'''),
    ("the image border counted as inside", "surface-distances", "border", '''
def my_surface(mask):
    mask = np.asarray(mask, dtype=bool)
    return mask & ~ndimage.binary_erosion(mask, border_value=1)
'''),
    # --- distances
    ("distances without spacing", "surface-distances", "spacing is missing", '''
def my_directed_distances(surface_from, surface_to, spacing):
    return ndimage.distance_transform_edt(~surface_to)[surface_from]
'''),
    ("distance map read at the surface it comes from", "surface-distances", "every distance is 0",
     '''
def my_directed_distances(surface_from, surface_to, spacing):
    return ndimage.distance_transform_edt(~surface_from, sampling=spacing)[surface_from]
'''),
    ("distances to the target mask, not its surface", "surface-distances", "target *mask*", '''
def my_directed_distances(surface_from, surface_to, spacing):
    filled = ndimage.binary_fill_holes(surface_to)
    return ndimage.distance_transform_edt(~filled, sampling=spacing)[surface_from]
'''),
    # --- HD95
    ("HD95 in pixels (spacing not passed on)", "surface-distances", "spacing is missing",
     DISTANCES + '''
def my_hd95(pred, target, spacing):
    d_pt, d_tp = distances(pred, target, (1.0,) * pred.ndim)
    return float(max(np.percentile(d_pt, 95), np.percentile(d_tp, 95)))
'''),
    ("HD95 of one direction", "surface-distances", "one direction", DISTANCES + '''
def my_hd95(pred, target, spacing):
    d_pt, _ = distances(pred, target, spacing)
    return float(np.percentile(d_pt, 95))
'''),
    ("HD95 of the other direction", "surface-distances", "one direction", DISTANCES + '''
def my_hd95(pred, target, spacing):
    _, d_tp = distances(pred, target, spacing)
    return float(np.percentile(d_tp, 95))
'''),
    ("the maximum instead of the 95th percentile", "surface-distances", "the maximum distance",
     DISTANCES + '''
def my_hd95(pred, target, spacing):
    d_pt, d_tp = distances(pred, target, spacing)
    return float(max(d_pt.max(), d_tp.max()))
'''),
    ("the 95th percentile of the pooled lists", "surface-distances", "pooled", DISTANCES + '''
def my_hd95(pred, target, spacing):
    d_pt, d_tp = distances(pred, target, spacing)
    return float(np.percentile(np.concatenate([d_pt, d_tp]), 95))
'''),
    ("surface pixels of the wrong mask: target against itself", "surface-distances",
     "measured to itself", DISTANCES + '''
def my_hd95(pred, target, spacing):
    d_pt, d_tp = distances(target, target, spacing)
    return float(max(np.percentile(d_pt, 95), np.percentile(d_tp, 95)))
'''),
    # --- NSD
    ("NSD without spacing", "surface-distances", "spacing is missing", DISTANCES + '''
def my_nsd(pred, target, tolerance, spacing):
    d_pt, d_tp = distances(pred, target, (1.0,) * pred.ndim)
    return float(((d_pt <= tolerance).sum() + (d_tp <= tolerance).sum()) / (d_pt.size + d_tp.size))
'''),
    ("NSD with a strict <", "surface-distances", "equal to the tolerance", DISTANCES + '''
def my_nsd(pred, target, tolerance, spacing):
    d_pt, d_tp = distances(pred, target, spacing)
    return float(((d_pt < tolerance).sum() + (d_tp < tolerance).sum()) / (d_pt.size + d_tp.size))
'''),
    ("NSD of one direction", "surface-distances", "one direction", DISTANCES + '''
def my_nsd(pred, target, tolerance, spacing):
    d_pt, _ = distances(pred, target, spacing)
    return float((d_pt <= tolerance).mean())
'''),
    ("NSD as the mean of the directed shares", "surface-distances", "mean of the two",
     DISTANCES + '''
def my_nsd(pred, target, tolerance, spacing):
    d_pt, d_tp = distances(pred, target, spacing)
    return float(((d_pt <= tolerance).mean() + (d_tp <= tolerance).mean()) / 2)
'''),
]


def _section_cells() -> list[nbformat.NotebookNode]:
    """The import cell and the code cells of the surface-distance section, in order."""
    cells = nbformat.read(SOLUTION, as_version=4).cells
    code = [c for c in cells if c.cell_type == "code"]
    imports = code[1]  # the first is the Colab install cell
    assert "from segedu.grading import" in imports.source
    start = next(i for i, c in enumerate(code) if "def my_surface" in c.source)
    return [imports, *code[start : start + 3]]


def _graded_id(cell: nbformat.NotebookNode) -> str | None:
    segedu = cell.metadata.get("segedu", {})
    return segedu.get("id") if segedu.get("grade") else None


def _run(source: str, namespace: dict) -> str:
    """Run a cell's source in ``namespace``; return what it printed."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(source, "<lab 03 cell>", "exec"), namespace)
    return out.getvalue()


@pytest.fixture(scope="module")
def solved():
    """The namespace after the section ran on the solution, and its graded cells' sources."""
    graded, namespace = {}, {"__name__": "__main__"}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SEGEDU_FAST", "1")
        patch.delitem(os.sys.modules, "google.colab", raising=False)
        for cell in _section_cells():
            printed = _run(cell.source, namespace)
            if (name := _graded_id(cell)) is not None:
                graded[name] = cell.source
                assert "✗" not in printed and printed.count("✓") >= 2, printed
    return namespace, graded


def test_the_section_passes_on_the_solution(solved):
    _, graded = solved
    assert set(graded) == set(SECTION_IDS)


def test_the_answer_cell_forbids_the_library_functions():
    answer = next(c for c in _section_cells() if "def my_surface" in c.source)
    forbid = answer.metadata["segedu"]["answer"]["forbid"]
    assert "segedu.metrics" in forbid and "monai" in forbid


@pytest.mark.parametrize(("name", "cell_id", "words", "mutant"), MUTANTS,
                         ids=[m[0] for m in MUTANTS])
def test_mutant_fails_with_a_message_naming_the_mistake(solved, name, cell_id, words, mutant):
    namespace, graded = solved
    mutated = dict(namespace)  # the mutant's function replaces the student's in a copy
    exec(compile(mutant, f"<mutant: {name}>", "exec"), mutated)
    printed = io.StringIO()  # a check with points prints its ✗ line and the cell fails at its end
    with pytest.raises(CheckFailed, match="✗") as failure, contextlib.redirect_stdout(printed):
        exec(compile(graded[cell_id], "<lab 03 cell>", "exec"), mutated)
    shown = printed.getvalue() + str(failure.value)
    assert words in shown, shown
