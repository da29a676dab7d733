"""The graded-cell checks: a pass line, or one message with a hint (also inside a real kernel)."""

import nbformat
import pytest
import torch
from nbclient import NotebookClient

from segedu.grading import CheckFailed, assert_close, check


def test_pass_prints_a_tick(capsys):
    with check("sum", hint="add them"):
        assert_close(torch.tensor([1.0, 2.0]).sum(), 3.0)
    assert capsys.readouterr().out == "✓ sum\n"


@pytest.mark.parametrize("body, expected", [
    (lambda: (_ for _ in ()).throw(NotImplementedError()), "not done yet"),
    (lambda: assert_close(torch.tensor(2.0), 3.0), "your result is 2, expected 3"),
    (lambda: assert_close(torch.zeros(2, 3), torch.zeros(3, 2)), "shape (2, 3), expected (3, 2)"),
    (lambda: assert_close(torch.tensor([1.0, float("nan")]), torch.ones(2)), "NaN"),
    (lambda: assert_close([1, 2], torch.ones(2)), "should be a tensor"),
    (lambda: 1 / 0, "your code raised ZeroDivisionError"),
])
def test_failures_become_one_message_with_the_hint(body, expected):
    with pytest.raises(CheckFailed) as info:
        with check("my check", hint="look at the formula"):
            body()
    message = str(info.value)
    assert message.startswith("✗ my check: ") and expected in message
    if "not done yet" not in message:
        assert "Hint: look at the formula" in message
    assert info.value._render_traceback_() == message.splitlines()


def test_in_a_kernel_the_student_sees_the_message_not_a_traceback():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(
        "from segedu.grading import check\n"
        "with check('answer', hint='it is 42'):\n"
        "    assert 41 == 42, 'got 41'\n")]
    NotebookClient(nb, timeout=60, kernel_name="python3", allow_errors=True).execute()
    (error,) = [o for o in nb.cells[0].outputs if o.output_type == "error"]
    shown = "\n".join(error.traceback)
    assert "✗ answer: got 41" in shown and "Hint: it is 42" in shown
    assert "Traceback" not in shown and "File " not in shown


def test_a_tensor_subclass_cannot_talk_assert_close_into_agreeing():
    class Agreeable(torch.Tensor):
        @classmethod
        def __torch_function__(cls, func, types, args=(), kwargs=None):
            if func in (torch.allclose, torch.Tensor.__eq__):
                return True
            return super().__torch_function__(func, types, args, kwargs or {})

    liar = torch.zeros(3).as_subclass(Agreeable)
    assert torch.allclose(liar, torch.ones(3))  # what the subclass would make a naive check believe
    with pytest.raises(AssertionError, match="differs from the expected values by up to 1"):
        assert_close(liar, torch.ones(3))
    assert_close(torch.ones(3).as_subclass(Agreeable), torch.ones(3))  # an honest subclass passes
