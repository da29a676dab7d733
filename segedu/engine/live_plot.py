"""A loss curve that redraws itself in place in a notebook while training runs.

The figure is drawn with Matplotlib's object API (no ``pyplot``, hence no global state and no
backend to choose), rendered to PNG and shown through an IPython *display handle*: the first call
shows the image, later calls replace it in the same output cell instead of adding new ones.
Outside a notebook (a terminal, a test, a ``torchrun`` job) the plot stays off and costs nothing.
"""

from __future__ import annotations

import io
import time
import warnings
from typing import Any

from .history import History

__all__ = ["LivePlot", "in_notebook"]


def in_notebook() -> bool:
    """True inside a Jupyter or Colab kernel (which can show images), False elsewhere."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    # notebook kernels (Jupyter's ZMQInteractiveShell, Colab's Shell) carry a kernel; a terminal
    # IPython does not
    return shell is not None and getattr(shell, "kernel", None) is not None


class LivePlot:
    """Shows the training loss and the validation results of a :class:`History`, updated in place.

    Args:
        enabled: ``None`` draws when running in a notebook; ``True`` asks for the plot and warns
            when there is no notebook to draw into; ``False`` never draws.
        min_interval: seconds between two redraws at least (drawing takes ~0.1 s; the final
            :meth:`close` always draws).
    """

    def __init__(self, *, enabled: bool | None = None, min_interval: float = 1.0) -> None:
        notebook = in_notebook()
        if enabled and not notebook:
            warnings.warn("live_plot=True but this is not a notebook: no plot is drawn",
                          stacklevel=3)
        self.enabled = notebook if enabled is None else bool(enabled) and notebook
        self.min_interval = min_interval
        self._handle: Any = None
        self._last_draw = float("-inf")
        self.draws = 0

    def update(self, history: History, *, force: bool = False) -> None:
        """Redraw from ``history`` unless disabled or redrawn less than ``min_interval`` ago."""
        if not self.enabled or not history.train:
            return
        if not force and time.monotonic() - self._last_draw < self.min_interval:
            return
        self._show(render_history(history))
        self._last_draw = time.monotonic()
        self.draws += 1

    def close(self, history: History) -> None:
        """Draw the final state of the run."""
        self.update(history, force=True)

    def _show(self, png: bytes) -> None:
        from IPython.display import Image, display

        image = Image(data=png, format="png")
        if self._handle is None:
            self._handle = display(image, display_id=True)  # first time: a new output
        else:
            self._handle.update(image)  # later: replace that output in place


def render_history(history: History) -> bytes:
    """PNG bytes of the loss curve (left) and the validation metrics other than loss (right)."""
    from matplotlib.figure import Figure

    metric_names = sorted({k for r in history.val for k in r} - {"step", "epoch", "loss"})
    figure = Figure(figsize=(10 if metric_names else 5, 3.2), dpi=90, layout="constrained")
    axes = figure.subplots(1, 2 if metric_names else 1, squeeze=False)[0]
    # left: training loss per logged step, validation loss per validation
    axes[0].plot(history.steps, history.losses, label="train loss")
    if any("loss" in r for r in history.val):
        axes[0].plot(*history.metric("loss"), "o-", label="val loss")
    axes[0].set_xlabel("step")
    axes[0].set_ylabel("loss")
    axes[0].legend(loc="upper right")
    # right: every validation metric
    if metric_names:
        for name in metric_names:
            axes[1].plot(*history.metric(name), "o-", label=name)
        axes[1].set_xlabel("step")
        axes[1].set_ylabel("validation")
        axes[1].legend(loc="lower right")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
