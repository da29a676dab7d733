"""What runs inside the student's kernel: the graded cells' checks, the guard of the graded cells
and its call recorder.

- :mod:`.checks`: :func:`~.checks.check`, :func:`~.checks.assert_close` and the rest that the
  graded cells call (public as ``segedu.grading`` and ``segedu.grading.kernel.checks``);
- :mod:`.cell_guard`: the guard of the graded cells, an IPython startup file that the sandbox
  copies into the kernel's profile; it runs each graded cell with a private copy of the checks
  and publishes a signed record of what happened;
- :mod:`.call_recorder` and :mod:`.call_names`: the calls the TODOs' answers make, and which
  library function each is, recorded for the guard.

The sandbox (:mod:`segedu.grading.run.sandbox`) copies these files by path; each imports nothing
of the grader's other rooms, so that a private copy loaded from its file is whole. This package
imports nothing: importing it costs a student's kernel nothing.
"""
