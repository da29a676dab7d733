"""Fixtures shared by the test packages: a machine without a network, the environments in
which a chapter's or a lab's online cell is run without one, and a training run interrupted."""

from __future__ import annotations

import socket
import sys

import pytest


@pytest.fixture
def no_network(monkeypatch):
    """Every connection fails at once, as on a machine without a route. Name lookups succeed, so
    ``connect`` is reached; returns the list of the socket timeouts of the attempts."""
    seen = []

    def refuse(self, address):
        seen.append(self.gettimeout())
        raise OSError(101, "Network is unreachable")

    def resolve(host, port, *args, **kwargs):
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("192.0.2.1", port))]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    return seen


@pytest.fixture
def chapter_env(tmp_path, monkeypatch, no_network):
    """A book chapter's cell as the offline tests run it: fast mode, a fresh cache in
    ``tmp_path``, not on Colab, matplotlib's Agg backend with no figure open before or after,
    and no network (yields ``no_network``'s record of the attempts)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    monkeypatch.setenv("SEGEDU_FAST", "1")
    monkeypatch.setenv("SEGEDU_CACHE", str(tmp_path))
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    plt.close("all")
    yield no_network
    plt.close("all")


@pytest.fixture
def online_lab(tmp_path, monkeypatch, no_network):
    """A lab's online cell as the offline tests run it: online and fast mode, the cache and the
    working directory in ``tmp_path`` (the test fills the cache or not), matplotlib's Agg
    backend, and no network (returns ``no_network``'s record of the attempts)."""
    monkeypatch.setenv("SEGEDU_ONLINE", "1")
    monkeypatch.setenv("SEGEDU_FAST", "1")
    monkeypatch.setenv("SEGEDU_CACHE", str(tmp_path))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.chdir(tmp_path)
    return no_network


@pytest.fixture
def interrupt_training(monkeypatch):
    """``interrupt_training(module, after=1)``: ``module.train_steps`` (a recipe's
    :func:`segedu.engine.train_steps`) raises ``KeyboardInterrupt`` once step ``after``'s
    ``after_step`` hook (where a recipe writes its resume file) has run; ``undo()`` restores it,
    so that the test can start the run again and watch it resume."""

    class Interruption:
        def __call__(self, module, after: int = 1) -> Interruption:
            self.module, self.real = module, module.train_steps

            def interrupted(*args, after_step, **kwargs):
                def stop(step, values):
                    after_step(step, values)
                    if step == after:
                        raise KeyboardInterrupt
                return self.real(*args, after_step=stop, **kwargs)

            monkeypatch.setattr(module, "train_steps", interrupted)
            return self

        def undo(self) -> None:
            monkeypatch.setattr(self.module, "train_steps", self.real)

    return Interruption()
