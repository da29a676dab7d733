"""The Gradescope autograder (``segedu-grade gradescope``): the zip of every lab, and lab 00's zip
unpacked into an ``/autograder``-like tree where ``run_autograder`` grades a matrix of submissions.

Every ``results.json`` is validated against :data:`RESULTS_SCHEMA`, written here from Gradescope's
autograder specification, "Output format":
https://gradescope-autograders.readthedocs.io/en/latest/specs/ (the top level: ``score``,
``execution_time``, ``output``, ``output_format``, ``visibility``, ``stdout_visibility``,
``extra_data``, ``tests``; a test: ``score``, ``max_score``, ``status`` ``passed``/``failed``,
``name``, ``number``, ``output``, ``output_format``, ``tags``, ``visibility``, ``extra_data``;
the visibilities ``hidden``, ``after_due_date``, ``after_published``, ``visible``; the output
formats ``text``, ``html``, ``simple_format``, ``md``, ``ansi``).

To stay cheap (every graded submission starts a kernel that imports torch), the matrix runs on lab
00 only; the endless loop sleeps rather than spins, in a run beside the others, in the submission
that also tries to read the hidden tests; segedu-grade grades the slip again for comparison.
``setup.sh`` is checked by running it in a fresh virtual environment: that installs torch, so it
runs only with ``SEGEDU_SLOW=1`` (:func:`test_setup_sh_installs_into_a_fresh_environment`).
"""

from __future__ import annotations

import copy
import json
import os
import stat
import subprocess
import sys
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import jsonschema
import nbformat
import pytest

from segedu.grading.labs.assignment import Assignment
from segedu.grading.labs.notebook import is_hidden_tests, read_notebook
from segedu.grading.results.gradebook import CellGrade, Row, WrittenGrade
from segedu.grading.results.gradescope_results import results_json
from segedu.grading.run import gradescope_autograder
from segedu.grading.run.batch import grade_batch
from segedu.grading.run.grade_one import Limits
from segedu.grading.run.gradescope_zip import autograder_files, write_autograder

from .mutants import lab00 as lab00_mutants
from .test_tamper import PATCH_COMPARISONS, _before_first_graded

ROOT = Path(__file__).resolve().parents[2]
LABS = sorted((ROOT / "labs").glob("*.ipynb"))
LAB = "00_masks"
# the endless loop is cut after 60 s; the first cell imports torch (seconds on a busy CI)
LIMITS = {"cell_timeout": 60, "timeout": 400, "memory_mb": 3000, "fast": True}
SLIP = "RLE encoded in row-major (C) order"  # a mutant of lab 00's RLE TODO
# an endless loop that sleeps (a spinning one would cost CI the CPU seconds it waits)
LOOP = "while True:\n    __import__('time').sleep(0.05)"

_VISIBILITY = {"enum": ["hidden", "after_due_date", "after_published", "visible"]}
_FORMAT = {"enum": ["text", "html", "simple_format", "md", "ansi"]}
RESULTS_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {
        "score": {"type": "number"},
        "execution_time": {"type": "number", "minimum": 0},
        "output": {"type": "string"},
        "output_format": _FORMAT,
        "test_output_format": _FORMAT,
        "test_name_format": _FORMAT,
        "visibility": _VISIBILITY,
        "stdout_visibility": _VISIBILITY,
        "extra_data": {"type": "object"},
        "tests": {"type": "array", "items": {
            "type": "object",
            "properties": {
                "score": {"type": "number"},
                "max_score": {"type": "number"},
                "status": {"enum": ["passed", "failed"]},
                "name": {"type": "string"},
                "name_format": _FORMAT,
                "number": {"type": "string"},
                "output": {"type": "string"},
                "output_format": _FORMAT,
                "tags": {"type": "array", "items": {"type": "string"}},
                "visibility": _VISIBILITY,
                "extra_data": {"type": "object"},
            },
            "additionalProperties": False,
        }},
        "leaderboard": {"type": "array"},
    },
    "additionalProperties": False,
    # the score is required at the top level unless every test has one
    "anyOf": [{"required": ["score"]},
              {"required": ["tests"], "properties": {"tests": {"items": {"required": ["score"]}}}}],
}


