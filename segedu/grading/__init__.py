"""Labs and their grading, in four rooms by where their code runs.

The graded cells of a lab import their checks from here (``from segedu.grading import check,
assert_close``); that is all this package imports, so a student's kernel pays for nothing else.
``segedu.grading.checks`` is the same checks under their older dotted name. The checks (and so
torch) are imported on the first use of one of their names (PEP 562's module ``__getattr__``), so
that the grader's own processes, which import ``segedu.grading.run`` and never a check, do not
import torch: about 2 CPU-seconds saved per process (the command line, and each process of the
Gradescope autograder, two or three per submission).

The rooms, from the bottom (a room imports only the rooms below it; no circle):

- ``kernel/``: what runs inside the student's kernel: the checks the graded cells call
  (:mod:`.kernel.checks`), the guard of the graded cells (:mod:`.kernel.cell_guard`) and its call
  recorder (:mod:`.kernel.call_recorder`, :mod:`.kernel.call_names`). It imports no other room:
  the sandbox copies these files into the run by path;
- ``labs/``: reading and generating lab notebooks: graded cells (:mod:`.labs.notebook`), written
  questions (:mod:`.labs.written`), the released lab and its solution as the grader reads them
  (:mod:`.labs.assignment`), the student labs made from the solutions (:mod:`.labs.generate`),
  nbgrader's layout (:mod:`.labs.nbgrader_layout`). It imports no other room;
- ``results/``: what grading leaves behind: the gradebook (:mod:`.results.gradebook`), the
  feedback pages, the points entered by hand and their page, the stored results, the exports,
  Gradescope's ``results.json``, the similar answers. It reads labs through ``labs/``;
- ``run/``: preparing and sandboxing the submissions: finding them, a class
  (:mod:`.run.batch`), one submission (:mod:`.run.grade_one`: prepared, read, run under the cell
  guard in its sandbox, scored), the file guard, and the same grading on Gradescope. It imports
  ``kernel/`` (the files it copies), ``labs/`` and ``results/``;
- :mod:`.cli`: the command line, ``segedu-grade`` and ``python -m segedu.grading``, on top.

From the command to the gradebook the calls go one way, down the rooms::

    segedu-grade ... -> cli.main
      -> run.batch.grade_batch                 submissions found, files guarded, results reused
           -> run.grade_one.grade_submission   per submission: prepare, scan, sandbox, score
                (the sandbox runs the notebook; kernel.cell_guard runs each graded cell inside)
           -> results.batch_outputs.write_batch
                -> results.gradebook.write_outputs   gradebook.csv and feedback/<id>.txt
"""

__all__ = ["check", "expect", "finish_checks", "library_versions", "assert_close", "CheckFailed",
           "Mistake"]


def __getattr__(name: str):
    """The checks' names, from :mod:`.kernel.checks`, imported on first use and then kept here
    (a plain attribute from then on: the kernel's guard snapshots them, see
    :mod:`.kernel.cell_guard`)."""
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from .kernel import checks

    for each in __all__:
        globals()[each] = getattr(checks, each)
    return globals()[name]


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
