"""Which slides a chapter gets, in the lecture's order, and what its speaker notes say.

For each section (:mod:`segedu.slides.chapter`):

1. **On the slides**: the blocks marked ``% slide...`` (or, in a section with no marked prose, the
   section's first sentence: its why), every figure and diagram, every display formula and every
   box ("what the paper found"), unless marked ``slide-skip``; code only where marked
   ``slide-code``. The exercises section shows each exercise's bold title, the summary its list,
   the learning goals their list.
2. **The order** within a section follows the roles (:data:`segedu.slides.marks.ROLES`): why,
   picture, idea, formula, result, exercise; items of one role keep the chapter's order.
3. **The notes**: every paragraph that is not on a slide goes to the speaker notes of the slide
   of the next item shown after it in the chapter (the last one's, at the end of a section).
4. **Grouping**: consecutive prose of one role shares a slide up to :data:`WORDS_PER_SLIDE` words
   (a long list or box is cut between its items or paragraphs), up to three formulas share one; a
   figure, a box or code has a slide of its own, titled with its section's heading. A section that
   shows nothing (a heading right before its subsections) is a divider slide.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from markdown_it.token import Token

from . import myst
from .chapter import Chapter, Item, Section
from .marks import SKIP, default_role, rank, role_of

# Prose of one slide, at most (the deck's script shrinks the font of a slide that still overflows);
# a longer list is cut between its items.
WORDS_PER_SLIDE = 80
WORDS_PER_LIST = 110
FORMULAS_PER_SLIDE = 3


@dataclass
class Slide:
    """One slide: its ``kind`` (``title``, ``goals``, ``text``, ``divider``, ``figure``, ``math``,
    ``box``, ``code``),
    ``heading`` (HTML), the ``items`` it shows (HTML), its ``role`` and the speaker ``notes``."""

    kind: str
    heading: str
    items: list[str]
    role: str
    notes: list[str] = field(default_factory=list)
    caption: str = ""
    image: Item | None = None


@dataclass
class _Shown:
    kind: str  # lead, text, goals, math, figure, box, code
    html: str
    role: str
    words: int = 0
    item: Item | None = None
    notes: list[str] = field(default_factory=list)


def _is_marked(item: Item) -> bool:
    return item.mark is not None and item.mark != SKIP


def _section_kind(section: Section) -> str:
    text = " ".join(section.text.lower().split())
    if text.startswith("summary"):
        return "summary"
    if text.startswith("exercise"):
        return "exercises"
    return "plain"


def _is_goals(item: Item) -> bool:
    return item.kind == "text" and myst.plain_text(item.tokens).strip().lower().startswith(
        "learning goals")


def _split_list(block: list[Token], budget: int) -> list[list[Token]]:
    """A list block cut between items into lists of at most ``budget`` words each (an ordered list
    keeps its numbering)."""
    opening, closing, items, current, depth = block[0], block[-1], [], [], 0
    for token in block[1:-1]:
        current.append(token)
        depth += token.nesting
        if depth == 0:
            items.append(current)
            current = []
    chunks: list[list[list[Token]]] = [[]]
    words = 0
    for entry in items:
        size = len(myst.plain_text(entry).split())
        if chunks[-1] and words + size > budget:
            chunks.append([])
            words = 0
        chunks[-1].append(entry)
        words += size
    out, start = [], int(opening.attrGet("start") or 1)
    for chunk in chunks:
        attrs = dict(opening.attrs)
        if opening.type == "ordered_list_open" and start != 1:
            attrs["start"] = str(start)
        out.append([opening.copy(attrs=attrs), *[t for e in chunk for t in e], closing])
        start += len(chunk)
    return out


def _prose(item: Item, role: str, context: myst.Context) -> list[_Shown]:
    """A prose item on slides: one piece, or a long list cut into pieces."""
    first = item.tokens[0] if item.tokens else None
    if first is not None and first.type in ("bullet_list_open", "ordered_list_open") \
            and item.words > WORDS_PER_LIST:
        return [_Shown("text", myst.render(part, context), role,
                       len(myst.plain_text(part).split()), item)
                for part in _split_list(item.tokens, WORDS_PER_LIST)]
    return [_Shown("text", item.html, role, item.words, item)]


def _exercise_titles(section: Section, context: myst.Context) -> list[_Shown]:
    """The bold opening of each exercise ("**1. Output sizes.** Compute ..."), a paragraph of its
    own or an item of a list."""
    titles: list[str] = []
    for item in section.items:
        if item.kind != "text" or not item.tokens or item.tokens[0].type not in (
                "paragraph_open", "bullet_list_open", "ordered_list_open"):
            continue
        for token in item.tokens:
            children = [c for c in token.children or [] if c.type != "text" or c.content]
            if token.type == "inline" and len(children) > 2 and children[0].type == "strong_open":
                end = next(i for i, c in enumerate(children) if c.type == "strong_close")
                titles.append(myst.render([token.copy(children=children[1:end])], context))
    if not titles:
        return []
    html = '<ul class="exercises">' + "".join(f"<li>{t}</li>" for t in titles) + "</ul>"
    return [_Shown("text", html, "exercise", sum(len(t.split()) for t in titles))]


def _shown_items(section: Section, context: myst.Context) -> tuple[list[_Shown], list[str]]:
    """What a section shows, in the chapter's order, each with its notes; and the notes left over
    when it shows nothing."""
    kind = _section_kind(section)
    shown: list[_Shown] = []
    pending: list[str] = []
    any_marked_prose = any(_is_marked(i) for i in section.items if i.kind == "text")
    lead_done = any_marked_prose or kind != "plain"
    goals: list[str] = []  # the "Learning goals." paragraph, until its list comes

    def show(piece: _Shown) -> None:
        piece.notes.extend(pending)
        pending.clear()
        shown.append(piece)

    if kind == "exercises":
        pieces = _exercise_titles(section, context)
        notes = [i.html for i in section.items if i.kind in ("text", "math")]
        if pieces:
            pieces[0].notes = notes
            return pieces, []
        return [], notes

    for item in section.items:
        role = role_of(item.mark)
        if item.mark == SKIP:
            if item.kind in ("text", "math"):
                pending.append(item.html)
            continue
        if item.kind == "text":
            if _is_goals(item) and item.tokens[0].type == "paragraph_open":
                goals.append(item.html)  # shown with the list that follows it
                continue
            if goals:
                pieces = _prose(item, "why", context)
                pieces[0].html = goals.pop() + pieces[0].html
                for piece in pieces:
                    piece.kind = "goals"
                    show(piece)
                continue
            if _is_marked(item) or kind == "summary":
                for piece in _prose(item, role or default_role("text"), context):
                    show(piece)
                continue
            if not lead_done and item.tokens and item.tokens[0].type == "paragraph_open":
                lead_done = True
                sentence = myst.first_sentence(item.tokens)
                show(_Shown("lead", myst.render(sentence, context), "why",
                            len(myst.plain_text(sentence).split()), item))
                shown[-1].notes.append(item.html)
                continue
            pending.append(item.html)
        elif item.kind == "math":
            show(_Shown("math", item.html, role or default_role("math"), item=item))
        elif item.kind == "box":
            show(_Shown("box", item.html, role or default_role("box"), item.words, item))
        elif item.kind == "code":
            show(_Shown("code", item.html, role or default_role("code"), item=item))
        elif item.kind == "figure":
            show(_Shown("figure", "", role or default_role("figure"), item=item))
    if shown:
        shown[-1].notes.extend(pending)
        pending = []
    return shown, pending


def _box_parts(item: Item, context: myst.Context) -> list[str]:
    """A box's body as the HTML of one slide each, cut between its blocks at
    :data:`WORDS_PER_LIST` words."""
    parts: list[list[list[Token]]] = [[]]
    words = 0
    for block in myst.blocks(item.tokens):
        size = len(myst.plain_text(block).split())
        if parts[-1] and words + size > WORDS_PER_LIST:
            parts.append([])
            words = 0
        parts[-1].append(block)
        words += size
    return [myst.render([t for b in part for t in b], context) for part in parts if part]


def _group(section: Section, shown: list[_Shown], context: myst.Context) -> list[Slide]:
    """The slides of a section's shown items, sorted into the lecture's order."""
    ordered = sorted(shown, key=lambda s: rank(s.role))  # stable: the chapter's order per role
    slides: list[Slide] = []
    words = 0
    for piece in ordered:
        last = slides[-1] if slides else None
        text_like = piece.kind in ("lead", "text", "goals")
        kind = "goals" if piece.kind == "goals" else "text" if text_like else piece.kind
        if text_like and last and last.kind == kind and last.role == piece.role \
                and words + piece.words <= WORDS_PER_SLIDE:
            last.items.append(piece.html)
            last.notes.extend(piece.notes)
            words += piece.words
            continue
        if piece.kind == "math" and last and last.kind == "math" and last.role == piece.role \
                and len(last.items) < FORMULAS_PER_SLIDE:
            last.items.append(piece.html)
            last.notes.extend(piece.notes)
            continue
        if piece.kind == "figure":
            assert piece.item is not None
            slides.append(Slide("figure", section.title, [], piece.role, list(piece.notes),
                                caption=piece.item.caption, image=piece.item))
            continue
        if piece.kind == "box":  # a long box continues on the next slide, between paragraphs
            assert piece.item is not None
            for number, part in enumerate(_box_parts(piece.item, context)):
                title = piece.item.title + (" (continued)" if number else "")
                slides.append(Slide("box", section.title, [part], piece.role,
                                    list(piece.notes) if not number else [], caption=title))
            continue
        slides.append(Slide(kind, section.title, [piece.html], piece.role, list(piece.notes)))
        words = piece.words
    return slides


def plan(chapter: Chapter) -> list[Slide]:
    """The slides of a chapter: a title slide, then each section's slides in the lecture's
    order."""
    context = chapter.context
    slides = [Slide("title", chapter.title, [], "why")]
    for section in chapter.sections:
        shown, leftover = _shown_items(section, context)
        if section.level <= 1:
            # the chapter's opening: its why goes on the title slide, its goals follow it
            lead = next((piece for piece in shown if piece.kind == "lead"), None)
            if lead is not None:
                shown.remove(lead)
                slides[0].items.append(lead.html)
                slides[0].notes.extend(lead.notes)
            slides[0].notes.extend(leftover)
            section_slides = _group(section, shown, context)
            for slide in section_slides:
                if slide.heading == chapter.title and slide.kind != "figure":
                    slide.heading = ""
        else:
            # a section that shows nothing (a heading right before its subsections): a divider
            section_slides = _group(section, shown, context) or [
                Slide("divider", section.title, [], "why", leftover)]
        slides.extend(section_slides)
    return slides
