"""Every solution runs, in fast mode, on the install that its first cell makes, and nothing more.

Each solution is executed here (this replaced the separate ``pytest --nbval-lax solutions`` pass
of ``make test``: a cell that raises, a failing graded check included, fails the test) in an
empty folder of its own, as on Colab, by a kernel that sees only ``segedu[extras]`` of its install
cell (``tests/student_install.py``). Chapters run the same way in
``tests/test_book.py::test_chapter_executes_in_fast_mode``.

What it caught: lab 08 compared two graded answers with ``segment_anything``, a dev-only
dependency; on the student install it stopped with ``ModuleNotFoundError: No module named
'segment_anything'`` in the graded cells ``resize-coords`` and ``fourier`` (and chapter 14 with
``timm``). ``test_a_notebook_that_needs_a_dev_package_fails_here`` keeps that case.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from segedu.grading.labs.notebook import read_notebook

from .student_install import (
    install_cell_requirement,
    kernel_env,
    not_installed,
    site_folder,
    student_env,
)
from .warm_kernel import warm_env

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))

# Seconds allowed to one cell in fast mode (the grader's own default per cell is 120 s).
CELL_TIMEOUT = 300
# Seconds a kernel may take to start: nbclient's 60 were passed once with the machine at load 8.
KERNEL_STARTUP_TIMEOUT = 300


def _first_code_cell(notebook) -> str:
    return next(cell.source for cell in notebook.cells if cell.cell_type == "code")


def run_on_student_install(notebook, folder: Path, monkeypatch) -> None:
    """Execute ``notebook`` in ``folder`` (fast mode) with only its install cell's packages, in a
    warm kernel (tests/warm_kernel.py)."""
    requirement = install_cell_requirement(_first_code_cell(notebook))
    for name, value in {**student_env(requirement, site_folder(requirement)),
                        **warm_env()}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SEGEDU_FAST", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    NotebookClient(notebook, timeout=CELL_TIMEOUT, kernel_name="python3",
                   startup_timeout=KERNEL_STARTUP_TIMEOUT,
                   resources={"metadata": {"path": str(folder)}}).execute()


def test_there_are_solutions():
    assert len(SOLUTIONS) >= 8


@pytest.mark.slow
@pytest.mark.parametrize("solution", SOLUTIONS, ids=lambda p: p.stem)
def test_solution_runs_on_the_install_of_its_first_cell(solution, tmp_path, monkeypatch):
    notebook = read_notebook(solution)
    run_on_student_install(notebook, tmp_path, monkeypatch)
    errors = [out for cell in notebook.cells if cell.cell_type == "code"
              for out in cell.get("outputs", []) if out.get("output_type") == "error"]
    assert not errors


def test_the_student_install_leaves_out_the_dev_extras_and_keeps_the_runtime():
    blocked, modules = not_installed("segedu")
    for name in ("timm", "segment-anything", "transformers", "torchmetrics", "stardist",
                 "cellpose", "pytest", "nbval", "jupyter-book"):
        assert name in blocked, f"{name} is a dev or book dependency, not installed for students"
    for name in ("torch", "torchvision", "numpy", "scipy", "scikit-image", "matplotlib",
                 "pycocotools", "ipywidgets", "ipykernel"):
        assert name not in blocked, f"{name} comes with segedu (or the kernel)"
    assert {"timm", "segment_anything", "torchmetrics"} <= modules
    assert not {"torch", "numpy", "segedu", "IPython"} & modules


def test_the_finder_refuses_what_is_not_installed_as_a_missing_package_would(tmp_path):
    code = (
        "import importlib.util, importlib.metadata\n"
        "import numpy, torch, segedu\n"  # installed by `pip install segedu`
        "assert importlib.util.find_spec('timm') is None\n"
        "try:\n"
        "    importlib.metadata.version('timm')\n"
        "    raise SystemExit('timm has metadata')\n"
        "except importlib.metadata.PackageNotFoundError:\n"
        "    pass\n"
        "try:\n"
        "    import segment_anything.utils.transforms\n"
        "    raise SystemExit('segment_anything was imported')\n"
        "except ModuleNotFoundError as error:\n"
        "    print(error)\n"
    )
    env = student_env("segedu", tmp_path / "site")
    done = subprocess.run([sys.executable, "-c", code], env={**_base_env(), **env},
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "No module named 'segment_anything'" in done.stdout
    assert "install cell installs \"segedu\"" in done.stdout


def test_an_extra_of_the_install_cell_is_installed():
    assert install_cell_requirement('"segedu[course] @ git+https://x/y"') == "segedu[course]"
    blocked, _ = not_installed("segedu[course]")
    assert "timm" not in blocked and "stardist" not in blocked
    assert "segment-anything" in blocked
    with pytest.raises(ValueError, match="does not pip-install segedu"):
        install_cell_requirement("import torch")


def test_a_notebook_that_needs_a_dev_package_fails_here(tmp_path, monkeypatch):
    """Today's lab 08 in small: the install cell installs segedu, a graded cell imports
    segment_anything, which `.venv` has and the student's install does not."""
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell(
            'if False:\n    install("segedu @ git+https://github.com/segedu/segedu")'),
        nbformat.v4.new_code_cell(
            "from segment_anything.utils.transforms import ResizeLongestSide"),
    ])
    with pytest.raises(CellExecutionError, match="No module named 'segment_anything"):
        run_on_student_install(notebook, tmp_path, monkeypatch)


def _base_env() -> dict[str, str]:
    """This process's environment without a finder's variables left from another test."""
    return {k: v for k, v in os.environ.items() if not k.startswith("SEGEDU_NOT_INSTALLED")}


def test_the_book_builds_kernel_reaches_myst_nbs_glue_and_nothing_else_of_it(tmp_path):
    """kernel_env, the environment of each chapter's kernel in the book's test build: the chapter's
    install (segedu; timm, nbformat, docutils, sphinx and myst-nb's other modules stay
    unimportable), except that segedu.book.glue hands its value to myst-nb's glue, which displays
    the record that the page pastes."""
    chapter = tmp_path / "99_chapter.md"
    chapter.write_text(
        "---\njupytext:\n  text_representation:\n    extension: .md\n    format_name: myst\n"
        "kernelspec:\n  display_name: Python 3\n  language: python\n  name: python3\n---\n\n"
        "```{code-cell} ipython3\nif False:\n"
        "    install('segedu @ git+https://github.com/segedu/segedu')\n```\n", encoding="utf8")
    code = (
        "import importlib.util\n"
        "import myst_nb\n"
        "shown = []\n"
        "myst_nb.glue.__globals__['ipy_display'] = lambda *a, **k: shown.append((a, k))\n"
        "from segedu.book import glue\n"
        "glue('answer', 42)\n"
        "(bundle,), kwargs = shown[0]\n"
        "assert kwargs['metadata']['scrapbook']['name'] == 'answer', kwargs\n"
        "assert bundle == {'application/papermill.record/text/plain': '42'}, bundle\n"
        "for name in ('nbformat', 'docutils', 'sphinx', 'myst_nb.parsers', 'timm'):\n"
        "    assert '.' in name or importlib.util.find_spec(name) is None, name\n"
        "    try:\n"
        "        __import__(name)\n"
        "        raise SystemExit(name + ' was imported')\n"
        "    except ModuleNotFoundError:\n"
        "        pass\n"
        "print('ok')\n"
    )
    env = kernel_env(chapter)
    done = subprocess.run([sys.executable, "-c", code], env={**_base_env(), **env},
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == "ok"
