"""Numbers that a chapter's prose quotes, taken from the cell that computed them.

A chapter states what its code measured (a score, a share, a count, a time) by *gluing* the value
in the cell and *pasting* it in the text with myst-nb's roles, so that the text cannot drift from
the code::

    from segedu.book import glue

    glue("zoo_miou", miou)              # in a code cell
    # in the prose: the zoo's U-Net reaches {glue:text}`zoo_miou:.3f` mIoU

myst-nb (the ``book`` extra) records the value in the executed notebook, and ``make book`` pastes
it; a role whose name no cell glued is a build warning, which ``-W`` turns into an error. Where
myst-nb is not installed (a student's install, Colab) the call only keeps the value in
:data:`GLUED`, so the chapter still runs; either way nothing is displayed in the cell.
"""

from __future__ import annotations

import numbers
import re
from typing import Any

__all__ = ["glue", "GLUED", "pasted_names"]

# myst-nb's paste roles, {glue}`name`, {glue:any}`name`, {glue:text}`name:.2f`,
# {glue:md}`name:myst`, and its paste directives, ```{glue:figure} name (or ::: fences)
_ROLE = re.compile(r"\{glue(?::(?:any|text|md))?\}`([^`]+)`")
_DIRECTIVE = re.compile(r"^\s*(?:`{3,}|:{3,})\{glue(?::(?:any|figure|math|md))?\}[ \t]+(\S+)", re.M)

#: Every value glued in this Python process, by name (what the book would paste).
GLUED: dict[str, Any] = {}


def _plain(value: Any) -> Any:
    """A number as a Python ``int``/``float`` (a 0-d tensor or NumPy scalar included), so that
    its text form is ``0.25`` and myst-nb's format spec (``:.3f``) applies to it; other values
    are returned unchanged."""
    if isinstance(value, bool | str):
        return value
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:  # torch / numpy 0-d
        value = value.item()
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    return value


def glue(name: str, value: Any) -> None:
    """Record ``value`` under ``name`` (as a plain Python number when it is one) for the chapter's
    prose; read it back from :data:`GLUED`.

    ``name`` must be a Python identifier (the roles ``{glue:text}`name:.2f``` split the name from
    the format at the last colon). The value is not displayed (myst-nb's ``display=False``), and
    the call returns ``None``, so a cell that ends on it shows nothing either (a returned value
    would be displayed as the cell's result: a stray number on the page).
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"a glue name must be an identifier such as 'zoo_miou', got {name!r}")
    value = _plain(value)
    GLUED[name] = value
    try:
        from myst_nb import glue as myst_glue
    except ImportError:  # a student's install: no book extra, nothing to paste into
        return
    myst_glue(name, value, display=False)


def pasted_names(markdown: str) -> list[str]:
    """The names that the MyST text ``markdown`` pastes with myst-nb's glue roles and directives,
    in order of appearance (a format spec such as ``:.3f`` left out)."""
    found = [(m.start(), m.group(1)) for m in _ROLE.finditer(markdown)]
    found += [(m.start(), m.group(1)) for m in _DIRECTIVE.finditer(markdown)]
    return [text.split(":", 1)[0] for _, text in sorted(found)]
