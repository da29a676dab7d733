"""Helpers for the labs' ungraded cells that use the student's code.

A lab's later cells (a training run, a figure of the results) call the functions that the student
writes in its ``# YOUR CODE HERE`` blocks. Such a cell must never stop JupyterLab's *Run All* with a
traceback of code the student did not write: whatever the student's code does, the cell prints one
line that names the TODO to finish or fix, and ends without an error::

    from segedu.lab import needs

    with needs("`my_focal_loss` (section 4)"):
        train(my_focal_loss)

Graded cells do not use this: they use :func:`segedu.grading.check`, whose failure must stay an
error for the grader.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["needs", "waiting_line", "error_line"]

_MESSAGE = 160  # characters of the error message kept on the line


def waiting_line(part: str) -> str:
    """The one line printed for a cell that waits for ``part`` of the lab."""
    return (f"⏸ Skipped: finish {part} first (a `# YOUR CODE HERE` there still raises "
            "NotImplementedError).")


def error_line(part: str, error: BaseException) -> str:
    """The one line printed for a cell stopped by an error raised while it ran ``part``'s code."""
    message = " ".join(str(error).split())  # one line, whatever the error's message
    if len(message) > _MESSAGE:
        message = message[:_MESSAGE] + "…"
    said = f": {message}" if message else ""
    return (f"⚠ Stopped: {part} raised {type(error).__name__}{said}. Fix it (its check above "
            "says more) and run this cell again.")


@contextmanager
def needs(part: str) -> Iterator[None]:
    """Run a block of code that uses the student's code of ``part`` (e.g.
    ``"`make_augmentation` (section 3)"``: name the TODO).

    When that code is still a TODO (it raises ``NotImplementedError``), print :func:`waiting_line`;
    when it raises any other exception, print :func:`error_line` (the error's type and message, no
    traceback). Either way the rest of the block is skipped, the figures it opened are closed
    (half-drawn, they would show empty axes), and the cell ends without an error, so *Run All* goes
    on. ``KeyboardInterrupt`` and ``SystemExit`` go through.
    """
    if not isinstance(part, str) or not part.strip():
        raise ValueError(f"part must name the part of the lab to finish, got {part!r}")
    before = _open_figures()
    try:
        yield
    except NotImplementedError:
        _close_figures_since(before)
        print(waiting_line(part))
    except Exception as error:  # any slip in the student's code: one line, and Run All goes on
        _close_figures_since(before)
        print(error_line(part, error))


def _open_figures() -> set[int]:
    """The numbers of matplotlib's open figures (none when pyplot was never imported)."""
    pyplot = sys.modules.get("matplotlib.pyplot")
    return set(pyplot.get_fignums()) if pyplot is not None else set()


def _close_figures_since(before: set[int]) -> None:
    pyplot = sys.modules.get("matplotlib.pyplot")
    for number in set(pyplot.get_fignums()) - before if pyplot is not None else ():
        pyplot.close(number)
