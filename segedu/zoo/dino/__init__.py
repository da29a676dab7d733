"""The zoo's DINO recipe: self-distillation of a tiny ViT on synthetic scenes, and its features.

Caron et al., "Emerging Properties in Self-Supervised Vision Transformers", ICCV 2021
(https://arxiv.org/abs/2104.14294; https://github.com/facebookresearch/dino, ``main_dino.py``),
with iBOT's masked patch loss (Zhou et al., ICLR 2022; :mod:`segedu.models.foundation.dino.ibot`).
Every piece of DINO and iBOT is in :mod:`segedu.models.foundation.dino`; this module only chooses
their settings for ``dino_vit_tiny`` (patch 8, D = 192, 4 blocks) on 128 x 128 ``SyntheticScenes``,
trains it without labels, and measures whether its patch features mean something.

**Training** (:func:`train_dino`, :class:`DinoConfig`), DINO's recipe with these choices
(``segedu/zoo/README.md`` records the pilot runs that led to them, and what the shipped
checkpoint's three seeds reach against the colour of the patches):

- *data*: ``scenes`` scenes of seed 0, drawn once and kept as uint8 (8000 scenes: 390 MB; DINO
  reads JPEGs, also 8 bits); the held-out scenes of seed 1 are never seen.
- *views* (:class:`~segedu.models.foundation.dino.MultiCropAugmentation`): 2 global views of 64 px
  (the ViT's own 8 x 8 grid) from crops of 20-60 % of the image area (57-99 px a side), and **no
  local views**. DINO's (0.4, 1) is for ImageNet photos, one object filling much of the frame; here
  the things are 5-50 px in a 128 px landscape, so a global crop is a part of the landscape with a
  few objects. The crops are resized by a factor 0.56-1.25 only, so that a patch covers about
  the 8 x 8 pixels it covers when the features are read on the whole 128 px scene. The blur's
  sigma is DINO's range scaled to the views, (0.1, 0.6) px instead of (0.1, 2) px at 224 px.
  Colour jitter of brightness, contrast and saturation only: no hue jitter, greying or
  solarisation, since the hue of sky, grass and water *is* their class here.
- *masked patches* (iBOT, :func:`~segedu.models.foundation.dino.ibot.random_block_masks`): half of
  the views get 10-50 % of their patches hidden in rectangular blocks; the student must give, at
  each hidden patch, the teacher's distribution for it. DINO's loss speaks only of the class
  token; this term speaks of the patch tokens that k-means reads.
- *head* (:class:`~segedu.models.foundation.dino.DINOHead`): K = ``out_dim`` = 1024 prototypes,
  hidden width 1024, bottleneck 256. DINO's 65536 prototypes are for the thousands of concepts of
  ImageNet, at batches of 1024; six classes with their textures, colours and layouts need far
  fewer, and with batches of 32 a large K leaves most prototypes without a sample in a batch, so
  the centre (a moving batch mean) and the sharpened teacher are noisy. 1024 keeps K well above
  the number of things to tell apart and 30 times the batch, and the last layer small (256 x 1024)
  next to the 1.8 M-parameter backbone. One head serves the class and the patch tokens (iBOT's
  shared head), each with its own centre. The head is dropped after training.
- *schedules*, as fractions of DINO's 100-epoch run since here there are no epochs: AdamW with
  the learning rate warmed up linearly over the first 10 % of the steps to ``lr``, then cosine
  decay to 1e-6; weight decay cosine from 0.04 to 0.4 (not on biases and norms, as DINO);
  the teacher temperature warmed up linearly over the first 30 % of the steps from
  ``teacher_temp[0]`` to ``teacher_temp[1]``, both 0.02 here; teacher momentum
  cosine 0.996 to 1 (:func:`~segedu.models.foundation.dino.cosine_momentum`); the last layer's
  gradients dropped for the first 1 % (DINO: the first epoch); the student's gradient norm clipped
  at 3 (DINO clips each parameter's at 3). ``lr`` is the peak rate itself: DINO multiplies its base
  5e-4 by batch / 256, which at batch 32 would give 6e-5; the zoo entry uses 1e-3 unscaled for
  400 steps (``segedu/zoo/README.md`` records the runs behind both choices).
- the checkpoint is the **teacher**'s backbone, as DINO releases; a stopped run continues from its
  resume file (:attr:`DinoConfig.save_every`).

**Evaluation** (:func:`evaluate_dino`) on the first ``length`` held-out scenes (seed 1), at
128 px (a 16 x 16 patch grid, positional embeddings interpolated). Each patch's class is the most
frequent class of its 8 x 8 pixels.

- ``kmeans_miou`` / ``kmeans_accuracy``: k-means of each image's patch features
  (:func:`~segedu.models.foundation.dino.feature_kmeans`, cosine, k = the number of classes
  present), each cluster matched to at most one class by the best one-to-one assignment (Hungarian
  algorithm on the confusion matrix, ``scipy.optimize.linear_sum_assignment``, maximising the
  patches matched); mean IoU of the classes present, and the fraction of patches matched, averaged
  over the images. No label is used to find the segments: this is what "the features mean something"
  means.
- ``probe_accuracy`` / ``probe_miou``: a linear probe, a logistic regression
  (scikit-learn's lbfgs, standardised features, ``C = 0.1``, fixed seed) from the patch features of
  ``probe_scenes`` training scenes (seed 0) to the patch classes, scored on the held-out patches
  (accuracy, and mIoU over the confusion matrix of the whole split). ``C = 0.1`` rather than
  scikit-learn's 1: on 25,600 patches of 192 features the fit then converges (about 250 lbfgs
  iterations, 8 s on one thread) and scores the same to 0.001.
- ``regions_``: the same four scores with the three thing classes merged into one "thing", so
  four regions: sky, grass, water, thing. The things' colours are random and they differ by shape
  only, which no patch-level feature of a colour or a grain tells apart.

:func:`evaluate_pixels` gives the same numbers for the mean RGB colour of each patch (k-means on
the colours in Euclidean space): the baseline that shows what the features add to the colours.

The package, one job a file: :mod:`.data` (views, patch classes), :mod:`.training` (schedules,
configuration, the training loop), :mod:`.scoring` (k-means, probe, baseline) and :mod:`.recipe`
(checkpoint and card).
"""

from __future__ import annotations

from .. import Task
from ..recipe import Recipe
from .data import NUM_CLASSES, PROBE_SCENES, TEST_LENGTH, THING, dino_augmentation, patch_classes
from .recipe import train
from .scoring import (
    ALL_METRICS,
    CURVE_METRICS,
    METRICS,
    Describe,
    evaluate,
    evaluate_dino,
    evaluate_features,
    evaluate_pixels,
    kmeans_score,
    kmeans_scores,
    probe_score,
)
from .training import (
    MASK_PROBABILITY,
    MASK_RATIO,
    TEACHER_TEMP,
    DinoConfig,
    lr_schedule,
    train_dino,
    weight_decay_at,
)

__all__ = ["PROBE_SCENES", "TEST_LENGTH", "NUM_CLASSES", "THING", "dino_augmentation",
           "train_dino", "patch_classes", "kmeans_score", "kmeans_scores", "probe_score",
           "evaluate_features", "evaluate_dino", "evaluate_pixels", "lr_schedule",
           "weight_decay_at", "DinoConfig", "train", "evaluate", "RECIPE", "METRICS",
           "ALL_METRICS", "CURVE_METRICS", "Describe", "TEACHER_TEMP", "MASK_PROBABILITY",
           "MASK_RATIO"]

RECIPE = Recipe(Task.FEATURES, DinoConfig, train, evaluate)
