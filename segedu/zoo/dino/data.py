"""The data of the zoo's DINO: the views it trains on and the patch classes it is scored on.

:func:`dino_augmentation` makes DINO's views of a 128 px scene (the recipe's choices are in
:mod:`segedu.zoo.dino`'s docstring); :func:`patch_classes` gives each patch of a class map its
most frequent class, the target of the held-out scores.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ...data import SyntheticScenes
from ...models.foundation.dino import MultiCropAugmentation

__all__ = ["dino_augmentation", "patch_classes", "NUM_CLASSES", "THING", "TEST_LENGTH",
           "PROBE_SCENES"]

NUM_CLASSES = len(SyntheticScenes.classes)
TEST_LENGTH, PROBE_SCENES = 100, 100
# the first thing class: in the "regions" scores circles, rectangles and triangles are one class
THING = 3


def dino_augmentation(*, n_local: int = 0) -> MultiCropAugmentation:
    """The views for 128 px scenes: 2 global views ``(3, 64, 64)`` (then ``n_local`` views ``(3, 32,
    32)``, which the zoo recipe does not use), normalised with the ImageNet statistics. Colour
    jitter of brightness, contrast and saturation only: no hue, greying or solarisation (module
    docstring)."""
    return MultiCropAugmentation(global_size=64, local_size=32, n_local=n_local,
                                 global_scale=(0.2, 0.6),
                                 local_scale=(0.04, 0.2), blur_sigma=(0.1, 0.6),
                                 jitter=(0.4, 0.4, 0.2, 0.0),
                                 grey_p=0.0, solarize_p=0.0)


def patch_classes(semantic: torch.Tensor, patch: int) -> torch.Tensor:
    """Class map ``(B, H, W)`` int64 -> each patch's most frequent class ``(B, H / p, W / p)``
    (ties: the lower id)."""
    if semantic.ndim != 3 or semantic.dtype != torch.int64:
        raise ValueError(f"semantic must be an int64 (B, H, W) class map, "
                         f"got {semantic.dtype} {tuple(semantic.shape)}")
    if semantic.shape[-1] % patch or semantic.shape[-2] % patch:
        raise ValueError(f"the map's size {tuple(semantic.shape[-2:])} is not a multiple of "
                         f"the patch {patch}")
    # fraction of each class in each patch: (B, C, h, w), then the largest
    one_hot = F.one_hot(semantic, NUM_CLASSES).permute(0, 3, 1, 2).double()
    return F.avg_pool2d(one_hot, patch).argmax(dim=1)
