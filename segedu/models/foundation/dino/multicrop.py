"""DINO's multi-crop augmentation: 2 global and ``n_local`` local views of one image.

Caron et al., ICCV 2021, Sec. 3.1 and App. (after SwAV's multi-crop, Caron et al. 2020); DINO's
``DataAugmentationDINO`` in ``main_dino.py``. Each view is a random resized crop followed by the
BYOL colour augmentations:

- *global* views: ``RandomResizedCrop(global_size, scale=(0.4, 1))`` (bicubic), horizontal flip,
  colour jitter (brightness 0.4, contrast 0.4, saturation 0.2, hue 0.1) with probability 0.8,
  grey with probability 0.2; then Gaussian blur always (view 1), or blur with probability 0.1 and
  solarisation with probability 0.2 (view 2);
- *local* views: ``RandomResizedCrop(local_size, scale=(0.05, 0.4))``, the same flip and colour
  changes, blur with probability 0.5;
- finally normalisation with the ImageNet mean and standard deviation.

The student must map a small local view to what the teacher says about a whole global view: it
learns "local-to-global" correspondences. DINO's sizes are 224 and 96 pixels; here they are
arguments, e.g. ``global_size=64, local_size=32`` for 64-128 px synthetic scenes (multiples of the
ViT's patch). Differences from DINO: torchvision ``transforms.v2`` instead of PIL (the blur is
``v2.GaussianBlur`` with sigma drawn in ``blur_sigma`` and a kernel covering +-3 sigma, where DINO
calls PIL's ``GaussianBlur(radius=sigma)``; solarisation of float images at 0.5 instead of 128/255);
``colour=False`` keeps only the crops and flips, which makes the views easy to look at;
``jitter``, ``grey_p`` and ``solarize_p`` change the colour augmentation's strength (DINO's by
default). Scale the blur's sigma with the image size: DINO's ``(0.1, 2.0)`` is for 224 pixels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torchvision.transforms import v2

from ....data.statistics import IMAGENET_MEAN, IMAGENET_STD

__all__ = ["MultiCropAugmentation", "collate_crops"]


class MultiCropAugmentation:
    """An image -> ``2 + n_local`` views: 2 ``(3, global_size, global_size)`` then ``n_local``
    ``(3, local_size, local_size)`` float32 tensors.

    Args:
        global_size: side of the global views (224 in DINO).
        local_size: side of the local views (96 in DINO).
        n_local: number of local views (8, DINO's default ``local_crops_number``).
        global_scale: range of the crop's area, as a fraction of the image, for global views.
        local_scale: the same for local views.
        blur_sigma: range of the Gaussian blur's standard deviation, in pixels of the view.
        colour: apply colour jitter, grey, blur and solarisation (DINO); ``False``: crops and
            flips only.
        jitter: ``(brightness, contrast, saturation, hue)`` of the colour jitter (DINO's
            ``(0.4, 0.4, 0.2, 0.1)``).
        grey_p: probability of turning a view grey (DINO's 0.2).
        solarize_p: probability of solarising the second global view (DINO's 0.2).
        normalize: normalise with :data:`IMAGENET_MEAN` and :data:`IMAGENET_STD`
            (else stay in [0, 1]).

    The image is a PIL image or a tensor ``(3, H, W)`` (float in [0, 1], or uint8).
    """

    def __init__(
        self,
        *,
        global_size: int = 224,
        local_size: int = 96,
        n_local: int = 8,
        global_scale: tuple[float, float] = (0.4, 1.0),
        local_scale: tuple[float, float] = (0.05, 0.4),
        blur_sigma: tuple[float, float] = (0.1, 2.0),
        colour: bool = True,
        jitter: tuple[float, float, float, float] = (0.4, 0.4, 0.2, 0.1),
        grey_p: float = 0.2,
        solarize_p: float = 0.2,
        normalize: bool = True,
    ) -> None:
        if global_size < 1 or local_size < 1 or n_local < 0:
            raise ValueError(
                f"need positive sizes and n_local >= 0, got global_size={global_size}, "
                f"local_size={local_size}, n_local={n_local}"
            )
        for name, scale in (("global_scale", global_scale), ("local_scale", local_scale)):
            if not 0 < scale[0] <= scale[1] <= 1:
                raise ValueError(f"{name} must be (low, high) with 0 < low <= high <= 1, got "
                                 f"{scale}")
        if len(jitter) != 4 or min(jitter) < 0 or not 0 <= grey_p <= 1 or not 0 <= solarize_p <= 1:
            raise ValueError("need 4 non-negative jitter strengths and probabilities in [0, 1], "
                             f"got jitter={jitter}, grey_p={grey_p}, solarize_p={solarize_p}")
        self.n_local = n_local
        self.global_size = global_size
        to_float = v2.Compose([v2.ToImage(), v2.ToDtype(torch.float32, scale=True)])
        flip = v2.RandomHorizontalFlip(p=0.5)
        if colour:
            flip_and_colour = v2.Compose([
                flip,
                v2.RandomApply([v2.ColorJitter(*jitter)], p=0.8),
                v2.RandomGrayscale(p=grey_p),
            ])
        else:
            flip_and_colour = flip
        final = v2.Normalize(mean=IMAGENET_MEAN, std=IMAGENET_STD) if normalize else v2.Identity()

        def crop(size: int, scale: tuple[float, float]) -> v2.Transform:
            return v2.RandomResizedCrop(size, scale=scale,
                                        interpolation=v2.InterpolationMode.BICUBIC, antialias=True)

        def blur(size: int, p: float) -> v2.Transform:
            if not colour or p == 0:
                return v2.Identity()
            kernel = 2 * math.ceil(3 * blur_sigma[1]) + 1  # covers +-3 sigma
            kernel = min(kernel, size if size % 2 else size - 1)  # odd, at most the view's size
            return v2.RandomApply([v2.GaussianBlur(kernel_size=max(kernel, 1), sigma=blur_sigma)],
                                  p=p)

        solarize = v2.RandomSolarize(threshold=0.5, p=solarize_p) if colour else v2.Identity()
        # view 1: always blurred; view 2: rarely blurred, sometimes solarised; local views: blur
        # half the time
        self.global_1 = v2.Compose([to_float, crop(global_size, global_scale), flip_and_colour,
                                    blur(global_size, 1.0), final])
        self.global_2 = v2.Compose([to_float, crop(global_size, global_scale), flip_and_colour,
                                    blur(global_size, 0.1), solarize, final])
        self.local = v2.Compose([to_float, crop(local_size, local_scale), flip_and_colour,
                                 blur(local_size, 0.5), final])

    def __call__(self, image: Any) -> list[torch.Tensor]:
        if isinstance(image, torch.Tensor):
            if image.ndim != 3 or image.shape[0] != 3:
                raise ValueError("the image must be an RGB tensor (3, H, W), got shape "
                                 f"{tuple(image.shape)}")
            if not (image.is_floating_point() or image.dtype == torch.uint8):
                raise TypeError("the image must be float in [0, 1] or uint8, got dtype "
                                f"{image.dtype}")
        views = [self.global_1(image), self.global_2(image)]
        views += [self.local(image) for _ in range(self.n_local)]
        # plain tensors rather than tv_tensors.Image
        return [view.as_subclass(torch.Tensor) for view in views]


def collate_crops(batch: Sequence[Any]) -> list[torch.Tensor]:
    """A batch of view lists (or of ``(views, target)`` pairs) -> one ``(B, 3, S, S)`` tensor
    per view."""
    if not len(batch):
        raise ValueError("cannot collate an empty batch")
    views = [item[0] if isinstance(item, tuple) else item for item in batch]
    n = len(views[0])
    if any(len(v) != n for v in views):
        raise ValueError("every item of the batch must have the same number of views")
    return [torch.stack([v[i] for v in views]) for i in range(n)]
