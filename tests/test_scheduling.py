"""How ``make test``'s two workers share the tests (tests/conftest.py's scheduler): the tests that
share an expensive setup go to one worker, so that no setup is built twice."""

from __future__ import annotations

from .conftest import BOOK_GROUP, has_module_fixtures, scheduling_unit


def test_the_book_and_a_labs_mutants_are_one_unit_each():
    assert scheduling_unit("tests/test_site.py::test_every_page_of_the_book_loads_cleanly_in_"
                           "chromium") == BOOK_GROUP
    assert scheduling_unit("tests/test_slides.py::test_a_deck_prints_to_pdf_one_page_per_slide"
                           ) == BOOK_GROUP
    unit = scheduling_unit("tests/grading/test_lab_mutants.py::test_a_slip_costs_only_its_own_"
                           "points[07-train step without clipping]")
    assert unit == "mutants of lab 07"
    assert scheduling_unit("tests/grading/test_lab_mutants.py::test_skipping_changes_no_outcome"
                           "[07_panoptic.ipynb]") == unit


def test_a_file_with_module_fixtures_is_one_unit_and_other_tests_are_alone():
    # test_gradescope.py grades its matrix in a module fixture: split between the workers, one
    # CI run graded it twice (150-230 s each)
    a = scheduling_unit("tests/grading/test_gradescope.py::test_the_solution_earns_every_point")
    b = scheduling_unit("tests/grading/test_gradescope.py::test_tampering_earns_nothing")
    assert a == b == "tests/grading/test_gradescope.py"
    # a package-scoped fixture of a folder's conftest.py counts for the files below it
    assert has_module_fixtures("tests/engine/test_fit_arguments.py")
    # a file without: each test alone, for the load balance
    plain = "tests/ops/test_nms.py::test_batched_nms_matches_torchvision"
    assert not has_module_fixtures("tests/ops/test_nms.py")
    assert scheduling_unit(plain) == plain
