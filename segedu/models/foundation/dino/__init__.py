"""DINO (Caron et al., "Emerging Properties in Self-Supervised Vision Transformers", ICCV 2021).

One concept per module:

- :mod:`.model`: the registered backbones ``dino_vits16``, ``dino_vitb16`` (official weights) and
  ``dino_vit_tiny`` (segedu's zoo), all :class:`segedu.nn.vit.VisionTransformer`;
- :mod:`.head`: :class:`DINOHead`, the projection head (MLP, L2 norm, weight-normalised layer);
- :mod:`.loss`: :class:`DINOLoss` (centring, sharpening, cross-entropy over crop pairs) and the
  teacher temperature schedule;
- :mod:`.ema`: the teacher, an exponential moving average of the student, and its cosine momentum;
- :mod:`.multicrop`: :class:`MultiCropAugmentation`, 2 global + n local views;
- :mod:`.wrapper`: :class:`MultiCropWrapper`, backbone + head over crops of several sizes;
- :mod:`.training`: :func:`dino_training_step`;
- :mod:`.ibot`: iBOT's masked patch self-distillation (Zhou et al., ICLR 2022): block masks, the
  patch loss :class:`MaskedPatchLoss`, DINO's loss on the patch tokens, :func:`ibot_loss` and
  :func:`ibot_training_step`;
- :mod:`.patch_features`: dense descriptors ``(B, h, w, D)`` (tokens or keys);
- :mod:`.pca`: PCA of the descriptors as RGB images;
- :mod:`.feature_segmentation`: k-means segmentation and co-segmentation on the descriptors.
"""

from . import model
from .ema import cosine_momentum, ema_update, make_teacher
from .feature_segmentation import cosegment, feature_kmeans
from .head import DINOHead, WeightNormLinear
from .ibot import (
    MaskedPatchLoss,
    MaskedPatchWrapper,
    block_mask,
    ibot_loss,
    ibot_training_step,
    random_block_masks,
)
from .loss import DINOLoss, teacher_temperature
from .model import DINO_VITB16_URL, DINO_VITS16_URL, dino_vit_tiny, dino_vitb16, dino_vits16
from .multicrop import MultiCropAugmentation, collate_crops
from .patch_features import FACETS, patch_features
from .pca import pca, pca_foreground_mask, pca_rgb
from .training import cancel_last_layer_gradients, dino_training_step
from .wrapper import MultiCropWrapper

__all__ = [
    "model",
    "dino_vits16",
    "dino_vitb16",
    "dino_vit_tiny",
    "DINO_VITS16_URL",
    "DINO_VITB16_URL",
    "DINOHead",
    "WeightNormLinear",
    "DINOLoss",
    "teacher_temperature",
    "make_teacher",
    "ema_update",
    "cosine_momentum",
    "MultiCropAugmentation",
    "collate_crops",
    "MultiCropWrapper",
    "dino_training_step",
    "cancel_last_layer_gradients",
    "block_mask",
    "random_block_masks",
    "MaskedPatchWrapper",
    "MaskedPatchLoss",
    "ibot_loss",
    "ibot_training_step",
    "FACETS",
    "patch_features",
    "pca",
    "pca_rgb",
    "pca_foreground_mask",
    "feature_kmeans",
    "cosegment",
]
