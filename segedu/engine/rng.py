"""Capture and restore every random number generator that training touches.

Dropout masks, random augmentations and shuffling all draw from global generators: Python's
``random``, NumPy's legacy ``np.random`` and PyTorch's CPU and CUDA generators. A checkpoint
stores their states so that a resumed run draws exactly the numbers the uninterrupted run
would have drawn.

The states are stored as plain Python values and tensors only, so that checkpoints load with
``torch.load(..., weights_only=True)``, which cannot run code hidden in a malicious file.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch

__all__ = ["get_rng_state", "set_rng_state", "preserved_rng"]


def get_rng_state() -> dict[str, Any]:
    """The states of Python's, NumPy's, PyTorch's CPU, current CUDA and Apple MPS generators."""
    kind, key, pos, has_gauss, gauss = np.random.get_state(legacy=True)
    return {
        "python": random.getstate(),
        # NumPy's Mersenne Twister: 624 uint32 words, stored as an int64 tensor
        "numpy": {
            "kind": kind,
            "key": torch.from_numpy(key.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "gauss": float(gauss),
        },
        "torch": torch.get_rng_state(),
        # the current GPU's generator (each DDP process owns one GPU); None when CUDA is unused
        "cuda": torch.cuda.get_rng_state() if _cuda_in_use() else None,
        # Apple GPUs have a generator of their own
        "mps": torch.mps.get_rng_state() if _mps_available() else None,
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore generator states captured by :func:`get_rng_state`."""
    random.setstate(_as_python_state(state["python"]))
    np_state = state["numpy"]
    np.random.set_state(
        (
            np_state["kind"],
            # (a checkpoint loaded onto the GPU holds it there)
            np_state["key"].cpu().numpy().astype(np.uint32),
            np_state["pos"],
            np_state["has_gauss"],
            np_state["gauss"],
        )
    )
    torch.set_rng_state(state["torch"].cpu())
    if state["cuda"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"].cpu())
    if state.get("mps") is not None and _mps_available():
        torch.mps.set_rng_state(state["mps"].cpu())


@contextmanager
def preserved_rng() -> Iterator[None]:
    """Run a block without disturbing the random streams of the code around it.

    Training wraps validation in this block: validating (which may shuffle or augment) then
    never changes the weights that training produces.
    """
    state = get_rng_state()
    try:
        yield
    finally:
        set_rng_state(state)


def _cuda_in_use() -> bool:
    """True once this process has used CUDA (asking earlier would start CUDA for nothing)."""
    return torch.cuda.is_available() and torch.cuda.is_initialized()


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return mps is not None and mps.is_available()


def _as_python_state(value: Any) -> tuple:
    """``random.setstate`` needs tuples; a checkpoint may hand lists back."""
    version, internal, gauss_next = value
    return (version, tuple(internal), gauss_next)
