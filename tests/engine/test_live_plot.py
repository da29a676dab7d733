"""The live loss plot: drawn in place in a notebook, off (and silent) everywhere else."""

import IPython.display
import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

import segedu.engine.live_plot as live_plot
from segedu.engine import History, LivePlot, fit, in_notebook

from .tiny_problem import TinySegNet, make_data


class FakeHandle:
    def __init__(self):
        self.updates = []

    def update(self, obj):
        self.updates.append(obj)


@pytest.fixture
def notebook(monkeypatch):
    """Pretend to run in a notebook; record what is displayed."""
    shown = []
    handle = FakeHandle()

    def display(obj, display_id=False):
        shown.append(obj)
        assert display_id is True  # a handle is needed to redraw in place
        return handle

    monkeypatch.setattr(live_plot, "in_notebook", lambda: True)
    monkeypatch.setattr(IPython.display, "display", display)
    return shown, handle


def _history():
    return History(train=[{"step": s, "epoch": 1, "loss": 1.0 / s, "lr": 0.1} for s in (1, 2, 3)],
                   val=[{"step": 3, "epoch": 1, "loss": 0.5, "acc": 0.8}])


def test_redraws_in_place(notebook):
    shown, handle = notebook
    plot = LivePlot(min_interval=0.0)
    plot.update(_history())
    plot.update(_history())
    plot.close(_history())
    assert len(shown) == 1 and len(handle.updates) == 2  # one output, replaced twice
    png = handle.updates[-1].data
    assert png.startswith(b"\x89PNG")


def test_redraws_are_throttled_but_the_last_one_is_drawn(notebook):
    shown, handle = notebook
    plot = LivePlot(min_interval=3600.0)
    for _ in range(5):
        plot.update(_history())
    plot.close(_history())
    assert len(shown) + len(handle.updates) == 2


def test_fit_draws_in_a_notebook_unless_disabled(notebook):
    shown, handle = notebook

    def run(**kwargs):
        torch.manual_seed(0)
        model = TinySegNet()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        loader = DataLoader(make_data(n=8), batch_size=4)
        fit(model, loader, loss_fn=F.cross_entropy, optimizer=optimizer, epochs=2, log_every=1,
            val_loader=loader, progress=False, **kwargs)

    run(live_plot=False)
    assert shown == [] and handle.updates == []
    run()  # None: on, since this is "a notebook"
    assert len(shown) == 1 and len(handle.updates) >= 1


def test_off_and_silent_outside_a_notebook(monkeypatch):
    calls = []
    monkeypatch.setattr(IPython.display, "display", lambda *a, **k: calls.append(a))
    assert not in_notebook()  # pytest is no notebook
    LivePlot().update(_history(), force=True)
    with pytest.warns(UserWarning, match="not a notebook"):
        plot = LivePlot(enabled=True)
    plot.close(_history())
    assert calls == []
