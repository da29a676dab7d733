"""The public name of the graded cells' checks: ``segedu.grading.checks`` is
:mod:`segedu.grading.kernel.checks`, where the code lives (in the room of what runs inside the
student's kernel).

Labs import the checks from the package (``from segedu.grading import check, assert_close``);
this module keeps the older dotted name working for notebooks and scripts that import it
(``segedu.grading.checks.cell_score``), whatever version of segedu a student's Colab installed.
The names are the very objects of :mod:`segedu.grading.kernel.checks`: a notebook that replaces
one here or there is seen by the kernel's guard, which watches both modules.
"""

from .kernel.checks import (
    CheckFailed,
    Mistake,
    assert_close,
    cell_score,
    check,
    expect,
    finish_checks,
    library_versions,
)

__all__ = ["CheckFailed", "Mistake", "check", "expect", "finish_checks", "cell_score",
           "library_versions", "assert_close"]