def valid(results: dict) -> dict:
    jsonschema.validate(results, RESULTS_SCHEMA)
    return results


# --- every lab: the zip -----------------------------------------------------------------------


@pytest.mark.parametrize("lab", LABS, ids=lambda p: p.stem)
def test_the_zip_of_every_lab(lab, tmp_path):
    # read once: the files may change while the test runs
    lab_bytes, solution_text = lab.read_bytes(), (ROOT / "solutions" / lab.name).read_bytes()
    files = autograder_files(lab_bytes, solution_text, limits=LIMITS,
                             hidden_visibility="after_due_date", written="tests",
                             lab_name=lab.name)
    path = write_autograder(tmp_path / "autograder.zip", files)
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        modes = {i.filename: i.external_attr >> 16 for i in archive.infolist()}
        config = json.loads(archive.read("segedu_lab/config.json"))
        requirements = archive.read("segedu_lab/requirements.txt").decode().split()
        assert archive.read("segedu_lab/lab.ipynb") == lab_bytes
        assert archive.read("segedu_lab/solution.ipynb") == solution_text
        scripts = {n: archive.read(n) for n in ("setup.sh", "run_autograder")}
    # Gradescope's two files at the root of the zip, executable, and bash can read them
    assert all(modes[n] & stat.S_IXUSR for n in scripts)
    for text in scripts.values():
        subprocess.run(["bash", "-n"], input=text, check=True)
    assignment = Assignment.from_bytes(lab_bytes, solution_text)
    assert config["graded_cells"] == assignment.columns
    assert config["max_points"] == assignment.max_total and config["limits"] == LIMITS
    # pinned from the lock, torch among them, no CUDA runtime, segedu from the zip itself
    lock = set((ROOT / "constraints.txt").read_text().split())
    assert set(requirements) <= lock and any(r.startswith("torch==") for r in requirements)
    assert not any(r.lower().startswith(("nvidia", "triton", "segedu")) for r in requirements)
    assert "segedu_src/segedu/grading/run/gradescope_autograder.py" in names
    assert "segedu_src/pyproject.toml" in names
    assert not any("__pycache__" in n for n in names)
    checkpoints = [n for n in names if n.startswith("segedu_src/segedu/zoo/checkpoints/")]
    uses_zoo = b"zoo" in solution_text
    assert bool(checkpoints) == uses_zoo, "the zoo's checkpoints go only with a lab that uses it"


# --- results.json without a kernel --------------------------------------------------------------


def test_results_of_a_row_with_written_answers_and_hidden_tests():
    row = Row(student_id="s", status="ok", max_total=9, summary="",
              cells=[CellGrade("a", True, 2.0, 2.0, "✓ a works"),
                     CellGrade("a-hidden", False, 0.5, 1.0, "✗ a on an empty input")],
              written=[WrittenGrade("why", 6.0, answer="Because.")])
    tests = valid(results_json(row, hidden={"a-hidden"}, hidden_visibility="after_due_date",
                               written="tests", seconds=3.4))
    assert tests["score"] == 2.5 and tests["execution_time"] == 3
    by_name = {t["name"]: t for t in tests["tests"]}
    assert by_name["a"] == {**by_name["a"], "score": 2.0, "status": "passed",
                            "visibility": "visible", "output": "✓ a works"}
    assert by_name["a-hidden (hidden test)"]["visibility"] == "after_due_date"
    assert by_name["a-hidden (hidden test)"]["status"] == "failed"
    written = by_name["why (written answer)"]
    assert (written["score"], written["max_score"], "status" in written) == (0.0, 6.0, False)
    assert "Because." in written["output"] and "graded by hand" in written["output"]
    assert tests["output"].startswith("Graded: 2.5 of 9 points (6 points of written answers are "
                                      "not graded yet)")
    manual = valid(results_json(row, written="manual"))
    assert [t["name"] for t in manual["tests"]] == ["a", "a-hidden"]
    assert manual["output"].startswith("Graded: 2.5 of 3 points (the written answers are graded "
                                       "separately, by hand)")
    with pytest.raises(ValueError, match="hidden_visibility"):
        results_json(row, hidden_visibility="later")


