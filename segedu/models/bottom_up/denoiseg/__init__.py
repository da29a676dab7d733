"""DenoiSeg (Buchholz et al., 2020): joint self-supervised denoising and segmentation from few
labels.

- :mod:`.blind_spot`: :func:`blind_spot_mask` (Noise2Void's masking);
- :mod:`.loss`: :func:`three_class_labels`, :func:`n2v_loss`, :func:`segmentation_loss`,
  :func:`denoiseg_loss`;
- :mod:`.model`: :class:`DenoiSeg`, registered as ``get_model("denoiseg")``.
"""

from .blind_spot import blind_spot_mask, blind_spot_positions
from .loss import (
    CLASS_WEIGHTS,
    UNLABELLED,
    denoiseg_loss,
    n2v_loss,
    segmentation_loss,
    three_class_labels,
)
from .model import DenoiSeg, denoiseg

__all__ = ["CLASS_WEIGHTS", "DenoiSeg", "UNLABELLED", "blind_spot_mask", "blind_spot_positions",
           "denoiseg", "denoiseg_loss", "n2v_loss", "segmentation_loss", "three_class_labels"]
