"""Reading the files of real datasets, with errors that name the file at fault.

Every loader reads its photographs with :func:`read_image` and its label images with
:func:`read_label_image`, so that a missing or damaged file always produces the same kind of
message: which file, who refers to it, and what to do.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torchvision import tv_tensors

from segedu.config import cache_dir
from segedu.data.sample import SampleError

__all__ = [
    "DatasetNotFoundError",
    "MissingFileError",
    "CorruptFileError",
    "default_root",
    "read_image",
    "read_label_image",
    "check_same_size",
    "resolve_root",
    "IGNORE_INDEX",
]

IGNORE_INDEX = 255
"""Label of pixels that losses and metrics skip (void, borders, unlabelled)."""


class DatasetNotFoundError(FileNotFoundError):
    """The dataset folder is missing or incomplete; the message says how to get the data."""


class MissingFileError(FileNotFoundError):
    """A file that an index or annotation refers to does not exist."""


class CorruptFileError(OSError):
    """A file exists but cannot be decoded (truncated download, wrong format)."""


def default_root(name: str) -> Path:
    """Default folder of a dataset: ``$SEGEDU_CACHE/<name>`` (``~/.cache/segedu/<name>``)."""
    return cache_dir() / name


def resolve_root(root: str | os.PathLike[str] | None, name: str) -> Path:
    """``root`` as a ``Path`` (``~`` expanded), or the default folder when ``root`` is None."""
    return default_root(name) if root is None else Path(root).expanduser()


def _referenced(referenced_by: str | None) -> str:
    return f" (referenced by {referenced_by})" if referenced_by else ""


def _open(path: Path, referenced_by: str | None) -> Image.Image:
    """Open and fully decode an image file; raise MissingFileError / CorruptFileError naming it."""
    if not path.is_file():
        raise MissingFileError(f"{path} does not exist{_referenced(referenced_by)}")
    try:
        image = Image.open(path)
        image.load()  # decode now: a truncated file fails here, not later in a worker
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise CorruptFileError(
            f"cannot read {path}{_referenced(referenced_by)}: {error}. The file is damaged or not "
            f"an image; replace it with an intact copy (download it again)."
        ) from error
    return image


def read_image(path: str | os.PathLike[str], *,
               referenced_by: str | None = None) -> tv_tensors.Image:
    """Read a photograph as a ``tv_tensors.Image`` float32 ``(3, H, W)`` in ``[0, 1]``.

    Grey-scale, palette and CMYK files (COCO has a few) are converted to RGB.
    """
    with _open(Path(path), referenced_by) as image:
        rgb = np.asarray(image.convert("RGB"))  # (H, W, 3) uint8
    tensor = torch.from_numpy(rgb.copy()).permute(2, 0, 1).float().div_(255.0)  # (3, H, W)
    return tv_tensors.Image(tensor)


def read_label_image(
    path: str | os.PathLike[str],
    *,
    modes: tuple[str, ...],
    referenced_by: str | None = None,
) -> np.ndarray:
    """Read a label image (class or instance ids stored as pixel values) without any conversion.

    Args:
        path: a PNG of labels.
        modes: the PIL modes this dataset stores its labels in, e.g. ``("P", "L")`` for palette or
            8-bit grey PNGs of class indices; anything else (say, a colour rendering saved by
            mistake) raises :class:`CorruptFileError` naming the file.
        referenced_by: quoted in error messages.

    Returns:
        ``(H, W)`` array for single-channel modes, ``(H, W, 3)`` for ``"RGB"``.
    """
    path = Path(path)
    with _open(path, referenced_by) as image:
        if image.mode not in modes:
            raise CorruptFileError(
                f"{path}{_referenced(referenced_by)} is a {image.mode!r} image, but this dataset "
                f"stores its labels as {' or '.join(repr(m) for m in modes)} PNGs"
            )
        return np.array(image)


def check_same_size(image: torch.Tensor, label: np.ndarray, *, image_path: Path,
                    label_path: Path) -> None:
    """Raise :class:`~segedu.data.sample.SampleError` when a label image does not have the
    photograph's size."""
    if tuple(label.shape[:2]) != tuple(image.shape[-2:]):
        raise SampleError(
            f"{label_path} is {label.shape[1]}x{label.shape[0]} pixels but its image {image_path} "
            f"is {image.shape[-1]}x{image.shape[-2]}: they must have the same size"
        )
