"""Running the submissions: found and matched, each prepared, read, run in its own sandbox under
the kernel's guard, and scored; then the class's results handed to the results room.

- :mod:`.submissions`: which notebook is whose (a plain folder, Canvas, Moodle, Gradescope,
  nbgrader);
- :mod:`.batch`: a class graded, :func:`~.batch.grade_batch` (what is read first, guarded, kept on
  Ctrl-C, reused from the stored results);
- :mod:`.grade_one`: one submission graded, :func:`~.grade_one.grade_submission`, with its
  :class:`~.grade_one.Limits`;
- :mod:`.prepare`: the notebook to run (graded cells restored, hidden tests added);
- :mod:`.static_scan` and :mod:`.library_calls`: TODOs answered by the library and code aimed at
  the grader, read before the run and recorded during it;
- :mod:`.sandbox`: one notebook run under nbval in its own folder and process tree, with limits;
  :mod:`.isolation`: the same in bubblewrap; :mod:`.nbval_report`: the pytest plugin that reports
  each cell (copied into the run);
- :mod:`.cell_guard_channel`: the grader's end of the channel with the kernel's cell guard (what
  it is told, its signed records); :mod:`.file_guard`: the files no submission may change;
- :mod:`.scoring` and :mod:`.diagnose`: what a run earns, and the notes for the student;
- :mod:`.gradescope_autograder` and :mod:`.gradescope_zip`: the same grading on Gradescope, and
  the autograder zip that runs it (``segedu-grade gradescope``).

This room imports the kernel room (the files the sandbox copies into the run, and
:func:`~segedu.grading.kernel.call_names.covers`), the labs room and the results room. This package
imports nothing.
"""
