"""segedu.lab: a cell that waits for an unfinished part of a lab says so in one line, no error."""

from __future__ import annotations

import pytest

from segedu.lab import needs, waiting_line


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


def test_needs_lets_finished_code_and_real_bugs_through(capsys):
    with needs("section 1"):
        value = 1 + 1
    assert value == 2 and capsys.readouterr().out == ""
    with pytest.raises(ZeroDivisionError):
        with needs("section 1"):
            _ = 1 / 0
    with pytest.raises(ValueError, match="part"):
        with needs(""):
            pass