# --- lab 00's zip in an /autograder-like tree ---------------------------------------------------


def _notebooks() -> dict[str, nbformat.NotebookNode]:
    """The submissions of the matrix, each as a student of lab 00 hands it in."""
    solution = read_notebook(ROOT / "solutions" / f"{LAB}.ipynb")
    solution.cells = [c for c in solution.cells if not is_hidden_tests(c)]
    blank = read_notebook(ROOT / "labs" / f"{LAB}.ipynb")

    def with_cell_after(nb, defines: str, source: str):
        nb = copy.deepcopy(nb)
        at = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code"
                  and f"def {defines}(" in c.source)
        nb.cells.insert(at + 1, nbformat.v4.new_code_cell(source))
        return nb

    slip = dict(lab00_mutants.MUTANTS)[SLIP]
    syntax = copy.deepcopy(solution)
    cell = next(c for c in syntax.cells if "def polygons_to_mask(" in c.source)
    cell.source = cell.source.replace(") -> np.ndarray:", ") -> np.ndarray", 1)
    assert ") -> np.ndarray\n" in cell.source  # a missing colon
    return {
        "solution": solution,
        "blank": blank,
        "slip": with_cell_after(solution, "rle_encode", slip),
        "syntax_error": syntax,
        "tamper": _tamper(blank),
    }


def _tamper(blank):
    """An attack of the grader's set (tests/grading/test_tamper.py): every TODO returns a zero,
    and the comparisons the checks use are patched to say yes."""
    nb = copy.deepcopy(blank)
    for cell in nb.cells:
        if "# YOUR CODE HERE" in cell.source:
            cell.source = cell.source.replace("raise NotImplementedError()",
                                              "return torch.zeros((), requires_grad=True)")
    return _before_first_graded(nb, PATCH_COMPARISONS)


def _steal(blank, solution_path: Path):
    """The blank lab whose every TODO runs the solution's cell of the same id, read from the
    autograder's own files: full points if the hidden tests' notebook were readable."""
    nb = copy.deepcopy(blank)
    for cell in nb.cells:
        if cell.cell_type == "code" and "# YOUR CODE HERE" in cell.source:
            cell.source = (f"import json\nSTOLEN = json.load(open({str(solution_path)!r}))\n"
                           "exec(''.join(next(c['source'] for c in STOLEN['cells'] "
                           f"if c.get('id') == {cell.id!r})))")
    return nb


