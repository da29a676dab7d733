"""What grading leaves behind: the gradebook, the feedback, the points entered by hand and the
page to enter them, the stored results, the exports, Gradescope's results and the similar answers.

- :mod:`.gradebook`: a submission's row (:class:`~.gradebook.Row`), ``gradebook.csv`` and the
  feedback texts, written atomically;
- :mod:`.feedback`: the page a student reads, ``feedback/<student_id>.html``;
- :mod:`.manual_points`: the points entered by hand (``OUT/manual/points.json``) and the answers
  the manual page reads; :mod:`.manual_page`: that page (``segedu-grade manual``);
- :mod:`.similarity`: the answers that are the same once names and layout are set aside, and the
  copies of the solution;
- :mod:`.batch_outputs`: everything a batch writes at its end, from the results in memory;
- :mod:`.cache`: each student's stored result, reused while nothing it depends on changes;
- :mod:`.outfolder`: one lab per output folder (``OUT/lab.json``);
- :mod:`.roster`: the class list and each student's ids in the LMSs; :mod:`.export`: the
  gradebook as Canvas' or Moodle's CSV (``segedu-grade export``);
- :mod:`.gradescope_results`: a graded submission as Gradescope's ``results.json``.

This room imports the labs room (to read a lab) and no other. This package imports nothing.
"""
