"""Segmentation metrics: functions on whole label maps and update/compute classes that accumulate
over batches (and over the processes of a multi-GPU run, through their ``states()``).

Semantic metrics are all read off one confusion matrix (``confusion_matrix.py``), dataset-level:

- :func:`confusion_matrix`, :class:`ConfusionMatrix`: the ``(C, C)`` pixel counts;
- :func:`pixel_accuracy`, :class:`PixelAccuracy`: the fraction of right pixels;
- :func:`iou_per_class`, :func:`mean_iou`, :func:`frequency_weighted_iou`, :class:`MeanIoU`,
  :class:`FrequencyWeightedIoU`: intersection over union;
- :func:`dice_per_class`, :func:`dice_score`, :class:`DiceScore`: the Dice (F1) score.

Each class has ``reset()``, ``update(pred, target)`` (scores ``(N, C, ...)`` or labels
``(N, ...)``), ``compute()`` and ``states()``; the ``*_from_confusion`` functions compute the same
figures from a matrix you already have. :func:`matching` compares two instance label images
(StarDist's object matching).

Surface metrics compare outlines of binary masks (2-D or 3-D, with pixel spacing), per image:
:func:`hausdorff_distance` (the maximum, or HD95 with ``percentile=95``),
:func:`average_symmetric_surface_distance`, :func:`normalized_surface_dice`
(``surface_distance.py``, as MONAI), and :func:`boundary_iou` (Cheng et al. 2021).

Video object segmentation (``video.py``, as DAVIS 2017's evaluation): :func:`j_and_f` scores a
clip of id maps with the region similarity :func:`region_similarity` (J) and the boundary
F-measure :func:`boundary_f_measure` (F), and :class:`JAndF` accumulates over clips.
"""

from .boundary_iou import boundary_band, boundary_iou
from .confusion_matrix import ConfusionMatrix, confusion_matrix
from .dice import DiceScore, dice_from_confusion, dice_per_class, dice_score
from .iou import (
    FrequencyWeightedIoU,
    MeanIoU,
    frequency_weighted_iou,
    frequency_weighted_iou_from_confusion,
    iou_from_confusion,
    iou_per_class,
    mean_iou,
    mean_iou_from_confusion,
)
from .matching import matching
from .mean_average_precision import MeanAveragePrecision, mean_average_precision
from .panoptic_quality import PanopticQuality, panoptic_quality
from .panoptic_quality_coco import panoptic_quality_coco
from .pixel_accuracy import PixelAccuracy, pixel_accuracy, pixel_accuracy_from_confusion
from .surface_distance import (
    average_symmetric_surface_distance,
    hausdorff_distance,
    normalized_surface_dice,
    surface_distances,
    surface_pixels,
)
from .video import (
    JAndF,
    boundary_f_measure,
    boundary_map,
    boundary_tolerance,
    davis_statistics,
    j_and_f,
    region_similarity,
)

__all__ = [
    "confusion_matrix",
    "ConfusionMatrix",
    "pixel_accuracy",
    "pixel_accuracy_from_confusion",
    "PixelAccuracy",
    "iou_per_class",
    "mean_iou",
    "frequency_weighted_iou",
    "iou_from_confusion",
    "mean_iou_from_confusion",
    "frequency_weighted_iou_from_confusion",
    "MeanIoU",
    "FrequencyWeightedIoU",
    "dice_per_class",
    "dice_score",
    "dice_from_confusion",
    "DiceScore",
    "matching",
    "mean_average_precision",
    "MeanAveragePrecision",
    "panoptic_quality",
    "PanopticQuality",
    "panoptic_quality_coco",
    "surface_pixels",
    "surface_distances",
    "hausdorff_distance",
    "average_symmetric_surface_distance",
    "normalized_surface_dice",
    "boundary_band",
    "boundary_iou",
    "region_similarity",
    "boundary_map",
    "boundary_tolerance",
    "boundary_f_measure",
    "davis_statistics",
    "j_and_f",
    "JAndF",
]
