"""Labs and their grading.

- :mod:`~segedu.grading.notebook`: reading notebooks, graded cells, checksums;
- :mod:`~segedu.grading.generate`: the student labs made from the solutions
  (``python -m segedu.grading generate``);
- :mod:`~segedu.grading.checks`: :func:`check` and :func:`assert_close`, used by the graded cells.
"""

from .checks import (
    CheckFailed,
    Mistake,
    assert_close,
    check,
    expect,
    finish_checks,
    library_versions,
)

__all__ = ["check", "expect", "finish_checks", "library_versions", "assert_close", "CheckFailed",
           "Mistake"]
