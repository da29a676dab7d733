"""The zoo's small SAM: promptable segmentation trained on the synthetic scenes.

SAM (Kirillov et al., "Segment Anything", ICCV 2023) answers a *prompt* (a click, a box, a rough
mask) with a mask and a predicted IoU. This module trains ``sam_tiny``
(:mod:`segedu.models.foundation.sam`) from scratch on segedu's synthetic scenes with the paper's
recipe (section 3 and appendix A, "Training algorithm"), scaled down to 128 px scenes and a CPU, and
scores it on the held-out scenes (seed 1, never trained on).

- **Targets** (:func:`scene_segments`): every *thing* instance (its visible mask, as the scenes
  give it) and every *stuff region*: each connected component of a stuff class (sky, grass,
  water) of at least ``min_area`` pixels. A click on one lake should not be asked to find another
  lake across the image, so stuff is split into connected regions, not kept as one class mask.
- **Prompts** (:func:`sample_prompts`, :func:`correction_points`): for each target, with
  probability 1/2, a foreground point drawn uniformly inside the mask, else the mask's box with
  Gaussian noise on each coordinate (std 10 % of the box's side, clipped at 2.5 px: the paper's
  20 px at 1024 px, scaled to 128 px). Then one *correction round* (the paper has 8 more, plus 2
  without a new point; one fits the CPU budget): a point drawn uniformly in the error region of
  the first prediction (foreground where a false negative was, background where a false positive
  was), together with the first prompts and the first round's low-resolution logits (of the mask
  with the highest predicted IoU, unthresholded, detached) as the mask prompt.
- **Loss** (:func:`mask_loss`): focal (alpha 0.25, gamma 2, as
  :func:`torchvision.ops.sigmoid_focal_loss`, mean over pixels) and Dice in the ratio 20:1,
  computed on the logits up-sampled to the 128 x 128 image (what :meth:`Sam.postprocess_masks`
  does at inference), against the exact ground-truth mask. A lone point is ambiguous, so it gets
  the three multimask outputs and only the lowest-loss one receives the mask gradient; a box, or
  several points, get the single-mask output. The IoU head is regressed with MSE (weight 1) to the
  true IoU of each mask it scores (the thresholded mask against the target).
- **Optimisation** (:func:`train_sam`): AdamW (weight decay 0.1, as the paper), a linear warm-up
  then a cosine decay (the paper decays in two steps), the gradient norm clipped at 1 (an addition
  for training from scratch at a high rate); each image is encoded once and answers several
  prompts (``prompts`` targets per image per step, all decoded in one call, points and boxes
  together: both make two sparse tokens, a point being padded with a "not a point" token).

SAM's :meth:`~segedu.models.foundation.sam.sam.Sam.forward` runs under ``torch.no_grad()`` (it is
the inference entry point), so training calls its public training steps (:func:`decode`):
``Sam.embed_images``, the prompt encoder and ``Sam.decode_all_masks``, the same computation as
the official path, with gradients and all four masks.

**Score** (:func:`evaluate_sam`): over all segments of the first ``length`` held-out scenes, the
mean IoU of (a) one click at the segment's most interior pixel (the maximum of its distance
transform, the image border counting as boundary), keeping the mask SAM ranks best by predicted
IoU; (b) the same click with the oracle best of the three masks; (c) the exact box with the single
mask; and the Pearson correlation between predicted and true IoU over the three masks of (a).

The package, one job a file: :mod:`.data` (targets, prompts, held-out scenes), :mod:`.loss`,
:mod:`.forward` (the training forward), :mod:`.scoring` and :mod:`.recipe` (configuration,
training loop, checkpoint and card).
"""

from __future__ import annotations

from .. import Task
from ..recipe import step_recipe
from .data import (
    BOX_NOISE,
    BOX_NOISE_MAX,
    EVAL_SCENES,
    MIN_STUFF_AREA,
    TRAIN_SCENES,
    correction_points,
    held_out_segments,
    interior_point,
    sample_prompts,
    scene_segments,
)
from .forward import decode, image_step, prompt_tokens
from .loss import dice_loss, focal_loss, mask_iou, mask_loss
from .recipe import SamConfig, sam_card, train_sam
from .scoring import METRIC_NAMES, evaluate, evaluate_sam, sam_answers, score_answers

__all__ = ["scene_segments", "sample_prompts", "correction_points", "focal_loss", "dice_loss",
           "mask_iou", "mask_loss", "decode", "prompt_tokens", "image_step", "train_sam",
           "interior_point", "sam_answers", "score_answers", "evaluate_sam", "held_out_segments",
           "SamConfig", "train", "evaluate", "RECIPE", "TRAIN_SCENES", "EVAL_SCENES",
           "MIN_STUFF_AREA", "BOX_NOISE", "BOX_NOISE_MAX", "METRIC_NAMES"]

RECIPE = step_recipe(Task.PROMPTABLE, SamConfig, train=train_sam, evaluate=evaluate,
                     card=sam_card, test_length="test_scenes")
"""The recipe of the zoo's SAM, for ``python -m segedu.zoo.train sam_tiny``."""
train = RECIPE.train
