"""The lab notebooks as JupyterLab saves them, and the chapters each lab links.

A lab links the chapters it practises on the published book (GitHub Pages of the repository, the
site that `make book` builds), where a chapter shows its outputs and figures; a link to the
chapter's ``.md`` source on GitHub would show MyST without any output.

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
import yaml
from ipykernel.ipkernel import IPythonKernel
from ipykernel.kernelspec import get_kernel_dict

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "solutions").glob("*.ipynb")) + sorted((ROOT / "labs").glob("*.ipynb"))
CONFIG = ROOT / "jupyter-book-config" / "_config.yml"
SOURCE_LINK = re.compile(r"https://github\.com/[^)\s]+/course/[^)\s]+\.md")


def book_url() -> str:
    """The published book's address: the GitHub Pages site of the repository of _config.yml,
    served from the branch that the Colab buttons open (``gh-pages``)."""
    config = yaml.safe_load(CONFIG.read_text(encoding="utf8"))
    owner, name = re.fullmatch(r"https://github\.com/([^/]+)/([^/]+)",
                               config["repository"]["url"].rstrip("/")).groups()
    assert config["sphinx"]["config"]["segedu_colab_branch"] == "gh-pages"
    return f"https://{owner}.github.io/{name}/"


def chapter_links(text: str) -> list[str]:
    """The chapters (``02_training``) that ``text`` links on the published book."""
    return re.findall(rf"\]\({re.escape(book_url())}(\d\d_\w+)\.html(?:#[^)]*)?\)", text)


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
    linked = chapter_links(first)
    assert linked, (f"{path.name}: no link to a chapter of the book ({book_url()}<chapter>.html) "
                    "in the first cell")
    for name in linked:
        assert (ROOT / "course" / f"{name}.md").is_file(), (
            f"{path.name} links the chapter {name}, which course/ does not have")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_no_lab_links_a_chapters_markdown_source(path):
    """GitHub renders a chapter's .md without outputs or figures: labs link the book's pages."""
    text = "\n".join(cell.source for cell in nbformat.read(path, as_version=4).cells)
    sources = SOURCE_LINK.findall(text)
    assert not sources, (f"{path.name} links chapter sources {sources}; link the book's pages "
                         f"({book_url()}<chapter>.html) instead")
