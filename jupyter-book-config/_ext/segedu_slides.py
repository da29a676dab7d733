"""The book builds each chapter's slides and links them: ``slides/<chapter>/index.html``.

Once the site is written (Sphinx's ``build-finished``), every executed chapter of the build
(``<BOOK_OUT>/_build/jupyter_execute/NN_name.ipynb``, the very notebooks whose outputs the pages
show) becomes a reveal.js deck in the site's ``slides/`` folder (``segedu.slides``: reveal.js,
MathJax and the figures served from the deck's own folder, nothing from another host). Each
chapter's page gets a line under its title that links its deck. ``make slides`` writes the same
decks, with a PDF each, into ``_build/slides/``.

``tests/test_site.py`` checks the link (an internal link: the deck must exist) and
``tests/test_slides.py`` opens every deck in headless Chromium.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from docutils import nodes
from sphinx.application import Sphinx

from segedu.slides import CHAPTER, build_decks

SLIDES = "slides"


def _executed(app: Sphinx) -> Path:
    """Where myst-nb writes the executed notebooks: ``<outdir>/../jupyter_execute``."""
    return Path(app.outdir).parent / "jupyter_execute"


def has_deck(app: Sphinx, docname: str) -> bool:
    """Whether ``docname`` is an executed chapter (so it gets a deck)."""
    return bool(CHAPTER.match(f"{docname}.ipynb")) and (
        _executed(app) / f"{docname}.ipynb").is_file()


def _link_deck(app: Sphinx, doctree: nodes.document, docname: str) -> None:
    """A line under the chapter's title: the link to its deck."""
    if not has_deck(app, docname):
        return
    section = next(iter(doctree.findall(nodes.section)), None)
    if section is None:
        return
    line = nodes.paragraph(classes=["segedu-slides-link"])
    line += nodes.Text("Lecture slides of this chapter: ")
    line += nodes.reference("", "open the deck", refuri=f"{SLIDES}/{docname}/index.html")
    line += nodes.Text(" (reveal.js, works offline; press S for the speaker notes).")
    section.insert(1, line)


def _build_decks(app: Sphinx, exception: Exception | None) -> None:
    if exception is not None or app.builder.format != "html":
        return
    build_decks(_executed(app), Path(app.outdir) / SLIDES)


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("doctree-resolved", _link_deck)
    app.connect("build-finished", _build_decks)
    return {"version": "0.1", "parallel_read_safe": True, "parallel_write_safe": True}
