"""Learning with fewer labels: pseudo-labels, the mean teacher, class activation maps.

Labels are the expensive part of segmentation: a mask takes minutes per image, a tag ("this
image shows a circle") seconds. Each module is one answer, small enough to read top to bottom:

- :mod:`.pseudo_labels`: self-training. A teacher trained on the labelled images labels the
  unlabelled ones; only its confident pixels are kept (the others get the ignore index); a new
  student learns from both, and can become the next round's teacher.
- :mod:`.mean_teacher`: the mean teacher (Tarvainen and Valpola, NeurIPS 2017). The teacher is an
  exponential moving average of the student (the EMA of DINO's teacher,
  :func:`segedu.models.foundation.dino.ema_update`); on every image, labelled or not, the student's
  prediction is pulled towards the teacher's under other noise, with a consistency weight that
  ramps up along ``exp(-5 (1 - t)^2)``.
- :mod:`.cam`: class activation maps (Zhou et al., CVPR 2016). A classifier that ends with global
  average pooling and one linear layer, trained on image-level labels; the CAM of class ``k`` is
  the weighted sum of the last feature maps with the linear layer's weights of ``k``.
- :mod:`.cam_masks`: CAMs turned into pseudo-masks (normalise, keep the present classes, take the
  best class, leave the weak pixels out) for a segmentation network to learn from.
"""

from .cam import CAMClassifier, class_activation_maps, image_level_labels
from .cam_masks import cam_pseudo_masks, normalize_cams
from .mean_teacher import (
    consistency_loss,
    mean_teacher_momentum,
    sigmoid_rampup,
)
from .pseudo_labels import label_images, pseudo_label_quality, pseudo_labels

__all__ = [
    "pseudo_labels",
    "label_images",
    "pseudo_label_quality",
    "sigmoid_rampup",
    "consistency_loss",
    "mean_teacher_momentum",
    "CAMClassifier",
    "class_activation_maps",
    "image_level_labels",
    "normalize_cams",
    "cam_pseudo_masks",
]
