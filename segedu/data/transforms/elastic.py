"""Elastic deformation, the augmentation of the U-Net paper (Ronneberger et al., 2015).

    "We generate smooth deformations using random displacement vectors on a coarse 3 by 3 grid.
    The displacements are sampled from a Gaussian distribution with 10 pixels standard
    deviation. Per-pixel displacements are then computed using bicubic interpolation."

Three steps, one function each:

1. :func:`sample_coarse_displacement`: a ``(grid, grid, 2)`` lattice of vectors ``~ N(0, sigma^2)``.
2. :func:`upsample_displacement`: bicubic interpolation to one vector per pixel, ``(H, W, 2)``.
3. :func:`elastic_warp`: move the pixels. The SAME field moves the image (bilinear
   interpolation) and every mask (nearest neighbour, so labels are never blended).

Convention: a displacement field ``d`` of shape ``(H, W, 2)`` holds ``(dx, dy)`` in pixels and is a
*backward* map: the output pixel ``(y, x)`` takes the input value at ``(y + dy, x + dx)``.
Sampling positions are clamped to the image, so pixels at the border are repeated rather than
brought in from outside: no fill value is ever needed (the U-Net paper mirrors the border for the
same reason), and ``semantic`` never receives a made-up class.

torchvision has the same warp, :func:`torchvision.transforms.v2.functional.elastic`, with the
displacement in *normalised* coordinates (the image spans ``[-1, 1]``, so one pixel is ``2 / W``
in x and ``2 / H`` in y); :func:`to_torchvision_displacement` converts, and the tests check
that both warps agree.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as nnf
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

from ._structure import canvas_size

__all__ = [
    "sample_coarse_displacement",
    "upsample_displacement",
    "clamp_displacement",
    "to_torchvision_displacement",
    "elastic_warp",
    "ElasticDeformation",
]


def sample_coarse_displacement(
    *, grid: int, sigma: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Random displacement vectors on a ``grid x grid`` lattice -> ``(grid, grid, 2)`` float32.

    Each of the ``2 * grid**2`` components (dx and dy, in pixels) is drawn independently from
    ``N(0, sigma^2)``. Uses the global torch RNG unless a ``generator`` is given.
    """
    if not isinstance(grid, int) or grid < 2:
        raise ValueError(
            f"grid must be an int >= 2 (a lattice needs two points a side), got {grid!r}"
        )
    if sigma < 0:
        raise ValueError(f"sigma must be >= 0 pixels, got {sigma!r}")
    return torch.randn(grid, grid, 2, generator=generator) * sigma


def upsample_displacement(coarse: torch.Tensor, *, size: tuple[int, int]) -> torch.Tensor:
    """Bicubic interpolation of a ``(g, g, 2)`` lattice to a per-pixel field ``(H, W, 2)``.

    The lattice spans the whole image: its corner points sit on the centres of the corner pixels
    (``align_corners=True``), so the field equals the lattice vectors exactly at the lattice points
    ``y = i * (H - 1) / (g - 1)``, ``x = j * (W - 1) / (g - 1)``.
    """
    if coarse.ndim != 3 or coarse.shape[-1] != 2:
        raise ValueError(f"coarse must have shape (g, g, 2), got {tuple(coarse.shape)}")
    height, width = size
    # interpolate works channels-first: (g, g, 2) -> (1, 2, g, g)
    channels_first = coarse.permute(2, 0, 1).unsqueeze(0).float()
    dense = nnf.interpolate(
        channels_first, size=(height, width), mode="bicubic", align_corners=True
    )
    # back to (H, W, 2)
    return dense[0].permute(1, 2, 0).contiguous()


def clamp_displacement(displacement: torch.Tensor) -> torch.Tensor:
    """Shorten the vectors of a field ``(H, W, 2)`` so that every sampling position
    ``(x + dx, y + dy)`` lies inside the image (between the centres of its border pixels)."""
    height, width = displacement.shape[:2]
    ys, xs = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    # sampling positions in pixels, clamped to the image
    src_x = (xs + displacement[..., 0]).clamp(0, width - 1)
    src_y = (ys + displacement[..., 1]).clamp(0, height - 1)
    # back to displacements
    return torch.stack([src_x - xs, src_y - ys], dim=-1)


def to_torchvision_displacement(displacement: torch.Tensor) -> torch.Tensor:
    """Pixel field ``(H, W, 2)`` -> the ``(1, H, W, 2)`` normalised field that
    :func:`torchvision.transforms.v2.functional.elastic` takes.

    torchvision adds the field to an identity grid that maps the image onto ``[-1, 1]``
    (``grid_sample`` with ``align_corners=False``): the image is ``W`` pixels wide and 2 units wide,
    so ``dx`` pixels are ``2 * dx / W`` units (and ``dy`` pixels ``2 * dy / H``).
    """
    height, width = displacement.shape[:2]
    scale = torch.tensor([2.0 / width, 2.0 / height], dtype=displacement.dtype)
    return (displacement * scale).unsqueeze(0)


