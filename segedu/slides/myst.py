"""MyST Markdown of a chapter, rendered to HTML for a slide or the speaker notes.

The book renders the chapters with Sphinx; a deck needs only a small part of that: paragraphs,
lists, tables, math, the chapter's roles and a few directives. This module parses a markdown cell
with the same parser as the book (myst-parser's markdown-it configuration, with the book's
``dollarmath`` and ``amsmath`` extensions) and renders its tokens with a few rules of its own:

- math stays TeX, wrapped as Sphinx writes it (``\\(...\\)`` in ``span.math``, ``\\[...\\]`` and
  amsmath environments in ``div.math``), for the deck's own copy of MathJax to typeset;
- ``{glue:text}`name:fmt``` (and ``{glue}``, ``{glue:any}``) pastes the value that the executed
  notebook glued, formatted exactly as myst-nb formats it; ``{doc}`` links to that chapter's
  deck when there is one (else "chapter N"); ``{math}`` is inline math; any other role shows
  its text (``{term}`dilated convolutions <dilated convolution>``` shows "dilated
  convolutions");
- an image from another host (the Colab badge) is left out: a deck requests nothing from the
  network.

Directives (``{admonition}``, ``{note}``, ``{dropdown}``, ``{math}``, ...) come back as
:class:`Directive` blocks; what a slide does with them is :mod:`segedu.slides.chapter`'s business.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from markdown_it.renderer import RendererHTML
from markdown_it.token import Token

_GLUE_TEXT_ROLES = {"glue", "glue:any", "glue:text"}
# "text <target>" in a role's content
_LABELLED = re.compile(r"^(.*?)\s*<([^<>]+)>$", re.S)


def format_glued(text_plain: str, fmt_spec: str) -> str:
    """The text that myst-nb pastes for a glued value's ``text/plain`` and a format spec (myst-nb's
    own function, so that a slide shows the very same digits as the book)."""
    from myst_nb.core.variables import format_plain_text

    return format_plain_text(text_plain, fmt_spec)


@dataclass
class Context:
    """What rendering needs to know beyond the Markdown: the glued values of the notebook
    (``{name: text/plain}``) and the link of each chapter that has a deck (``{docname: href}``)."""

    glued: dict[str, str] = field(default_factory=dict)
    decks: dict[str, tuple[str, str]] = field(default_factory=dict)  # docname -> (href, title)
    problems: list[str] = field(default_factory=list)


@dataclass
class Directive:
    """A MyST directive: ``name`` (``admonition``), its argument (the title), its ``options``
    (``:class: dropdown``) and its body (MyST text)."""

    name: str
    argument: str
    options: dict[str, str]
    body: str

    @property
    def classes(self) -> set[str]:
        return set(self.options.get("class", "").split())


def parse_directive(info: str, content: str) -> Directive:
    """A fence ``{name} argument`` with ``:option: value`` lines (or a ``---`` YAML block) at
    the top of its content."""
    name, _, argument = info.strip()[1:].partition("}")
    lines = content.splitlines()
    options: dict[str, str] = {}
    if lines and lines[0].strip() == "---":
        end = next((i for i in range(1, len(lines)) if lines[i].strip() == "---"), 0)
        for line in lines[1:end]:
            key, _, value = line.partition(":")
            options[key.strip()] = value.strip()
        lines = lines[end + 1:]
    else:
        while lines and re.match(r"^:[\w-]+:", lines[0]):
            key, _, value = lines.pop(0)[1:].partition(":")
            options[key.strip()] = value.strip()
    return Directive(name.strip(), argument.strip(), options, "\n".join(lines).strip("\n"))


def _math(tex: str, display: bool) -> str:
    tex = html.escape(tex.strip(), quote=False)
    if display:
        return f'<div class="math">\\[{tex}\\]</div>\n'
    return f'<span class="math">\\({tex}\\)</span>'


class SlideRenderer(RendererHTML):
    """markdown-it's HTML renderer with the rules of a deck (see the module's docstring); the
    rules are set by :func:`parser`, after the MyST plugins have added theirs."""

    def rules_of_a_deck(self) -> dict[str, Any]:
        return {
            "math_inline": lambda tokens, i, *_: _math(tokens[i].content, False),
            "math_inline_double": lambda tokens, i, *_: _math(tokens[i].content, True),
            "math_block": lambda tokens, i, *_: _math(tokens[i].content, True),
            "math_block_label": lambda tokens, i, *_: _math(tokens[i].content, True),
            "amsmath": lambda tokens, i, *_: (
                f'<div class="math">{html.escape(tokens[i].content.strip(), quote=False)}</div>\n'),
            "myst_line_comment": lambda *_: "",
            "myst_target": lambda *_: "",
            "myst_role": self._role,
            "image": self._image,
        }

    def _role(self, tokens: list[Token], idx: int, options: Any, env: dict) -> str:
        token = tokens[idx]
        name, content = token.meta.get("name", ""), token.content
        context: Context = env.get("context") or Context()
        labelled = _LABELLED.match(content)
        text = labelled.group(1) if labelled else content
        if name in _GLUE_TEXT_ROLES:
            key, _, fmt = content.rpartition(":") if ":" in content else (content, "", "")
            if key not in context.glued:
                context.problems.append(f"glued value {key!r} not found in the notebook")
                return html.escape(content)
            return html.escape(format_glued(context.glued[key], fmt))
        if name == "doc":
            target = (labelled.group(2) if labelled else content).strip().lstrip("/")
            target = target.removesuffix(".md").removesuffix(".ipynb")
            number = re.match(r"^(\d+)_", target)  # no deck: "chapter 5" for 05_conv_...
            fallback = f"chapter {int(number.group(1))}" if number else target
            href, title = context.decks.get(target, (None, fallback))
            shown = html.escape(text if labelled else title)
            return f'<a href="{html.escape(href)}">{shown}</a>' if href else shown
        if name == "math":
            return _math(content, False)
        return html.escape(text)  # {term}, {ref}, {cite}, ... and any other role: its text

    def _image(self, tokens: list[Token], idx: int, options: Any, env: dict) -> str:
        src = tokens[idx].attrGet("src") or ""
        if urlsplit(src).scheme in ("http", "https") or src.startswith("//"):
            return ""  # another host: never requested by a deck
        return super().image(tokens, idx, options, env)


_PARSER: Any = None


def parser() -> Any:
    """The markdown-it parser of the book's MyST configuration (made once)."""
    global _PARSER
    if _PARSER is None:
        try:
            from myst_parser.config.main import MdParserConfig
            from myst_parser.parsers.mdit import create_md_parser
        except ImportError as error:  # pragma: no cover - the book extra is missing
            raise ImportError("the slides need myst-parser (the book extra): "
                              "pip install -e '.[book]'") from error
        config = MdParserConfig(enable_extensions={"dollarmath", "amsmath", "colon_fence"},
                                dmath_double_inline=True)
        md = create_md_parser(config, SlideRenderer)  # the plugins add their own render rules
        md.renderer.rules.update(md.renderer.rules_of_a_deck())
        _PARSER = md
    return _PARSER


