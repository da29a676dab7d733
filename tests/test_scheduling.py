"""The units that tests/conftest.py's xdist scheduler gives one worker whole."""

from tests.conftest import BOOK_GROUP, MUTANTS, scheduling_unit


def test_a_labs_mutants_form_one_unit_and_other_tests_their_own():
    lab05 = [f"{MUTANTS}05-box IoU without clamping the sides]", f"{MUTANTS}05-boxes off by one]"]
    lab07 = f"{MUTANTS}07-stuff split by instance ids]"
    assert scheduling_unit(lab05[0]) == scheduling_unit(lab05[1]) != scheduling_unit(lab07)
    assert scheduling_unit("tests/test_slides.py::test_the_book_links_each_chapter_to_its_deck") \
        == BOOK_GROUP
    other = "tests/grading/test_lab_mutants.py::test_every_todo_has_two_mutants"
    assert scheduling_unit(other) == other
