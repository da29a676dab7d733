"""An executed chapter (the book build's ``jupyter_execute/<chapter>.ipynb``), read as sections of
items that a slide can show.

Each heading (``#`` to ``###``) opens a :class:`Section`. Its :class:`Item` s come in the
chapter's order: the prose blocks of the markdown cells (paragraphs, lists, tables, display math,
boxes) and the figures that the code cells drew (PNG, JPEG or SVG outputs, with the caption of the
cell's ``mystnb: figure:`` metadata, as the book shows them). Each item carries the slide mark
written before it (``% slide-...`` comment, ``slide-...`` tag; see :mod:`segedu.slides.marks`).

Left out, as in the book: cells tagged ``remove-cell`` (and the outputs of ``remove-output``),
text and tables printed by code, and dropdowns (the record "How these numbers were made" and
the exercises' answers).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from pathlib import Path

from markdown_it.token import Token

from . import myst
from .marks import CODE, SKIP, parse_mark

# Output types drawn as a figure, and the file suffix each is saved with.
IMAGE_TYPES = {"image/svg+xml": ".svg", "image/png": ".png", "image/jpeg": ".jpg"}
REMOVED = {"remove-cell", "remove_cell", "remove-output", "remove_output"}
# Directives that are prose boxes (a box of class "dropdown", or a {dropdown}, is hidden).
BOXES = {"admonition", "note", "tip", "important", "warning", "caution", "attention", "hint",
         "seealso", "danger", "error"}


@dataclass
class Item:
    """One thing a slide may show.

    ``kind`` is ``"text"`` (a paragraph, list or table), ``"math"`` (a display formula), ``"box"``
    (an admonition: ``title`` and its body), ``"figure"`` (``image``: the file's bytes, ``suffix``,
    ``caption`` HTML) or ``"code"``. ``html`` is what the slide shows, ``mark`` the slide mark
    written for it (or ``None``), ``tokens`` the Markdown tokens of a text item.
    """

    kind: str
    html: str
    mark: str | None = None
    tokens: list[Token] = field(default_factory=list)
    title: str = ""
    caption: str = ""
    image: bytes = b""
    suffix: str = ""
    name: str = ""  # the figure's name in the book, if it has one

    @property
    def words(self) -> int:
        return len(myst.plain_text(self.tokens).split()) if self.tokens else 0


@dataclass
class Section:
    """A heading (``title`` HTML, ``level`` 1 to 3, plain ``text``) and its items."""

    title: str
    level: int
    text: str
    items: list[Item] = field(default_factory=list)


@dataclass
class Chapter:
    """An executed chapter: its ``docname`` (``05_conv_arithmetic``), its title and sections, and
    the ``context`` its text is rendered in (glued values, links; problems found on the way)."""

    docname: str
    title: str
    sections: list[Section]
    context: myst.Context


def glued_values(notebook_path: Path, notebook: dict) -> dict[str, str]:
    """``{name: text/plain}`` of every value the chapter glued: myst-nb keeps them beside the
    executed notebook (``<chapter>.glue.json``) or, in older builds, in the cells' outputs."""
    values: dict[str, str] = {}
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []):
            scrap = output.get("metadata", {}).get("scrapbook")
            if scrap:  # myst-nb's glue: the value's mime types behind a prefix
                plain = output.get("data", {}).get(scrap.get("mime_prefix", "") + "text/plain")
                if plain is not None:
                    values[scrap["name"]] = _text(plain)
    side = notebook_path.with_suffix(".glue.json")
    if side.is_file():
        for name, output in json.loads(side.read_text(encoding="utf8")).items():
            if "text/plain" in output.get("data", {}):
                values[name] = _text(output["data"]["text/plain"])
    return values


def _text(value: str | list[str]) -> str:
    return "".join(value) if isinstance(value, list) else value


