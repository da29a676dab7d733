"""Joint transforms: the image and every part of its target move together.

Built on torchvision ``transforms.v2``: a transform draws its random parameters once per call
and applies them to every ``tv_tensors`` entry of the sample, each in its own way (an image is
interpolated bilinearly, a mask by nearest neighbour, boxes by their corners). segedu adds:

- :class:`ElasticDeformation`: the U-Net paper's elastic augmentation (``elastic.py``);
- :class:`BoxesFromMasks`, :class:`SanitizeBoxes`: keep boxes tight and instances non-empty
  (``boxes.py``);
- :class:`IgnoreOutside`: ``semantic`` pixels from outside the image become ``ignore_index``
  (``fill.py``);
- :class:`ValidateSample`: refuse a malformed sample at the door (``validate.py``);
- :func:`train_transforms`, :func:`eval_transforms`: the pipelines (``pipelines.py``).
"""

from .boxes import INSTANCE_KEYS, BoxesFromMasks, SanitizeBoxes
from .elastic import (
    ElasticDeformation,
    clamp_displacement,
    elastic_warp,
    sample_coarse_displacement,
    to_torchvision_displacement,
    upsample_displacement,
)
from .fill import IgnoreOutside
from .pipelines import eval_transforms, train_transforms
from .validate import ValidateSample

__all__ = [
    "ElasticDeformation",
    "BoxesFromMasks",
    "SanitizeBoxes",
    "IgnoreOutside",
    "ValidateSample",
    "train_transforms",
    "eval_transforms",
    "sample_coarse_displacement",
    "upsample_displacement",
    "clamp_displacement",
    "to_torchvision_displacement",
    "elastic_warp",
    "INSTANCE_KEYS",
]