class Tree:
    """lab 00's zip unpacked as Gradescope lays it out: ``source/`` once, and for each graded
    submission a root of its own (``source`` linked into it) where :meth:`grade` runs
    ``run_autograder`` and returns its results.json and what it printed."""

    def __init__(self, base: Path):
        self.base = base
        lab, solution = ROOT / "labs" / f"{LAB}.ipynb", ROOT / "solutions" / f"{LAB}.ipynb"
        files = autograder_files(lab.read_bytes(), solution.read_bytes(), limits=LIMITS,
                                 hidden_visibility="after_due_date", written="tests",
                                 lab_name=lab.name)
        path = write_autograder(base / "autograder.zip", files)
        with zipfile.ZipFile(path) as archive:
            archive.extractall(base / "source")
        (base / "source" / "run_autograder").chmod(0o755)
        self.solution = base / "source" / "segedu_lab" / "solution.ipynb"

    def lay_out(self, name: str, files: dict[str, bytes]) -> Path:
        """A root of its own for one submission: ``source`` linked, ``submission/`` written."""
        root = self.base / name
        (root / "submission").mkdir(parents=True)
        (root / "source").symlink_to(self.base / "source")
        for file, data in files.items():
            (root / "submission" / file).parent.mkdir(parents=True, exist_ok=True)
            (root / "submission" / file).write_bytes(data)
        return root

    def grade(self, name: str, files: dict[str, bytes],
              python: Path = Path(sys.executable)) -> tuple[dict, str]:
        root = self.lay_out(name, files)
        env = {**os.environ, "SEGEDU_AUTOGRADER_ROOT": str(root),
               "SEGEDU_AUTOGRADER_PYTHON": str(python), "OMP_NUM_THREADS": "1"}
        done = subprocess.run([str(root / "source" / "run_autograder")], env=env,
                              capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, done.stderr[-3000:]
        results = json.loads((root / "results" / "results.json").read_text(encoding="utf8"))
        return valid(results), done.stdout


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Every submission of the matrix graded by run_autograder, and two of them by segedu-grade.

    The endless loop sleeps through its cell's time limit in a thread of its own while the others
    run."""
    base = tmp_path_factory.mktemp("gradescope")
    tree = Tree(base)
    notebooks = _notebooks()
    # one submission for two cases (one kernel fewer): every TODO runs the solution's cell read
    # from the autograder's files, and a cell loops for ever
    notebooks["steal_and_loop"] = _before_first_graded(_steal(notebooks["blank"], tree.solution),
                                                       LOOP)
    data = {name: nbformat.writes(nb).encode() for name, nb in notebooks.items()}
    with ThreadPoolExecutor(max_workers=1) as pool:  # the loop sleeps while the others run
        loop = pool.submit(tree.grade, "steal_and_loop",
                           {f"{LAB}.ipynb": data.pop("steal_and_loop")})
        results = {name: tree.grade(name, {f"{LAB}.ipynb": files})
                   for name, files in data.items()}
        # segedu-grade on the slip, with the same limits
        folder = base / "submissions"
        folder.mkdir()
        nbformat.write(notebooks["slip"], folder / "slip.ipynb")
        rows, _ = grade_batch(ROOT / "labs" / f"{LAB}.ipynb", folder, base / "out",
                              solution=ROOT / "solutions" / f"{LAB}.ipynb",
                              limits=Limits(**LIMITS))
        results["steal_and_loop"] = loop.result()
    return {"tree": tree, "results": results, "rows": {r.student_id: r for r in rows}}


def _points(results: dict) -> dict[str, float]:
    return {t["name"].removesuffix(" (hidden test)"): t["score"] for t in results["tests"]}


def test_the_solution_earns_every_point(graded):
    results, log = graded["results"]["solution"]
    assert results["score"] == 22 and all(t["status"] == "passed" for t in results["tests"])
    assert len(results["tests"]) == 12
    assert results["extra_data"]["segedu_status"] == "solution-copy"
    assert "looks like the solution" in results["output"]
    hidden = [t for t in results["tests"] if t["name"].endswith("(hidden test)")]
    assert hidden and all(t["visibility"] == "after_due_date" for t in hidden)
    assert "the notebook runs" in log and "WITHOUT protection" not in log


def test_the_blank_lab_earns_nothing_and_every_check_says_why(graded):
    results, _ = graded["results"]["blank"]
    assert results["score"] == 0 and results["extra_data"]["segedu_status"] == "ok"
    assert results["output"] == "Graded: 0 of 22 points"
    for test in results["tests"]:
        assert test["status"] == "failed" and test["score"] == 0, test
        assert "not done yet" in test["output"], test


def test_a_slip_costs_only_its_todos_points_as_segedu_grade_says(graded):
    results, _ = graded["results"]["slip"]
    points = _points(results)
    full = _points(graded["results"]["solution"][0])
    lost = {name for name in points if points[name] < full[name]}
    assert lost and lost <= {"rle", "rle-hidden"}, points
    row = graded["rows"]["slip"]
    assert points == {c.id: c.earned for c in row.cells} and results["score"] == row.total
    assert results["extra_data"]["segedu_status"] == row.status


def test_a_syntax_error_is_named_on_top(graded):
    """A missing colon in the polygons TODO: its cells earn nothing, every other cell all its
    points, and the note on top says where."""
    results, _ = graded["results"]["syntax_error"]
    full = _points(graded["results"]["solution"][0])
    lost = {name for name, points in _points(results).items() if points < full[name]}
    assert lost == {"polygons", "polygons-hidden"}, _points(results)
    assert "polygons_to_mask" in results["output"], results["output"]


def test_an_endless_loop_is_cut_and_the_hidden_tests_cannot_be_read(graded):
    """Every TODO of this submission runs the solution's cell read from the autograder's own
    files, which the run cannot read: it earns nothing. Its endless loop is interrupted after the
    cell's limit, and the note on top says where."""
    results, _ = graded["results"]["steal_and_loop"]
    assert results["score"] == 0, results["output"]
    assert results["extra_data"]["segedu_status"] == "timeout"
    assert "60 s" in results["output"] and "while True" in results["output"], results["output"]


def test_tampering_earns_nothing(graded):
    results, _ = graded["results"]["tamper"]
    assert results["score"] == 0 and results["extra_data"]["segedu_status"] == "tampered"
    assert "replaced functions that the checks rely on" in results["output"]
    assert "torch.allclose" in results["output"]


def test_no_notebook_and_two_notebooks_get_a_clear_message(graded, monkeypatch):
    """run_autograder's own function, in this process (no kernel runs: a new Python would only
    import the grader again)."""
    tree = graded["tree"]

    def run(name: str, files: dict[str, bytes]) -> dict:
        root = tree.lay_out(name, files)
        monkeypatch.setenv("SEGEDU_AUTOGRADER_ROOT", str(root))
        assert gradescope_autograder.main([]) == 0
        return valid(json.loads((root / "results" / "results.json").read_text(encoding="utf8")))

    results = run("no_notebook", {"answers.py": b"print(1)\n"})
    assert results["score"] == 0 and results["tests"] == []
    assert results["output"].startswith("No notebook was found in your submission (it holds "
                                        "answers.py)")
    two = nbformat.writes(read_notebook(ROOT / "labs" / f"{LAB}.ipynb")).encode()
    results = run("two_notebooks", {"a.ipynb": two, "copy/b.ipynb": two})
    assert results["score"] == 0
    assert "holds 2 notebooks (a.ipynb, copy/b.ipynb)" in results["output"]


@pytest.mark.skipif(os.environ.get("SEGEDU_SLOW") != "1",
                    reason="installs torch into a new environment (minutes): SEGEDU_SLOW=1")
def test_setup_sh_installs_into_a_fresh_environment(tmp_path):
    """setup.sh, run as Gradescope runs it (with this machine's package index: PyTorch's index of
    CPU wheels is not reachable here), makes a virtual environment from which run_autograder
    grades the solution.

    Run by hand on 2026-11-28 (lab 00's zip, a 2-core machine under a load average of 13):
    setup.sh exited 0 after 13 min 11 s (2 min 10 s of CPU), making a 5.9 GB environment (this
    machine's index serves torch's CUDA build; Gradescope's gets the CPU wheels); run_autograder
    then graded the solution from it, 22 of 22 points, in 1 min 45 s."""
    tree = Tree(tmp_path)
    env = {**os.environ, "SEGEDU_AUTOGRADER_ROOT": str(tmp_path), "SEGEDU_TORCH_INDEX": "",
           "SEGEDU_SETUP_PYTHON": os.path.realpath(sys.executable)}
    subprocess.run(["bash", str(tmp_path / "source" / "setup.sh")], env=env, check=True,
                   timeout=3000)
    python = tmp_path / "venv" / "bin" / "python"
    solution = nbformat.writes(_notebooks()["solution"]).encode()
    results, _ = tree.grade("solution", {f"{LAB}.ipynb": solution}, python=python)
    assert results["score"] == 22