def _tags(cell: dict) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def _figure_items(cell: dict, context: myst.Context, where: str) -> list[Item]:
    """The figures a code cell drew, each with the cell's caption and mark; ``where`` names the
    cell in messages."""
    tags = _tags(cell)
    if REMOVED & set(tags):
        return []
    marks = [m for m in (parse_mark(t, where) for t in tags) if m]
    mark = next((m for m in marks if m != CODE), None)
    figure = cell.get("metadata", {}).get("mystnb", {}).get("figure", {})
    caption = myst.render_inline(str(figure.get("caption", "")).strip(), context)
    items: list[Item] = []
    if CODE in marks:
        source = _text(cell["source"])
        items.append(Item("code", f"<pre><code>{myst.html.escape(source)}</code></pre>",
                          mark=mark if mark != SKIP else None))
    for output in cell.get("outputs", []):
        data = output.get("data", {})
        mime = next((m for m in IMAGE_TYPES if m in data), None)
        if mime is None:
            continue
        raw = _text(data[mime])
        image = raw.encode("utf8") if mime == "image/svg+xml" else base64.b64decode(raw)
        items.append(Item("figure", "", mark=mark, caption=caption, image=image,
                          suffix=IMAGE_TYPES[mime], name=str(figure.get("name", ""))))
    return items


def _markdown_items(source: str, context: myst.Context, first_line: int | None, where: str,
                    sections: list[Section]) -> None:
    """Split a markdown cell into headings (new sections) and items (added to the last one);
    ``first_line`` is the cell's first line in the chapter's source (for messages)."""
    mark: str | None = None
    for block in myst.blocks(myst.tokens(source)):
        first = block[0]
        if first.type == "myst_line_comment":
            line = first_line + first.map[0] if first_line and first.map else "?"
            found = parse_mark(first.content, f"{where}, line {line}")
            mark = found or mark
            continue
        if first.type == "myst_target":
            continue
        if first.type == "heading_open":
            level = int(first.tag[1])
            if level <= 3:
                title = myst.render_inline(block[1].content, context)
                sections.append(Section(title, level, myst.plain_text(block)))
                mark = None
                continue
        item = _block_item(block, context)
        if item is not None:
            item.mark = mark
            sections[-1].items.append(item)
        mark = None


def _block_item(block: list[Token], context: myst.Context) -> Item | None:
    first = block[0]
    if first.type in ("math_block", "math_block_label", "amsmath"):
        return Item("math", myst.render(block, context), tokens=block)
    if first.type in ("fence", "colon_fence") and first.info.strip().startswith("{"):
        directive = myst.parse_directive(first.info, first.content)
        if directive.name == "math":
            tex = myst.html.escape(directive.body.strip(), quote=False)
            return Item("math", f'<div class="math">\\[{tex}\\]</div>\n', tokens=block)
        if directive.name in BOXES and "dropdown" not in directive.classes:
            title = directive.argument or directive.name.capitalize()
            return Item("box", myst.render_text(directive.body, context),
                        title=myst.render_inline(title, context),
                        tokens=myst.tokens(directive.body))
        return None  # a dropdown (record, answer), a glossary, a figure of the book's own ...
    if first.type == "html_block":
        return None  # raw HTML is the book's (it may load things); not on slides
    if not myst.plain_text(block).strip():
        return None  # e.g. the paragraph of the Colab badge, an image from another host
    return Item("text", myst.render(block, context), tokens=block)


def read_chapter(notebook_path: Path, decks: dict[str, tuple[str, str]] | None = None) -> Chapter:
    """The sections and items of the executed notebook at ``notebook_path``; ``decks`` maps each
    chapter that has a deck to ``(link, title)`` for ``{doc}`` roles."""
    notebook = json.loads(notebook_path.read_text(encoding="utf8"))
    context = myst.Context(glued=glued_values(notebook_path, notebook), decks=dict(decks or {}))
    # myst-nb's map of each cell to its line in the chapter's source (0-based: a code cell's first
    # line, the blank line before a markdown cell)
    source_map = notebook.get("metadata", {}).get("source_map")
    source = f"{notebook_path.stem}.md" if source_map else notebook_path.name
    sections = [Section("", 0, "")]  # what comes before the first heading
    for index, cell in enumerate(notebook["cells"]):
        if REMOVED & set(_tags(cell)):
            continue
        if cell["cell_type"] == "markdown":
            first_line = source_map[index] + 2 if source_map else None
            _markdown_items(_text(cell["source"]), context, first_line,
                            source if source_map else f"{source}, cell {index}", sections)
        elif cell["cell_type"] == "code":
            where = (f"{source}, code cell at line {source_map[index] + 1}" if source_map
                     else f"{source}, cell {index}")
            sections[-1].items.extend(_figure_items(cell, context, where))
    chapters = [s for s in sections if s.level == 1]
    title = chapters[0].title if chapters else notebook_path.stem
    sections = [s for s in sections if s.level or s.items]
    return Chapter(notebook_path.stem, title, sections, context)
