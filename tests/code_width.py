"""Code that fits the page: no code block of a built page scrolls sideways.

The chapters' code is written up to 100 columns, the theme's content column shows about 75: the
book's style sheet (jupyter-book-config/_static/segedu.css) makes code cells and Markdown code
blocks wrap. :func:`code_overflows` measures it in the browser, on a Playwright page:
a code block overflows when its ``scrollWidth`` exceeds its ``clientWidth``. Collapsed blocks
(``hide-input`` cells, dropdowns) are opened for the measurement and closed again. A cell's
printed output is measured too: a line cut off at the page's edge hides what it says.
tests/test_site.py calls it on every page of the book; tests/test_code_width.py proves it fails.
"""

from __future__ import annotations

# Every code block: the input of a code cell, its printed output, a Markdown code block.
CODE_BLOCKS = "div.highlight pre"

_OVERFLOW_JS = """
(selector) => {
  const closed = [...document.querySelectorAll("details:not([open])")];
  closed.forEach(d => d.open = true);
  const wide = [...document.querySelectorAll(selector)]
    .filter(pre => pre.getClientRects().length && pre.scrollWidth > pre.clientWidth + 1)
    .map(pre => {
      const lines = pre.textContent.split("\\n");
      const longest = lines.reduce((a, b) => (b.length > a.length ? b : a), "");
      return `${pre.scrollWidth} > ${pre.clientWidth} px: ${longest.trim().slice(0, 80)}`;
    });
  closed.forEach(d => d.open = false);
  return wide;
}
"""


def code_overflows(page) -> list[str]:
    """Each code block of the (loaded) Playwright ``page`` that is wider than its box, as
    "scrollWidth > clientWidth px: its longest line"; empty when all code fits."""
    return page.evaluate(_OVERFLOW_JS, CODE_BLOCKS)
