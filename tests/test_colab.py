"""Every lab and chapter notebook runs on Colab: GPU requested, segedu installed there, no
repo path.

On Colab a notebook runs alone, in an empty folder, with Colab's own torch: its first code cell
installs segedu only there (tests/test_book.py and tests/grading/test_labs.py check the cell and
the badge), its metadata asks for a GPU runtime, and its code may not read or write a path that
exists only in a clone of this repository.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from myst_nb.core.read import read_myst_markdown_notebook

from segedu.grading.labs.notebook import read_notebook

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted(p for p in (ROOT / "course").glob("*.md")
                  if p.read_text(encoding="utf8").startswith("---"))
SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))

# A string literal that starts with a folder of this repository (or climbs out of the
# notebook's own).
REPOSITORY_ONLY = re.compile(
    r"""["'](?:\.\./|(?:\./)?"""
    r"""(?:solutions|labs|course|tests|benchmarks|segedu|jupyter-book-config)/)""")


def _notebook(path: Path):
    if path.suffix == ".md":
        return read_myst_markdown_notebook(path.read_text(encoding="utf8"))
    return read_notebook(path)


NOTEBOOKS = CHAPTERS + SOLUTIONS


def test_there_are_chapters_and_labs():
    assert CHAPTERS and SOLUTIONS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_asks_colab_for_a_gpu(path):
    metadata = _notebook(path).metadata
    assert metadata.get("accelerator") == "GPU", (
        f"{path.name}: set `accelerator: GPU` in the metadata")
    assert metadata.get("colab", {}).get("gpuType") == "T4", f"{path.name}: set colab.gpuType (T4)"
    assert metadata["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_uses_no_path_of_this_repository(path):
    for index, cell in enumerate(_notebook(path).cells):
        if cell.cell_type == "code":
            found = REPOSITORY_ONLY.search(cell.source)
            assert not found, (f"{path.name}, cell {index}: {found.group()!r} exists only in the "
                               "repository")


def test_repository_path_check_can_fail():
    assert REPOSITORY_ONLY.search('open("../data/x.png")')
    assert REPOSITORY_ONLY.search("Path('solutions/01_losses.ipynb')")
    assert REPOSITORY_ONLY.search('"./course/figures/a.png"')
    assert not REPOSITORY_ONLY.search('torch.save(state, "lab01_model.pt")')
    assert not REPOSITORY_ONLY.search('SyntheticScenes(size=64)')
