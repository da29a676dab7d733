"""segedu's two training loops as they were before the one loop (commit eedf9d6), kept only for
the tests that prove the one loop repeats them: ``fit`` with its run class and ``last.pt``
(``loop.py``, ``resume.py``, ``step.py``) and ``train_steps`` with its resume file
(``steps.py``, ``resume_file.py``). Each file is the package's own at that commit, its imports of
the parts that did not change pointed at ``segedu.engine``.

Not for reuse: a fixed record of the old behaviour, with which the shipped checkpoints were
trained and the resume files of runs under way were written; the one loop must reproduce the
first to the bit and read the second.
"""
