"""Slides for the lecturer: one reveal.js deck per chapter, made from the book's executed chapters.

``make slides`` (after ``make book``) runs ``python -m segedu.slides
<BOOK_OUT>/_build/jupyter_execute --out _build/slides --pdf``: for every executed chapter
(``NN_name.ipynb``) it writes ``_build/slides/NN_name/index.html``, a deck that serves reveal.js,
MathJax and its figures from its own folder, and with ``--pdf`` its print view as
``NN_name/NN_name.pdf``; ``_build/slides/index.html`` lists them. The book's build writes the
same decks (without PDFs) into the site, ``slides/NN_name/``, and links each chapter to its deck
(``jupyter-book-config/_ext/segedu_slides.py``).

What a slide shows is chosen in the chapter by marks (:mod:`segedu.slides.marks`); the deck's
order and notes are :mod:`segedu.slides.plan`'s; the figures are the book's, taken from the
executed notebook (:mod:`segedu.slides.chapter`).
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from . import deck
from .chapter import read_chapter
from .plan import plan

__all__ = ["build_decks", "chapter_notebooks", "deck_title"]

# The executed chapters: "05_conv_arithmetic.ipynb" (not the labs, the intro or the glossary).
CHAPTER = re.compile(r"^\d{2}_\w+\.ipynb$")


def chapter_notebooks(executed: Path) -> list[Path]:
    """The executed chapters in a book build's ``jupyter_execute`` folder, in order."""
    if not executed.is_dir():
        raise FileNotFoundError(f"{executed} is no folder of executed chapters: build the book "
                                "first (make book), then pass <BOOK_OUT>/_build/jupyter_execute")
    return sorted(p for p in executed.glob("*.ipynb") if CHAPTER.match(p.name))


def deck_title(notebook: Path) -> str:
    """A chapter's title (its first ``#`` heading), as plain text."""
    return re.sub(r"<[^>]+>", "", read_chapter(notebook).title)


def _index(out: Path, decks: list[tuple[str, str]], pdf: bool) -> None:
    rows = "\n".join(
        f'<li><a href="{name}/index.html">{html.escape(title)}</a>'
        + (f' · <a href="{name}/{name}.pdf">PDF</a>' if pdf else "") + "</li>"
        for name, title in decks)
    (out / "index.html").write_text(
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,">'
        "<title>segedu — slides</title></head><body><h1>segedu — slides</h1>"
        "<p>One reveal.js deck per chapter (press S for the speaker notes, F for full screen)."
        f"</p><ol>{rows}</ol></body></html>\n", encoding="utf8")


def build_decks(executed: Path, out: Path, *, pdf: bool = False,
                chapters: list[str] | None = None) -> list[Path]:
    """Write one deck per executed chapter of ``executed`` into ``out/<chapter>/`` and return the
    paths of their ``index.html``; ``chapters`` (docnames) limits the build to those; ``pdf``
    also prints each deck to ``out/<chapter>/<chapter>.pdf`` (headless Chromium)."""
    notebooks = chapter_notebooks(executed)
    if chapters is not None:
        notebooks = [p for p in notebooks if p.stem in chapters]
    titles = {p.stem: deck_title(p) for p in notebooks}
    links = {name: (f"../{name}/index.html", title) for name, title in titles.items()}
    problems: list[str] = []
    written: list[Path] = []
    for notebook in notebooks:
        chapter = read_chapter(notebook, links)
        slides = plan(chapter)
        problems += [f"{notebook.name}: {p}" for p in chapter.context.problems]
        written.append(deck.write(slides, chapter.docname, chapter.title, out / chapter.docname))
    if problems:
        raise ValueError("the slides could not be made as the book shows them:\n"
                         + "\n".join(problems))
    _index(out, [(p.stem, titles[p.stem]) for p in notebooks], pdf)
    if pdf:
        from .pdf import print_decks

        print_decks(written)
    return written
