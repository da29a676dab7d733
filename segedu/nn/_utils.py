"""Argument checks shared by the modules of :mod:`segedu.nn` (private to the package)."""

from __future__ import annotations

__all__ = ["int_pair"]


def int_pair(value, name: str) -> tuple[int, int]:
    """``value`` as ``(height, width)``: an int gives a square, a pair of ints passes; anything
    else raises ``TypeError`` naming the argument ``name``."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value, value
    if isinstance(value, tuple | list) and len(value) == 2 and all(isinstance(v, int)
                                                                   for v in value):
        return int(value[0]), int(value[1])
    raise TypeError(f"{name} must be an int or a pair of ints, got {value!r}")