def elastic_warp(
    inpt: torch.Tensor, displacement: torch.Tensor, *, interpolation: str = "bilinear"
) -> torch.Tensor:
    """Warp ``inpt`` ``(..., H, W)`` with the pixel field ``displacement`` ``(H, W, 2)``.

    ``output[..., y, x] = inpt[..., y + dy, x + dx]`` with the position clamped to the image.
    ``interpolation="bilinear"`` blends the four nearest pixels (images); ``"nearest"`` copies
    the nearest pixel, keeping labels and dtype intact (masks of any dtype, bool included).
    """
    if displacement.ndim != 3 or displacement.shape[-1] != 2:
        raise ValueError(f"displacement must have shape (H, W, 2), got {tuple(displacement.shape)}")
    if inpt.ndim < 2 or tuple(inpt.shape[-2:]) != tuple(displacement.shape[:2]):
        raise ValueError(
            f"inpt must have shape (..., H, W) with (H, W) = {tuple(displacement.shape[:2])} "
            f"of the displacement, got {tuple(inpt.shape)}"
        )
    height, width = displacement.shape[:2]
    # 1. where each output pixel samples the input, in pixels, kept inside the image
    displacement = clamp_displacement(displacement.to(torch.float32))
    ys, xs = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    src_x = xs + displacement[..., 0]
    src_y = ys + displacement[..., 1]

    if interpolation == "nearest":
        # 2a. nearest: round to the closest pixel centre and gather (exact for any dtype)
        index_x = src_x.round().long()
        index_y = src_y.round().long()
        return inpt[..., index_y, index_x]
    if interpolation != "bilinear":
        raise ValueError(f"interpolation must be 'bilinear' or 'nearest', got {interpolation!r}")

    # 2b. bilinear: grid_sample wants positions in [-1, 1], pixel centres at (2 x + 1) / W - 1
    grid = torch.stack([(2 * src_x + 1) / width - 1, (2 * src_y + 1) / height - 1], dim=-1)
    # grid_sample takes a batch (N, C, H, W): fold all leading dims into the channels
    leading = inpt.shape[:-2]
    as_float = inpt.reshape(1, -1, height, width).to(torch.float32)
    warped = nnf.grid_sample(as_float, grid.unsqueeze(0), mode="bilinear", align_corners=False)
    warped = warped.reshape(*leading, height, width)
    # 3. back to the input dtype (integer images are rounded)
    if inpt.is_floating_point():
        return warped.to(inpt.dtype)
    return warped.round().to(inpt.dtype)


class ElasticDeformation(v2.Transform):
    """U-Net elastic deformation as a ``transforms.v2`` transform.

    Draws one random field per call (global torch RNG, so ``torch.manual_seed`` makes it
    reproducible) and applies it to every ``tv_tensors.Image`` (bilinear) and every
    ``tv_tensors.Mask`` (nearest: ``semantic``, ``masks``, ``panoptic``, ``instances``).

    Boxes: a box cannot be warped exactly (its new extent depends on the object's shape, which
    only the mask knows). ``BoundingBoxes`` are moved by torchvision's approximation (the corners
    moved by the inverse field ``-d``), which is loose; when the sample has masks, follow this
    transform with :class:`~segedu.data.transforms.BoxesFromMasks` to get the tight boxes, as
    :func:`~segedu.data.transforms.train_transforms` does.

    Args:
        grid: points per side of the coarse lattice (U-Net: 3).
        sigma: standard deviation of each displacement component, in pixels (U-Net: 10).
        p: probability of deforming a sample at all.
    """

    def __init__(self, *, grid: int = 3, sigma: float = 10.0, p: float = 1.0) -> None:
        super().__init__()
        if not isinstance(grid, int) or grid < 2:
            raise ValueError(f"grid must be an int >= 2, got {grid!r}")
        if not sigma >= 0:
            raise ValueError(f"sigma must be >= 0 pixels, got {sigma!r}")
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p must be a probability in [0, 1], got {p!r}")
        self.grid = grid
        self.sigma = float(sigma)
        self.p = float(p)

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        """Draw the field for this sample: ``displacement`` ``(H, W, 2)`` in pixels."""
        height, width = canvas_size(flat_inputs)
        # 1. decide whether to deform this sample at all
        if torch.rand(()) >= self.p:
            return {"displacement": None}
        # 2. random vectors on the coarse lattice, 3. bicubic upsampling to every pixel
        coarse = sample_coarse_displacement(grid=self.grid, sigma=self.sigma)
        displacement = upsample_displacement(coarse, size=(height, width))
        return {"coarse": coarse, "displacement": clamp_displacement(displacement)}

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        """Apply the field drawn by :meth:`make_params` to one tensor of the sample."""
        displacement = params["displacement"]
        if displacement is None:
            return inpt
        if isinstance(inpt, tv_tensors.Mask):
            # labels are copied from the nearest pixel, never blended
            return tv_tensors.wrap(
                elastic_warp(inpt, displacement, interpolation="nearest"), like=inpt
            )
        if isinstance(inpt, tv_tensors.Image | tv_tensors.Video):
            return tv_tensors.wrap(
                elastic_warp(inpt, displacement, interpolation="bilinear"), like=inpt
            )
        if isinstance(inpt, tv_tensors.TVTensor):
            # boxes (and keypoints): torchvision's approximate inverse mapping
            return self._call_kernel(F.elastic, inpt, to_torchvision_displacement(displacement))
        if isinstance(inpt, torch.Tensor):
            # a plain tensor that transforms.v2 treats as the image (no tv_tensors.Image in
            # the sample)
            return elastic_warp(inpt, displacement, interpolation="bilinear")
        raise TypeError(
            f"ElasticDeformation takes tensors and tv_tensors, got {type(inpt).__name__}; "
            "convert PIL images with torchvision.transforms.v2.functional.to_image first"
        )
