"""A planned chapter written as a reveal.js deck: ``<out>/<chapter>/index.html``, its figures in
``img/`` and the files it serves itself in ``lib/`` (:mod:`segedu.slides.assets`).

Every slide is a ``<section>`` holding one ``div.frame`` of the deck's fixed size (1280×720): the
frame is what must hold the slide's content (the deck's script shrinks the type of a frame whose
text does not fit, and ``tests/test_slides.py`` fails on one that still overflows). Speaker notes
are reveal.js' ``<aside class="notes">`` (press ``S`` for the speaker view, which shows them with
their math typeset as on the slides).
"""

from __future__ import annotations

import hashlib
import html
import re
from pathlib import Path

from . import assets
from .plan import Slide

# The deck's size in CSS pixels (16:9); reveal.js scales it to the screen.
WIDTH, HEIGHT = 1280, 720

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>{title} — slides</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="lib/reveal/dist/reset.css">
<link rel="stylesheet" href="lib/reveal/dist/reveal.css">
<link rel="stylesheet" href="lib/reveal/dist/theme/white.css">
<link rel="stylesheet" href="lib/deck.css">
<script>
window.MathJax = {{
  tex: {{inlineMath: [["\\\\(", "\\\\)"]], displayMath: [["\\\\[", "\\\\]"]]}},
  options: {{processHtmlClass: "math", enableMenu: false}},
  startup: {{typeset: false}}
}};
window.SEGEDU_DECK = {{width: {width}, height: {height}}};
</script>
<script defer src="lib/mathjax/tex-chtml.js"></script>
</head>
<body>
<div class="reveal measuring">
<div class="slides">
{slides}
</div>
</div>
<script src="lib/reveal/dist/reveal.js"></script>
<script src="lib/reveal/plugin/notes/notes.js"></script>
<script src="lib/deck.js"></script>
</body>
</html>
"""


def _chapter_label(docname: str) -> str:
    number = re.match(r"^(\d+)_", docname)
    return f"segedu · chapter {int(number.group(1))}" if number else "segedu"


def _notes(slide: Slide) -> str:
    if not slide.notes:
        return ""
    return '<aside class="notes">' + "\n".join(slide.notes) + "</aside>"


def _image_file(slide: Slide, deck_dir: Path) -> str:
    """Write the slide's figure under ``img/`` (named by its content) and return its path."""
    item = slide.image
    assert item is not None
    digest = hashlib.sha256(item.image).hexdigest()[:16]
    name = f"img/{item.name or 'fig'}-{digest}{item.suffix}"
    path = deck_dir / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_bytes(item.image)
    return name


def _section(slide: Slide, docname: str, deck_dir: Path, number: int) -> str:
    heading = f"<h2>{slide.heading}</h2>" if slide.heading else ""
    classes = f"slide-{slide.kind} role-{slide.role}"
    if slide.kind == "title":
        body = (f'<p class="kicker">{html.escape(_chapter_label(docname))}</p>'
                f'<h1>{slide.heading}</h1><div class="lead">{"".join(slide.items)}</div>')
    elif slide.kind == "figure":
        src = _image_file(slide, deck_dir)
        caption = f"<figcaption>{slide.caption}</figcaption>" if slide.caption else ""
        alt = html.escape(re.sub(r"<[^>]+>", "", slide.caption)[:200] or "figure", quote=True)
        body = (f'<h3>{slide.heading}</h3>' if slide.heading else "") + (
            f'<figure><img src="{src}" alt="{alt}">{caption}</figure>')
    elif slide.kind == "divider":
        body = f"<h2>{slide.heading}</h2>"
    elif slide.kind == "box":
        body = heading + (f'<div class="box"><p class="box-title">{slide.caption}</p>'
                          + "".join(slide.items) + "</div>")
    else:
        body = heading + '<div class="body">' + "".join(slide.items) + "</div>"
    return (f'<section class="{classes}" data-role="{slide.role}" id="slide-{number}">'
            f'<div class="frame">{body}</div>{_notes(slide)}</section>')


def write(slides: list[Slide], docname: str, title: str, deck_dir: Path) -> Path:
    """Write the deck of ``slides`` into ``deck_dir`` (``index.html``, ``img/``, ``lib/``) and
    return the path of its ``index.html``."""
    deck_dir.mkdir(parents=True, exist_ok=True)
    assets.install(deck_dir)
    sections = "\n".join(_section(slide, docname, deck_dir, number)
                         for number, slide in enumerate(slides, start=1))
    plain_title = html.escape(re.sub(r"<[^>]+>", "", title))
    page = _PAGE.format(title=plain_title, slides=sections, width=WIDTH, height=HEIGHT)
    index = deck_dir / "index.html"
    index.write_text(page, encoding="utf8")
    return index
