"""segedu.lab: a cell running the student's code says in one line what stopped it; never raises."""

from __future__ import annotations

import pytest

from segedu.lab import error_line, needs, waiting_line


def test_needs_turns_a_todo_into_one_line_and_skips_the_rest(capsys):
    ran = []
    with needs("section 4 (the focal loss)"):
        ran.append("before")
        raise NotImplementedError()
        ran.append("after")  # never reached
    assert ran == ["before"]
    out = capsys.readouterr().out
    assert out == waiting_line("section 4 (the focal loss)") + "\n"
    assert "section 4 (the focal loss)" in out and len(out.splitlines()) == 1


def test_needs_lets_finished_code_through(capsys):
    with needs("section 1"):
        value = 1 + 1
    assert value == 2 and capsys.readouterr().out == ""
    with pytest.raises(ValueError, match="part"):
        with needs(""):
            pass


@pytest.mark.parametrize("error", [ZeroDivisionError("division by zero"),
                                   RuntimeError("a\nlong\n" + "x" * 500), KeyError("semantic"),
                                   ValueError()])
def test_needs_turns_any_slip_into_one_line_naming_the_todo(capsys, error):
    with needs("`make_augmentation` (section 3)"):
        raise error
    out = capsys.readouterr().out
    assert out == error_line("`make_augmentation` (section 3)", error) + "\n"
    assert len(out.splitlines()) == 1 and len(out) < 400
    assert "`make_augmentation`" in out and type(error).__name__ in out


def test_needs_lets_an_interrupt_through():
    with pytest.raises(KeyboardInterrupt):
        with needs("section 1"):
            raise KeyboardInterrupt


def test_needs_closes_the_figures_a_stopped_block_opened(capsys):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    before = plt.get_fignums()  # figures another test of this process left open stay open
    kept = plt.figure()
    with needs("`make_augmentation` (section 3)"):
        plt.subplots(1, 2)
        raise RuntimeError("a slip")
    assert plt.get_fignums() == [*before, kept.number]
    plt.close(kept)
    assert "RuntimeError: a slip" in capsys.readouterr().out
