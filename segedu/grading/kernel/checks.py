"""Checks for the graded cells of the labs: a clear pass/fail line with a hint, not a traceback.

A graded cell that tests one property wraps its assertions in :func:`check`::

    with check("cross-entropy from one-hot targets", hint="use log_softmax, not log(softmax)"):
        assert_close(my_cross_entropy(logits, target), F.cross_entropy(logits, target))

On success it prints ``✓ cross-entropy from one-hot targets``. On failure it raises
:class:`CheckFailed`, whose notebook display is one short message — what went wrong and the hint
— instead of a traceback. The cell still ends in an error, so nbval and the grader see the failure.
An untouched exercise (``raise NotImplementedError()``) is reported as "not done yet".

**Partial credit.** A graded cell with several checks gives each check its ``points``: a check with
points that fails prints its ✗ line and lets the cell go on, and the cell ends with
:func:`finish_checks`, which fails the cell (one summary line) when any check failed::

    with check("boxes of a 1 x 1 mask", points=1):
        ...
    with check("boxes of a non-square image", points=1):
        ...
    finish_checks()

The points of the checks add up to the cell's points. The grader reads the points that the cell
earned from its guard (:mod:`.guard`), which asks :func:`cell_score` after the cell ran.

**Hints that diagnose.** The ``hint`` of a check is shown when an assertion of the check fails
(the property the check is about); a crash of the student's code shows its error without the hint.
Where one check tests several properties, each assertion carries its own hint: :func:`expect`
(``expect(ok, "got ..., expected ...", hint=...)``), or ``assert_close(..., hint=...)``, whose
hint replaces the check's. A hidden check names the visible check it extends (``after="..."``):
when that one failed too, the hidden check says "fix it first" instead of a hint.

**One TODO per check.** A check of one TODO that needs another TODO's function (the U-Net made of
the student's decoder blocks) runs with the library's version of that function in its place, so a
slip in the other TODO costs only that TODO's points::

    with check("your U-Net's decoder", points=1), library_versions(globals(), DecoderBlock=Up):
        model = my_unet(depth=3)  # built from segedu's Up while the check runs
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

__all__ = ["CheckFailed", "Mistake", "check", "expect", "finish_checks", "cell_score",
           "library_versions", "assert_close"]

# bound when this module is loaded: a notebook that later replaces torch.allclose (or the others)
# does not change what assert_close compares with (the grader loads a private copy of this file
# before any cell runs, see segedu.grading.kernel.cell_guard)
_Tensor, _tensor, _as_tensor, _isnan, _allclose = (
    torch.Tensor, torch.tensor, torch.as_tensor, torch.isnan, torch.allclose)
_no_subclass_functions = torch._C.DisableTorchFunctionSubclass
_SHOWN = 12  # a tensor with at most this many values is shown in full beside the expected one

# the checks of the cell that runs now (name, points, passed) and the outcome of every check run
# in this session, by name (for after=); the guard resets the first before each graded cell
_cell: list[tuple[str, float, bool]] = []
_finished: list[tuple[str, float, bool]] = []
_outcomes: dict[str, bool] = {}


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


class Mistake(AssertionError):
    """A failed assertion that carries its own hint (shown instead of the check's)."""

    def __init__(self, message: str, *, hint: str = ""):
        super().__init__(message)
        self.hint = hint


def expect(ok, message: str, *, hint: str = "") -> None:
    """Assert ``ok``; else fail the check with ``message`` (say what the answer did: got beside
    expected, on the smallest case that shows it) and ``hint`` (about that property only)."""
    if not ok:
        raise Mistake(message, hint=hint)


def _untouched_todo(error: BaseException) -> bool:
    """Whether ``error`` is a TODO's own ``raise NotImplementedError()``: no message, raised
    outside the installed libraries. A library's NotImplementedError (torch's "not implemented
    for 'Long'", say) is a slip in the student's code, reported as any other error."""
    if not isinstance(error, NotImplementedError) or str(error):
        return False
    frame = error.__traceback__
    while frame is not None and frame.tb_next is not None:
        frame = frame.tb_next
    return frame is None or "site-packages" not in frame.tb_frame.f_code.co_filename


def _failure(name: str, error: BaseException, hint: str, after: str | None) -> str:
    """The ✗ message of a check ``name`` that ended with ``error``."""
    if _untouched_todo(error):
        return (f"✗ {name}: not done yet — replace `raise NotImplementedError()` with your "
                "code.")
    if isinstance(error, Mistake):
        detail, hint = str(error) or "the result is not the expected one", error.hint
    elif isinstance(error, AssertionError):
        detail = str(error) or "the result is not the expected one"
    else:  # any error raised by the student's code is feedback; the hint is about another thing
        detail, hint = f"your code raised {type(error).__name__}: {error}", ""
    if after is not None and _outcomes.get(after) is False:
        return f"✗ {name}: {detail}\n  The visible check “{after}” above fails too: fix it first."
    return f"✗ {name}: {detail}" + (f"\n  Hint: {hint}" if hint else "")


@contextmanager
def check(name: str, *, hint: str = "", points: float | None = None,
          after: str | None = None) -> Iterator[None]:
    """Run the assertions of one graded check; print ✓, or report ✗ with a hint.

    Args:
        name: what is checked, as the student reads it.
        hint: shown when an assertion of the check fails (not when the student's code crashes,
            and not for a :class:`Mistake`, which carries its own).
        points: this check's share of the cell's points. Without it the check raises
            :class:`CheckFailed` at once; with it the ✗ line is printed, the cell goes on to its
            next check and :func:`finish_checks` fails it at the end.
        after: the name of the visible check that this (hidden) check extends: when that one
            failed, the message says to fix it first instead of giving a hint.
    """
    if points is not None and (isinstance(points, bool) or not isinstance(points, int | float)
                               or points < 0):
        raise ValueError(f"points must be a number >= 0, got {points!r}")
    try:
        yield
    except CheckFailed:
        _outcomes[name] = False
        raise
    except Exception as error:
        _outcomes[name] = False
        message = _failure(name, error, hint, after)
        if points is None:
            raise CheckFailed(message) from None
        _cell.append((name, float(points), False))
        print(message)
        return
    _outcomes[name] = True
    if points is not None:
        _cell.append((name, float(points), True))
    print(f"✓ {name}")


def finish_checks() -> None:
    """End a cell of checks with points: raise :class:`CheckFailed` when any of them failed.

    Its message is one line: how many checks failed and the points the cell earned (the ✗ lines
    with their hints are printed above it, in order with the ✓ lines).
    """
    results = list(_cell)
    _cell.clear()
    _finished.extend(results)
    failed = [name for name, _, passed in results if not passed]
    if failed:
        earned = sum(points for _, points, passed in results if passed)
        total = sum(points for _, points, _ in results)
        raise CheckFailed(f"✗ {len(failed)} of {len(results)} checks failed: this cell earns "
                          f"{earned:g} of {total:g} points.")


def cell_score(reset: bool = False) -> tuple[float, float] | None:
    """(points earned, points of all checks) of the checks with points run since the last reset,
    or ``None`` when none ran. The grader's guard calls it with ``reset=True`` before a graded
    cell and without after it."""
    results = _finished + _cell
    if reset:
        _finished.clear()
        _cell.clear()
    if not results:
        return None
    return (sum(points for _, points, passed in results if passed),
            sum(points for _, points, _ in results))


_MISSING = object()


@contextmanager
def library_versions(namespace: dict, **versions) -> Iterator[None]:
    """While the block runs, the names ``versions`` of ``namespace`` (the notebook's
    ``globals()``) are bound to the given objects (the library's version of another TODO's
    function or class); the student's are put back afterwards, whatever happens."""
    saved = {name: namespace.get(name, _MISSING) for name in versions}
    namespace.update(versions)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is _MISSING:
                namespace.pop(name, None)
            else:
                namespace[name] = value


def _show(value) -> str:
    """A small tensor as a short list (rounded floats), for got-beside-expected messages."""
    value = value.detach().cpu()
    if value.is_floating_point():
        return str([round(v, 4) for v in value.double().flatten().tolist()]
                   if value.dim() <= 1 else value.double().round(decimals=4).tolist())
    return str(value.tolist())


def assert_close(actual, expected, *, rtol: float = 1e-5, atol: float = 1e-6,
                 what: str = "your result", hint: str | None = None) -> None:
    """Assert that two tensors (or numbers) agree, with a message a student can act on: a small
    result is shown beside the expected one. ``hint`` (if given) replaces the check's hint.

    Tensor subclasses are compared as plain tensors (their ``__torch_function__`` is not called).
    """
    def fail(message: str):
        return AssertionError(message) if hint is None else Mistake(message, hint=hint)

    actual, expected = _plain(actual), _plain(expected)
    if not isinstance(actual, _Tensor):
        if isinstance(actual, int | float) and not isinstance(actual, bool):
            actual = _tensor(float(actual))
        else:
            raise fail(f"{what} should be a tensor, got {type(actual).__name__}")
    expected = _as_tensor(expected, dtype=actual.dtype if actual.is_floating_point() else None)
    if actual.shape != expected.shape:
        raise fail(f"{what} has shape {tuple(actual.shape)}, expected {tuple(expected.shape)}")
    if _isnan(actual.float()).any() and not _isnan(expected.float()).any():
        raise fail(f"{what} contains NaN")
    if not _allclose(actual.double(), expected.double(), rtol=rtol, atol=atol, equal_nan=True):
        difference = (actual.double() - expected.double()).abs().max().item()
        if actual.numel() == 1:
            raise fail(f"{what} is {actual.item():.6g}, expected {expected.item():.6g}")
        if actual.numel() <= _SHOWN:
            raise fail(f"{what}: got {_show(actual)}, expected {_show(expected)}")
        a, b = actual.double(), expected.double()
        wrong = ~((a - b).abs() <= atol + rtol * b.abs()) & ~(_isnan(a) & _isnan(b))
        first = tuple(int(i) for i in wrong.nonzero()[0].tolist())
        raise fail(f"{what}: {int(wrong.sum())} of {actual.numel()} values differ, by up to "
                   f"{difference:.3g}; the first at index {first[0] if len(first) == 1 else first}:"
                   f" got {a[first].item():.6g}, expected {b[first].item():.6g}")
