"""Real images with real annotations, read from packages that segedu installs; nothing copied.

- :func:`dsb2018_nuclei`: the fluorescence nuclei image of the 2018 Data Science Bowl and its
  hand-drawn instance labels, which the ``stardist`` package ships as example data.
- :func:`skimage_photograph`: a photograph (or microscope image) bundled with scikit-image,
  without labels, for the methods that need none (clustering, watershed, ViT features, SAM prompts).

Both give segedu's conventions: float32 images ``(C, H, W)`` in [0, 1], integer label images
``(H, W)`` int64 with 0 for the background. The data stay in the packages that ship them; a
package that is missing gives an :class:`ImportError` that names it and says how to install it.
"""

from __future__ import annotations

import importlib

import numpy as np
import torch

__all__ = ["dsb2018_nuclei", "skimage_photograph", "SKIMAGE_PHOTOGRAPHS"]

# scikit-image's images that ship inside its wheel (scikit-image >= 0.21), so that no download is
# ever needed: name -> what it shows
SKIMAGE_PHOTOGRAPHS = {
    "astronaut": "the astronaut Eileen Collins, NASA portrait (RGB, 512 x 512)",
    "camera": "a man with a camera, the classic test image (grey, 512 x 512)",
    "cell": "a cell in saline, quantitative phase microscopy (grey, 660 x 550)",
    "chelsea": "Chelsea the cat (RGB, 300 x 451)",
    "coffee": "a cup of coffee on a saucer (RGB, 400 x 600)",
    "coins": "Greek coins on a dark, unevenly lit background (grey, 303 x 384)",
    "immunohistochemistry": "a tissue section stained with hematoxylin and DAB (RGB, 512 x 512)",
    "moon": "the surface of the moon (grey, 512 x 512)",
    "rocket": "a Falcon 9 rocket on its launch pad (RGB, 427 x 640)",
}


def _require(module: str, package: str, purpose: str):
    """Import ``module``; if it (or one of its imports) is missing, say which package to install."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        missing = getattr(error, "name", None) or package
        raise ImportError(
            f"{purpose} needs the package {package!r}, which ships the data (missing module: "
            f"{missing!r}). Install it with `pip install {package}` (or `pip install "
            "'segedu[dev]'`)."
        ) from error


def _percentile_normalise(image: np.ndarray, low: float, high: float) -> np.ndarray:
    """Map the ``low`` and ``high`` percentiles to 0 and 1, clipped to [0, 1] (float32)."""
    lo, hi = np.percentile(image, [low, high])
    if hi <= lo:
        raise ValueError(f"percentiles {low} and {high} of the image are equal ({lo}); it cannot "
                         "be normalised")
    return np.clip((image.astype(np.float64) - lo) / (hi - lo), 0, 1).astype(np.float32)


def dsb2018_nuclei(
        *, percentiles: tuple[float, float] = (1.0, 99.8)) -> tuple[torch.Tensor, torch.Tensor]:
    """The 2018 Data Science Bowl nuclei image and its instance labels, as ``stardist`` ships them.

    Read with ``stardist.data.test_image_nuclei_2d(return_mask=True)``: a 512 x 512 fluorescence
    image of stained nuclei (one channel, 8-bit values stored as uint16) from the stage-1 data of
    the 2018 Data Science Bowl (Caicedo et al., "Nucleus segmentation across imaging experiments:
    the 2018 Data Science Bowl", Nature Methods 16, 2019; the data are the Broad Bioimage Benchmark
    Collection's BBBC038v1, where their terms of use are given), with one label per nucleus drawn
    by hand (the version that the StarDist authors use, Schmidt et al., MICCAI 2018). The
    ``stardist`` package (BSD-3-Clause) ships both files as example data; segedu never copies them.

    Args:
        percentiles: the ``(low, high)`` percentiles of the raw image mapped to 0 and 1 (clipped):
            ``(1, 99.8)`` as in StarDist's example notebooks (Cellpose's ``normalize99`` uses
            ``(1, 99)``).

    Returns:
        ``image``: float32 ``(1, 512, 512)`` in [0, 1]; ``instances``: int64 ``(512, 512)``, 0 for
        the background and ``1..N`` for the ``N`` nuclei (relabelled consecutively, in the order of
        the original labels).

    Raises:
        ImportError: ``stardist`` (or ``tifffile``, which reads the files) is not installed; the
            message names the package and how to install it.
    """
    if len(percentiles) != 2 or not 0 <= percentiles[0] < percentiles[1] <= 100:
        raise ValueError("percentiles must be (low, high) with 0 <= low < high <= 100, got "
                         f"{percentiles!r}")
    stardist_data = _require("stardist.data", "stardist", "segedu.data.dsb2018_nuclei")
    _require("tifffile", "tifffile", "segedu.data.dsb2018_nuclei")
    raw, labels = stardist_data.test_image_nuclei_2d(return_mask=True)
    image = _percentile_normalise(np.asarray(raw), *percentiles)
    # labels 1..N in the order of the original ids (the file's ids have gaps)
    ids = np.unique(labels)
    ids = ids[ids != 0]
    lookup = np.zeros(int(labels.max()) + 1, dtype=np.int64)
    lookup[ids] = np.arange(1, len(ids) + 1)
    instances = lookup[np.asarray(labels)]
    return torch.from_numpy(image)[None], torch.from_numpy(instances)


def skimage_photograph(name: str, *, size: int | tuple[int, int] | None = None) -> torch.Tensor:
    """One of scikit-image's bundled images (:data:`SKIMAGE_PHOTOGRAPHS`) as a float32 tensor.

    Args:
        name: ``"astronaut"``, ``"coffee"``, ``"chelsea"``, ... (the names of ``skimage.data``'s
            functions); only images that ship inside scikit-image are offered, so nothing
            is downloaded.
        size: ``(H, W)`` (or one side for a square) to resize to, with anti-aliasing; ``None``
            keeps the original size.

    Returns:
        ``(3, H, W)`` for a colour image, ``(1, H, W)`` for a grey one, in [0, 1].
    """
    if name not in SKIMAGE_PHOTOGRAPHS:
        raise ValueError(f"unknown scikit-image photograph {name!r}; choose one of: "
                         f"{', '.join(SKIMAGE_PHOTOGRAPHS)}")
    skimage_data = _require("skimage.data", "scikit-image", "segedu.data.skimage_photograph")
    array = np.asarray(getattr(skimage_data, name)())
    if array.dtype != np.uint8:
        raise ValueError(f"skimage.data.{name}() gave {array.dtype}; expected an 8-bit image")
    image = array.astype(np.float32) / 255.0
    if image.ndim == 2:
        image = image[..., None]
    image = image[..., :3]  # drop an alpha channel, if any
    if size is not None:
        from skimage.transform import resize

        shape = (size, size) if isinstance(size, int) else tuple(size)
        if len(shape) != 2 or min(shape) < 1:
            raise ValueError(f"size must be a positive int or (H, W), got {size!r}")
        image = resize(image, (*shape, image.shape[-1]), anti_aliasing=True, preserve_range=True)
        image = image.astype(np.float32)
    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).clamp(0, 1)