def tokens(markdown: str) -> list[Token]:
    """The block tokens of a MyST text."""
    return parser().parse(markdown)


def render(tokens_: list[Token], context: Context) -> str:
    """HTML of a run of block tokens."""
    md = parser()
    return md.renderer.render(tokens_, md.options, {"context": context})


def render_text(markdown: str, context: Context) -> str:
    """HTML of a whole MyST text (block level)."""
    md = parser()
    return md.render(markdown, {"context": context})


def render_inline(markdown: str, context: Context) -> str:
    """HTML of a MyST text without the paragraph around it (a caption, a title)."""
    md = parser()
    return md.renderInline(markdown, {"context": context})


def blocks(tokens_: list[Token]) -> list[list[Token]]:
    """The top-level blocks of a token stream: each a paragraph, a list, a heading, a math block,
    a fence, a comment ... with all its inner tokens."""
    out: list[list[Token]] = []
    depth = 0
    for token in tokens_:
        if depth == 0:
            out.append([])
        out[-1].append(token)
        depth += token.nesting
    return out


# A sentence ends at . ! or ? before a space and a capital letter, a digit or a role; not after
# an abbreviation.
_SENTENCE_END = re.compile(r"(?<![A-Z])(?<!\be\.g)(?<!\bi\.e)(?<!\bet al)(?<!\bcf)(?<!\bvs)"
                           r"(?<!\bFig)(?<!\bEq)(?<!\bSec)(?<!\bNo)[.!?](?=\s+\S)")


def first_sentence(paragraph: list[Token]) -> list[Token]:
    """A copy of a paragraph's tokens cut after its first sentence (the whole paragraph when it is
    one sentence)."""
    opening, inline, closing = paragraph[0], paragraph[1], paragraph[-1]
    kids = inline.children or []
    for index, child in enumerate(kids):
        if child.type != "text":
            continue
        # a sentence may end where the text token does ("numbers. *Segmenting* ...", or the end of
        # a line): then something follows it
        probe = child.content + (" X" if index + 1 < len(kids) else "")
        match = _SENTENCE_END.search(probe)
        if match:
            cut = child.copy(content=child.content[:match.end()])
            return [opening, inline.copy(children=[*kids[:index], cut]), closing]
    return paragraph


def plain_text(block: list[Token]) -> str:
    """The words of a block (for lengths and titles)."""
    words: list[str] = []
    for token in block:
        for child in token.children or []:
            if child.type in ("text", "code_inline", "math_inline", "myst_role"):
                words.append(child.content)
        if token.type in ("math_block", "math_block_label", "amsmath"):
            words.append(token.content)
    return " ".join(words)

