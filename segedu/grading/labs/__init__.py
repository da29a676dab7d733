"""Reading and generating lab notebooks: what the generator and the grader read of a lab.

- :mod:`.notebook`: reading notebooks, the graded cells and their metadata, source checksums;
- :mod:`.written`: the questions a lab asks in prose, and what a student wrote for each;
- :mod:`.assignment`: the released lab and its solution read once into memory
  (:class:`~.assignment.Assignment`), and a submission's bytes read as a notebook;
- :mod:`.generate`: the student labs made from the solutions (``segedu-grade generate``);
- :mod:`.nbgrader_layout`: nbgrader's course layout, the labs released into it and its
  submissions' attempts (``segedu-grade release``).

This room imports no other room of the grader. This package imports nothing.
"""
