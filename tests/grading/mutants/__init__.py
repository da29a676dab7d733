"""Single-TODO mutants of the labs, one module per lab: ``LAB`` (the solution's file name) and
``MUTANTS``, a list of ``(name, source)``; the source defines the function(s) of one TODO (and any
helper it needs). ``tests/grading/test_lab_mutants.py`` grades every one of them."""
