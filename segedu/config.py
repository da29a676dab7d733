"""Run-time configuration shared by the library, the labs and the book.

Everything that differs between a quick run (CI, tests, a laptop CPU) and a full run
(Colab GPU) is read here, so that notebooks never test environment variables themselves.

- ``SEGEDU_FAST=1``: fast mode. Notebooks and examples shrink data sizes and epochs with
  :func:`fast` / :func:`pick` so that each runs in well under a minute on two CPU cores.
- ``SEGEDU_CACHE``: folder for downloaded datasets and checkpoints (default ``~/.cache/segedu``).
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch

__all__ = ["fast", "pick", "device", "seed_everything", "cache_dir"]

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
