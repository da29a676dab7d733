"""Helpers for the labs' ungraded cells that use the student's code.

A lab's later cells (a training run, a figure of the results) call the functions that the student
writes in its ``# YOUR CODE HERE`` blocks. On a lab that is not finished yet, such a cell should say
in one line which part to finish first, not print a traceback of an unrelated error, and it should
end without an error, so that JupyterLab's *Run All* goes on to the next cells::

    from segedu.lab import needs

    with needs("section 4 (the focal loss)"):
        train(my_focal_loss)

Graded cells do not use this: they use :func:`segedu.grading.check`, whose failure must stay an
error for the grader.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["needs", "waiting_line"]


def waiting_line(part: str) -> str:
    """The one line printed for a cell that waits for ``part`` of the lab."""
    return (f"⏸ Skipped: finish {part} first (a `# YOUR CODE HERE` there still raises "
            "NotImplementedError).")


@contextmanager
def needs(part: str) -> Iterator[None]:
    """Run a block of code that uses the student's code of ``part`` (e.g.
    ``"section 4 (focal loss)"``).

    When that code is still a TODO (it raises ``NotImplementedError``), print :func:`waiting_line`
    and leave the block quietly: the rest of the block is skipped and the cell ends without an
    error. Every other exception goes through unchanged: a bug must still show up.
    """
    if not isinstance(part, str) or not part.strip():
        raise ValueError(f"part must name the part of the lab to finish, got {part!r}")
    try:
        yield
    except NotImplementedError:
        print(waiting_line(part))
