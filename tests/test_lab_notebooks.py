"""The lab notebooks as JupyterLab saves them, and the chapters each lab links.

Opening a notebook in JupyterLab and saving it must change nothing: JupyterLab writes the kernel's
own kernelspec and language_info into the metadata (and marks the notebook modified when they
differ), nbformat's minor version 5 with cell ids, and the JSON of ``nbformat.write`` (indent 1,
sorted keys, a final newline). The generator must write the student labs the same way.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from ipykernel.ipkernel import IPythonKernel
from ipykernel.kernelspec import get_kernel_dict

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "solutions").glob("*.ipynb")) + sorted((ROOT / "labs").glob("*.ipynb"))
CHAPTER_LINK = re.compile(r"\]\(https://github\.com/segedu/segedu/blob/main/course/([^)#]+\.md)\)")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_notebook_is_stored_as_jupyterlab_saves_it(path):
    text = path.read_text(encoding="utf8")
    notebook = nbformat.reads(text, as_version=nbformat.NO_CONVERT)
    assert notebook.metadata["kernelspec"] == {
        "display_name": get_kernel_dict()["display_name"], "language": "python", "name": "python3"}
    info = dict(notebook.metadata["language_info"])
    expected = dict(IPythonKernel.language_info)
    assert info.pop("version").split(".")[:1] == expected.pop("version").split(".")[:1]
    assert info == expected, "language_info as ipykernel reports it"
    assert (notebook.nbformat, notebook.nbformat_minor) == (4, nbformat.current_nbformat_minor)
    assert all(cell.get("id") for cell in notebook.cells), "every cell has an id (nbformat 4.5)"
    # what jupyter_server writes on save: nbformat.write = writes(...) + a final newline
    assert text == nbformat.writes(notebook) + "\n", "the file differs from what a save writes"


@pytest.mark.parametrize("path", sorted((ROOT / "solutions").glob("*.ipynb")), ids=lambda p: p.stem)
def test_each_lab_starts_by_linking_the_chapters_it_practises(path):
    first = nbformat.read(path, as_version=4).cells[0].source
    assert "This lab practises chapter" in first, (
        f"{path.name}: the first cell names the chapters it practises")
    linked = CHAPTER_LINK.findall(first)
    assert linked, f"{path.name}: no link to a chapter in the first cell"
    for name in linked:
        assert (ROOT / "course" / name).is_file(), (
            f"{path.name} links course/{name}, which does not exist")
