"""Checkpoint files that survive crashes: atomic writes and clear errors on reading.

A Colab session can disconnect at any moment, also in the middle of writing a checkpoint. Writing
straight into ``last.pt`` would then leave half a file and lose the previous good checkpoint. So
:func:`save_checkpoint` writes a temporary file *in the same folder*, forces it to disk, and only
then renames it over the old file with ``os.replace``. A rename within one file system is atomic:
the folder holds either the old checkpoint or the new one, never a mixture.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import torch

__all__ = ["save_checkpoint", "load_checkpoint", "save_atomically", "copy_atomically",
           "CheckpointError", "CHECKPOINT_FORMAT"]

CHECKPOINT_FORMAT = "segedu-checkpoint"
CHECKPOINT_VERSION = 1


class CheckpointError(RuntimeError):
    """A checkpoint file cannot be used: truncated, corrupt, foreign or from a different run."""


def save_checkpoint(state: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write ``state`` (a dict of tensors, numbers, strings, lists, dicts) to ``path`` atomically.

    Returns the path written. If anything fails, including an interruption, the file previously
    at ``path`` is left untouched and no temporary file stays behind.
    """
    if not isinstance(state, dict):
        raise TypeError(f"state must be a dict, got {type(state).__name__}")
    return save_atomically({"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, **state},
                           path)


def save_atomically(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save(obj, path)``, atomically: the folder holds the previous file or the new one,
    never half of one (the module docstring; the folder is created). Returns the path: for a
    checkpoint of a run (:func:`save_checkpoint`) and the zoo's shipped weights alike."""
    return _write_atomically(path, lambda file: torch.save(obj, file))


def copy_atomically(source: str | os.PathLike, path: str | os.PathLike) -> Path:
    """Copy the file ``source`` to ``path`` atomically (as :func:`save_atomically` writes): a
    run's weights shipped into the package. Returns the path."""
    with open(source, "rb") as original:
        return _write_atomically(path, lambda file: shutil.copyfileobj(original, file))


def _write_atomically(path: str | os.PathLike, write: Callable[[BinaryIO], object]) -> Path:
    """``write(file)`` into a temporary file beside ``path``, then the switch (module docstring)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # 1. a temporary file next to the target, so that the final rename stays on one file system
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            write(file)
            # 2. push the bytes to the disk before the rename makes them "the" file
            file.flush()
            os.fsync(file.fileno())
        # 3. the atomic switch from the old file to the new one
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    _sync_folder(path.parent)
    return path


def load_checkpoint(path: str | os.PathLike, *, map_location: Any = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` (for instance by ``fit``).

    Raises ``FileNotFoundError`` when ``path`` does not exist and :class:`CheckpointError` when
    the file is not a complete segedu checkpoint. Loading uses ``weights_only=True``: a file
    cannot run code while it is read.

    >>> state = load_checkpoint("runs/unet/last.pt")          # doctest: +SKIP
    >>> model.load_state_dict(state["model"])                   # doctest: +SKIP
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:
        raise CheckpointError(
            f"cannot read the checkpoint {path}: the file is truncated or corrupt "
            f"({type(error).__name__}: {_first_line(error)}). "
            "Delete it (or pass resume=False) to start training afresh."
        ) from error
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path} is a PyTorch file but not a segedu checkpoint")
    if state.get("version", 0) > CHECKPOINT_VERSION:
        raise CheckpointError(
            f"{path} was written by a newer segedu (format version {state['version']}); "
            "upgrade segedu to read it"
        )
    return state


def _sync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX); harmless where folders cannot be opened."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else "no details"
