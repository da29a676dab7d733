"""The marks by which a chapter chooses what its slides show.

A chapter is written once; its deck is chosen from it by marks that the book does not show:

- before a paragraph, a list, a formula or a box of the Markdown, a MyST comment line::

      % slide
      The output size is the number of positions where the whole kernel fits.

  puts that block on the section's slides (the rest of the section's prose goes to the speaker
  notes). ``% slide-<role>`` also says which part of the lecture it is (below); ``% slide-skip``
  keeps a formula, a box or a figure off the slides;
- on a code cell, the same words as cell tags (``tags: [hide-input, slide-result]``):
  ``slide-<role>`` for its figure, ``slide-skip`` to keep its figure off the slides, and
  ``slide-code`` to show its code on a slide (for code that is the lesson).

Without marks a section still gets its slides: its heading with its first sentence, each of
its figures and diagrams (with the caption the book gives them) and its display formulas.

Roles give the lecture's order within a section: the why, the picture, the idea, the formula, the
result, the exercise. A block without a role takes the role of its kind (see :func:`default_role`).
"""

from __future__ import annotations

#: The parts of a lecture, in the order a section's slides show them.
ROLES = ("why", "picture", "idea", "formula", "result", "exercise")
SLIDE = "slide"
SKIP = "slide-skip"
CODE = "slide-code"
MARKS = (SLIDE, SKIP, CODE, *(f"slide-{role}" for role in ROLES))


class MarkError(ValueError):
    """A slide mark that is not one of :data:`MARKS`."""


def parse_mark(word: str, where: str) -> str | None:
    """The mark named by a comment's text or a tag (``"slide-result"``), or ``None`` when the
    word is no slide mark at all; a word that starts with ``slide`` but is not a mark (a typo
    such as ``slide-reslt``) is an error naming ``where`` it was found."""
    word = word.strip()
    if not word.startswith(SLIDE):
        return None
    if word not in MARKS:
        raise MarkError(f"{where}: unknown slide mark {word!r}; the marks are {', '.join(MARKS)}")
    return word


def role_of(mark: str | None) -> str | None:
    """The role a mark names (``"slide-result"`` -> ``"result"``), else ``None``."""
    if mark and mark.startswith("slide-") and mark.removeprefix("slide-") in ROLES:
        return mark.removeprefix("slide-")
    return None


def default_role(kind: str) -> str:
    """The role of an unmarked block of ``kind``: a section's first sentence is its why, a figure
    or diagram its picture, marked prose and code the idea, display math the formula, a box
    ("what the paper found") the result."""
    return {"lead": "why", "figure": "picture", "text": "idea", "code": "idea",
            "math": "formula", "box": "result"}[kind]


def rank(role: str) -> int:
    """Position of a role in the lecture's order."""
    return ROLES.index(role)
