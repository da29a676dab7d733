"""Run-time configuration shared by the library, the labs and the book.

Everything that differs between a quick run (CI, tests, a laptop CPU) and a full run
(Colab GPU) is read here, so that notebooks never test environment variables themselves.

- ``SEGEDU_FAST=1``: fast mode. Notebooks and examples shrink data sizes and epochs with
  :func:`fast` / :func:`pick` so that each runs in well under a minute on two CPU cores.
- ``SEGEDU_ONLINE``: online mode (:func:`online`). ``1`` lets notebooks download real datasets
  (through torchvision's own dataset classes) and official checkpoints; ``0`` forbids it, even on
  Colab; unset, it is on exactly on Colab. Offline (the default everywhere else: CI, the tests,
  the book built without internet) nothing is downloaded.
- ``SEGEDU_CACHE``: folder for downloaded datasets and checkpoints (default ``~/.cache/segedu``).
"""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch

__all__ = [
    "fast", "pick", "online", "on_colab", "announce", "device", "seed_everything", "cache_dir"
]

T = TypeVar("T")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


def fast() -> bool:
    """Return True when fast mode is on (``SEGEDU_FAST`` is ``1``/``true``/``yes``/``on``).

    Read on every call, so a notebook may set ``os.environ["SEGEDU_FAST"]`` at its top.
    An unrecognised value raises ``ValueError`` instead of being silently taken as off.
    """
    value = os.environ.get("SEGEDU_FAST", "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(
        f"SEGEDU_FAST={os.environ['SEGEDU_FAST']!r} is not understood; use 1 (fast) or 0 (full)"
    )


def on_colab() -> bool:
    """True inside Google Colab, detected as the notebooks' install cell does it (the kernel has
    imported ``google.colab``)."""
    return "google.colab" in sys.modules


def online() -> bool:
    """Return True when notebooks may download real datasets and official weights.

    ``SEGEDU_ONLINE`` = ``1``/``true``/``yes``/``on`` turns it on, ``0``/``false``/``no``/``off``
    turns it off; unset (or empty) it is on exactly on Colab (:func:`on_colab`). Read on every call.
    An unrecognised value raises ``ValueError`` instead of being silently taken as off.
    """
    value = os.environ.get("SEGEDU_ONLINE", "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE - {""}:
        return False
    if value == "":
        return on_colab()
    raise ValueError(
        f"SEGEDU_ONLINE={os.environ['SEGEDU_ONLINE']!r} is not understood; "
        "use 1 (download real data and official weights) or 0 (offline)"
    )


def announce(*, data: str, weights: str) -> str:
    """Print, and return, the one line that says which data and weights a notebook uses.

    Every chapter and lab that trains or loads weights calls it, so that a reader of its output
    always knows, e.g. ``announce(data="synthetic scenes (64 px)", weights="random init")`` prints
    ``Data: synthetic scenes (64 px) | weights: random init | online mode: off (...)``.
    """
    for name, text in (("data", data), ("weights", weights)):
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"announce: {name} must name what the notebook uses, got {text!r}")
    if online():
        mode = "on (real data and official weights may be downloaded)"
    else:
        mode = "off (nothing is downloaded; set SEGEDU_ONLINE=1 or run on Colab for real data)"
    line = f"Data: {data.strip()} | weights: {weights.strip()} | online mode: {mode}"
    print(line)
    return line


def pick(full: T, fast_value: T) -> T:
    """Return ``fast_value`` in fast mode and ``full`` otherwise.

    >>> epochs = pick(full=20, fast_value=1)
    """
    return fast_value if fast() else full


def device() -> torch.device:
    """The best available device: CUDA, then Apple MPS, then CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and PyTorch's (CPU and every GPU) random generators."""
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)


def cache_dir() -> Path:
    """The cache folder (``$SEGEDU_CACHE`` or ``~/.cache/segedu``); created when missing."""
    root = os.environ.get("SEGEDU_CACHE")
    path = Path(root).expanduser() if root else Path.home() / ".cache" / "segedu"
    path.mkdir(parents=True, exist_ok=True)
    return path
