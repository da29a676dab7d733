"""Checks for the graded cells of the labs: a clear pass/fail line with a hint, not a traceback.

A graded cell wraps its assertions in :func:`check`::

    with check("cross-entropy from one-hot targets", hint="use log_softmax, not log(softmax)"):
        assert_close(my_cross_entropy(logits, target), F.cross_entropy(logits, target))

On success it prints ``✓ cross-entropy from one-hot targets``. On failure it raises
:class:`CheckFailed`, whose notebook display is one short message — what went wrong and the hint
— instead of a traceback. The cell still ends in an error, so nbval and the grader see the failure.
An untouched exercise (``raise NotImplementedError()``) is reported as "not done yet".
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

__all__ = ["CheckFailed", "check", "assert_close"]

# bound when this module is loaded: a notebook that later replaces torch.allclose (or the others)
# does not change what assert_close compares with (the grader loads a private copy of this file
# before any cell runs, see segedu.grading.guard)
_Tensor, _tensor, _as_tensor, _isnan, _allclose = (
    torch.Tensor, torch.tensor, torch.as_tensor, torch.isnan, torch.allclose)
_no_subclass_functions = torch._C.DisableTorchFunctionSubclass


def _plain(value):
    """A tensor subclass (with its own ``__torch_function__``) as a plain tensor: it cannot lie."""
    if isinstance(value, _Tensor) and type(value) is not _Tensor:
        with _no_subclass_functions():
            return value.as_subclass(_Tensor)
    return value


class CheckFailed(AssertionError):
    """A graded check that did not pass; Jupyter shows its message only (no traceback)."""

    def _render_traceback_(self) -> list[str]:
        # IPython calls this to display the exception: the message is the whole feedback
        return str(self).splitlines()


@contextmanager
def check(name: str, *, hint: str = "") -> Iterator[None]:
    """Run the assertions of one graded check; print ✓ or raise :class:`CheckFailed` with a hint."""
    hint_line = f"\n  Hint: {hint}" if hint else ""
    try:
        yield
    except CheckFailed:
        raise
    except NotImplementedError:
        raise CheckFailed(f"✗ {name}: not done yet — replace `raise NotImplementedError()` with "
                          "your code.") from None
    except AssertionError as error:
        detail = str(error) or "the result is not the expected one"
        raise CheckFailed(f"✗ {name}: {detail}{hint_line}") from None
    except Exception as error:  # any error raised by the student's code is feedback
        raise CheckFailed(f"✗ {name}: your code raised {type(error).__name__}: "
                          f"{error}{hint_line}") from None
    print(f"✓ {name}")


def assert_close(actual, expected, *, rtol: float = 1e-5, atol: float = 1e-6,
                 what: str = "your result") -> None:
    """Assert that two tensors (or numbers) agree, with a message a student can act on.

    Tensor subclasses are compared as plain tensors (their ``__torch_function__`` is not called).
    """
    actual, expected = _plain(actual), _plain(expected)
    if not isinstance(actual, _Tensor):
        if isinstance(actual, int | float) and not isinstance(actual, bool):
            actual = _tensor(float(actual))
        else:
            raise AssertionError(f"{what} should be a tensor, got {type(actual).__name__}")
    expected = _as_tensor(expected, dtype=actual.dtype if actual.is_floating_point() else None)
    if actual.shape != expected.shape:
        raise AssertionError(f"{what} has shape {tuple(actual.shape)}, expected "
                             f"{tuple(expected.shape)}")
    if _isnan(actual.float()).any() and not _isnan(expected.float()).any():
        raise AssertionError(f"{what} contains NaN")
    if not _allclose(actual.double(), expected.double(), rtol=rtol, atol=atol, equal_nan=True):
        difference = (actual.double() - expected.double()).abs().max().item()
        if actual.numel() == 1:
            raise AssertionError(f"{what} is {actual.item():.6g}, expected {expected.item():.6g}")
        raise AssertionError(f"{what} differs from the expected values by up to {difference:.3g}")
