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
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from scipy import ndimage as ndi

from ..data import SyntheticScenes
from ..data.synthetic_scenes import SCENE_STUFF
from ..engine import WarmupCosine, train_steps
from ..losses import dice_loss as soft_dice_loss
from ..losses import sigmoid_focal_loss
from ..ops import masks_to_boxes
from . import Task
from .cards import metric_table, trained_line, write_model_card
from .float16 import save_float16
from .recipe import Recipe, TrainConfig
from .scores import SIZE, TEST_SCENES

__all__ = ["scene_segments", "sample_prompts", "correction_points", "focal_loss", "dice_loss",
           "mask_loss", "decode", "prompt_tokens", "train_sam", "interior_point", "sam_answers",
           "score_answers",
           "evaluate_sam",
           "SamConfig", "train", "evaluate", "RECIPE", "TRAIN_SCENES", "EVAL_SCENES"]

TRAIN_SCENES, EVAL_SCENES = 8000, 200
FOCAL_WEIGHT, DICE_WEIGHT = 20.0, 1.0  # the paper's 20:1
MIN_STUFF_AREA = 32  # stuff regions smaller than this (slivers between things) are not targets
BOX_NOISE, BOX_NOISE_MAX = 0.1, 20.0 * SIZE / 1024  # std 10 % of the side, at most 20 px at 1024 px


def _plain(x):
    return x.as_subclass(torch.Tensor) if isinstance(x, torch.Tensor) else x


# ---------------------------------------------------------------------------------------------
# targets and prompts
# ---------------------------------------------------------------------------------------------


def scene_segments(target: dict[str, Any], *, min_area: int = MIN_STUFF_AREA) -> torch.Tensor:
    """A scene's target -> its segments ``(M, H, W)`` bool: each connected region of a stuff
    class with at least ``min_area`` pixels (sky, grass, water in that order, regions in
    scipy's labelling order), then every thing instance (its visible mask)."""
    semantic = _plain(target["semantic"])
    if semantic.ndim != 2:
        raise ValueError(f"target['semantic'] must be (H, W), got {tuple(semantic.shape)}")
    segments = []
    for k in SCENE_STUFF:
        regions, count = ndi.label((semantic == k).numpy())  # 4-connected components
        for r in range(1, count + 1):
            region = torch.from_numpy(regions == r)
            if int(region.sum()) >= min_area:
                segments.append(region)
    segments += [m for m in _plain(target["masks"]).bool() if m.any()]
    if not segments:
        return torch.zeros((0, *semantic.shape), dtype=torch.bool)
    return torch.stack(segments)


def _uniform_pixel(mask: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """A pixel ``(x, y)`` drawn uniformly among the True pixels of ``mask`` ``(H, W)``."""
    ys, xs = torch.nonzero(mask, as_tuple=True)
    i = int(rng.integers(len(xs)))
    return torch.stack([xs[i], ys[i]]).float()


def sample_prompts(segments: torch.Tensor, count: int, rng: np.random.Generator, *,
                   p_point: float = 0.5) -> dict[str, torch.Tensor]:
    """First-round prompts for ``count`` segments of one image (drawn without replacement, or all
    of them when there are fewer).

    Args:
        segments: ``(M, H, W)`` bool, ``M >= 1``.
        count: prompts wanted; rng: numpy generator (all randomness comes from it).
        p_point: probability that a segment is prompted by a point rather than a box.

    Returns ``index`` ``(P,)`` (which segment), ``is_point`` ``(P,)`` bool, ``points`` ``(P, 2)``
    ``(x, y)`` (a uniform pixel of the mask; unused for boxes) and ``boxes`` ``(P, 4)`` ``xyxy``
    (the noisy box, clipped to the image; unused for points), in pixel indices.
    """
    if segments.ndim != 3 or segments.shape[0] == 0:
        raise ValueError(f"segments must be (M, H, W) with M >= 1, got {tuple(segments.shape)}")
    h, w = segments.shape[-2:]
    index = torch.from_numpy(rng.permutation(segments.shape[0])[:count]).long()
    is_point = torch.from_numpy(rng.random(len(index)) < p_point)
    points, boxes = [], []
    for i in index.tolist():
        points.append(_uniform_pixel(segments[i], rng))
        box = masks_to_boxes(segments[i][None])[0]  # (x0, y0, x1, y1), inclusive
        side = torch.stack([box[2] - box[0], box[3] - box[1]]).repeat(2) + 1  # (w, h, w, h)
        noise = torch.from_numpy(rng.standard_normal(4)).float() * BOX_NOISE * side
        box = box + noise.clamp(-BOX_NOISE_MAX, BOX_NOISE_MAX)
        boxes.append(box.clamp(min=0).minimum(torch.tensor([w - 1, h - 1, w - 1, h - 1],
                                                           dtype=torch.float)))
    return {"index": index, "is_point": is_point, "points": torch.stack(points),
            "boxes": torch.stack(boxes)}


def correction_points(predicted: torch.Tensor, truth: torch.Tensor,
                      rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """One correction click per prediction: a pixel drawn uniformly in the error region.

    ``predicted``, ``truth``: ``(P, H, W)`` bool. Returns points ``(P, 2)`` ``(x, y)`` and labels
    ``(P,)``: 1 (foreground) where the drawn pixel is a false negative, 0 (background) where it is
    a false positive. A perfect prediction has no error: its click is then a foreground pixel of
    the truth, drawn uniformly (a harmless, consistent extra click).
    """
    if predicted.shape != truth.shape or predicted.ndim != 3:
        raise ValueError(f"predicted and truth must be the same (P, H, W), "
                         f"got {tuple(predicted.shape)} "
                         f"and {tuple(truth.shape)}")
    points, labels = [], []
    for p, t in zip(predicted, truth, strict=True):
        error = p ^ t
        pixel = _uniform_pixel(error if error.any() else t, rng)
        points.append(pixel)
        labels.append(int(t[int(pixel[1]), int(pixel[0])]))
    return torch.stack(points), torch.tensor(labels, dtype=torch.float)


# ---------------------------------------------------------------------------------------------
# loss
# ---------------------------------------------------------------------------------------------


def focal_loss(logits: torch.Tensor, truth: torch.Tensor, *, alpha: float = 0.25,
               gamma: float = 2.0) -> torch.Tensor:
    """Sigmoid focal loss (Lin et al. 2017) per mask: ``(..., H, W)`` logits and 0/1 truth ->
    ``(...)``, the mean over pixels of :func:`segedu.losses.sigmoid_focal_loss` (torchvision's)."""
    return sigmoid_focal_loss(logits, truth.float(), alpha=alpha, gamma=gamma).mean(dim=(-2, -1))


def dice_loss(logits: torch.Tensor, truth: torch.Tensor, *, smooth: float = 1.0) -> torch.Tensor:
    """Soft Dice loss per mask: ``(..., H, W)`` -> ``(...)``,
    ``1 - (2 sum(p t) + s) / (sum p + sum t + s)`` with ``p = sigmoid(logits)``: the per-mask mode
    of :func:`segedu.losses.dice_loss` (the smoothing 1 is a choice: SAM's training code is not
    public)."""
    masks = logits.reshape(-1, *logits.shape[-2:])  # (M, H, W), M masks
    per_mask = soft_dice_loss(masks, truth.reshape(masks.shape), mode="per_mask", smooth=smooth,
                              reduction="none")
    return per_mask.reshape(logits.shape[:-2])


def _iou(masks: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """IoU ``(...)`` of bool masks ``(..., H, W)`` with ``truth`` (broadcast); 1 when both are
    empty."""
    inter = (masks & truth).sum(dim=(-2, -1)).float()
    union = (masks | truth).sum(dim=(-2, -1)).float()
    return torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(union))


def mask_loss(logits: torch.Tensor, iou_pred: torch.Tensor, truth: torch.Tensor,
              multimask: torch.Tensor) -> dict[str, torch.Tensor]:
    """SAM's loss for ``P`` prompts of one image.

    Args:
        logits: ``(P, 4, H, W)`` mask logits at the image's size (all four decoder masks: the
            single mask 0, the multimask outputs 1..3).
        iou_pred: ``(P, 4)`` predicted IoUs.
        truth: ``(P, H, W)`` bool target of each prompt.
        multimask: ``(P,)`` bool: this prompt is a lone point (masks 1..3, the lowest loss one is
            trained) rather than a box or several points (mask 0).

    Returns ``mask`` (mean over prompts of ``20 focal + dice`` of the trained mask), ``focal``,
    ``dice`` (of the same masks), ``iou`` (MSE of the predicted against the true IoU of every mask
    of each prompt's output, 3 or 1) and ``best`` ``(P,)`` (index 0..3 of the trained mask).
    """
    truth_ = truth[:, None].expand_as(logits)
    focal, dice = focal_loss(logits, truth_), dice_loss(logits, truth_)  # (P, 4)
    per_mask = FOCAL_WEIGHT * focal + DICE_WEIGHT * dice
    # which outputs each prompt uses: 1..3 for a lone point, 0 otherwise
    used = torch.zeros_like(per_mask, dtype=torch.bool)
    used[:, 1:] = multimask[:, None]
    used[:, 0] = ~multimask
    best = per_mask.detach().masked_fill(~used, math.inf).argmin(dim=1)  # (P,)

    def take(x: torch.Tensor) -> torch.Tensor:  # (P, 4) -> (P,): the trained mask's value
        return x.gather(1, best[:, None])[:, 0]

    # IoU head: regress the true IoU of each used mask (no gradient through the target)
    true_iou = _iou(logits.detach() > 0, truth[:, None])
    iou = ((iou_pred - true_iou) ** 2)[used].mean()
    return {"mask": take(per_mask).mean(), "focal": take(focal).mean(), "dice": take(dice).mean(),
            "iou": iou, "best": best}


# ---------------------------------------------------------------------------------------------
# the training forward
# ---------------------------------------------------------------------------------------------


def decode(model: torch.nn.Module, embedding: torch.Tensor, *,
           points: tuple[torch.Tensor, torch.Tensor] | None,
           boxes: torch.Tensor | None, masks: torch.Tensor | None,
           size: tuple[int, int] = (SIZE, SIZE)) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Prompts of one image -> all four masks: what :meth:`Sam.forward` computes after the image
    encoder, with gradients and without the selection of the multimask outputs.

    Args:
        embedding: ``(1, C, h, w)`` image embedding.
        points: ``(coords (P, N, 2), labels (P, N))`` or None; boxes ``(P, 4)`` or None; masks
            ``(P, 1, 4h, 4w)`` low-resolution logits or None (as the prompt encoder takes them).
        size: the image's ``(H, W)`` (no resizing: the scenes are already ``img_size``).

    Returns logits ``(P, 4, H, W)`` (up-sampled as :meth:`Sam.postprocess_masks`), low-resolution
    logits ``(P, 4, 4h, 4w)`` and predicted IoUs ``(P, 4)``.
    """
    # embed the prompts: sparse tokens (points, boxes), dense map (mask or no-mask embedding)
    sparse, dense = model.prompt_encoder(points=points, boxes=boxes, masks=masks)
    # decode all four masks, up-sample them to the image
    return model.decode_all_masks(embedding, sparse, dense, input_size=size, original_size=size)


def prompt_tokens(model: torch.nn.Module, prompts: dict[str, torch.Tensor],
                  extra: tuple[torch.Tensor, torch.Tensor] | None,
                  masks: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Sparse and dense embeddings of mixed point/box prompts of one image, every prompt with the
    same number of tokens, so that they decode in one call.

    First round (``extra`` None): a point prompt is ``[point, not-a-point]``, a box prompt its two
    corners. Correction round (``extra`` = new points ``(P, 2)`` and labels ``(P,)``): a point
    prompt is ``[point, new point, not-a-point]``, a box prompt ``[new point, corner, corner]``.
    Each group is embedded by the prompt encoder exactly as it would be alone (the padding rule
    included), then the rows are put back in prompt order.
    """
    is_point = prompts["is_point"]
    groups = []
    # prompts that are points: their points (+ the correction), padded (no box follows)
    if is_point.any():
        coords = prompts["points"][is_point][:, None]
        labels = torch.ones(coords.shape[:2], device=coords.device)
        if extra is not None:
            coords = torch.cat([coords, extra[0][is_point][:, None]], dim=1)
            labels = torch.cat([labels, extra[1][is_point][:, None]], dim=1)
        m = None if masks is None else masks[is_point]
        groups.append((is_point,
                       model.prompt_encoder(points=(coords, labels), boxes=None, masks=m)))
    # prompts that are boxes: the box (+ the correction point, before it, as SAM orders them)
    if (~is_point).any():
        points = None
        if extra is not None:
            points = (extra[0][~is_point][:, None], extra[1][~is_point][:, None])
        m = None if masks is None else masks[~is_point]
        embedded = model.prompt_encoder(points=points, boxes=prompts["boxes"][~is_point], masks=m)
        groups.append((~is_point, embedded))
    # back to prompt order: row j of the concatenation is prompt position[j]
    position = torch.cat([torch.nonzero(where)[:, 0] for where, _ in groups]).argsort()
    sparse = torch.cat([embedded[0] for _, embedded in groups])[position]
    dense = torch.cat([embedded[1] for _, embedded in groups])[position]
    return sparse, dense


def image_step(model: torch.nn.Module, embedding: torch.Tensor, segments: torch.Tensor,
               rng: np.random.Generator, *,
               prompts: int = 8, rounds: int = 2) -> dict[str, torch.Tensor]:
    """The loss of one image: ``prompts`` targets, a first round and ``rounds - 1`` correction
    rounds (each: the first prompt, one correction point from the previous round's error, the
    previous round's low-resolution logits as mask prompt; single-mask output). Returns the
    losses of :func:`mask_loss` averaged over the rounds (``total`` = mask + iou).

    With ``rounds > 2`` each round keeps only the latest correction point (every prompt then has
    three tokens and all decode in one call); the paper accumulates the points of all rounds.
    The default, one correction round, is the same either way."""
    drawn = sample_prompts(segments, prompts, rng)
    truth = segments[drawn["index"]].to(embedding.device)
    drawn = {k: v.to(embedding.device) for k, v in drawn.items()}
    out: dict[str, torch.Tensor] = {}
    extra, mask_prompt, multimask = None, None, drawn["is_point"]
    for r in range(rounds):
        # embed the prompts and decode all four masks
        sparse, dense = prompt_tokens(model, drawn, extra, mask_prompt)
        logits, low_res, iou_pred = model.decode_all_masks(embedding, sparse, dense,
                                                           input_size=(SIZE, SIZE),
                                                           original_size=(SIZE, SIZE))
        losses = mask_loss(logits.float(), iou_pred.float(), truth, multimask)
        for key in ("mask", "focal", "dice", "iou"):
            out[key] = out.get(key, 0) + losses[key] / rounds
        if r + 1 < rounds:
            # next round: the mask SAM would show (highest predicted IoU among the used ones),
            # a click in its error region, its logits as the mask prompt; then a single mask
            with torch.no_grad():
                used = torch.stack([~multimask, multimask, multimask, multimask], dim=1)
                shown = iou_pred.detach().float().masked_fill(~used, -math.inf).argmax(dim=1)
                rows = torch.arange(len(shown), device=shown.device)
                points, labels = correction_points((logits[rows, shown] > 0).cpu(), truth.cpu(),
                                                   rng)
            extra = (points.to(embedding.device), labels.to(embedding.device))
            mask_prompt = low_res[rows, shown][:, None].detach()
            multimask = torch.zeros_like(multimask)
    out["total"] = out["mask"] + out["iou"]
    return out


# ---------------------------------------------------------------------------------------------
# training
# ---------------------------------------------------------------------------------------------


def _scene(scenes: SyntheticScenes, index: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Scene ``index``: image ``(3, S, S)`` in [0, 1] and its segments ``(M, S, S)``."""
    image, target = scenes[index]
    return _plain(image), scene_segments(target)


@dataclass
class SamConfig(TrainConfig):
    """:class:`~segedu.zoo.recipe.TrainConfig` plus SAM's recipe (module docstring).

    Args:
        scenes: training scenes (seed 0, drawn on the fly); test_scenes: held-out scenes scored.
        prompts: targets per image per step; rounds: the first prompt, then ``rounds - 1``
            correction rounds.
        warmup: warm-up steps from 1 % of ``lr`` (a fifth of a shorter run).
        weight_decay: AdamW's; seed: every random choice of the run (order, prompts).
    """

    tasks = (Task.PROMPTABLE,)
    positive = ("scenes", "test_scenes", "prompts", "rounds")

    scenes: int = TRAIN_SCENES
    test_scenes: int = EVAL_SCENES
    prompts: int = 8
    rounds: int = 2
    warmup: int = 250
    weight_decay: float = 0.1
    seed: int = 0


def _scene_batches(scenes: SyntheticScenes, batch: int, order: torch.Generator
                   ) -> Iterator[tuple[tuple[torch.Tensor, ...], tuple[torch.Tensor, ...]]]:
    """Endless batches ``(images, segments)`` of ``batch`` scenes, in an order shuffled anew
    (from ``order``) at each pass over the scenes."""
    queue: list[int] = []
    while True:
        while len(queue) < batch:
            queue += torch.randperm(len(scenes), generator=order).tolist()
        indices, queue = queue[:batch], queue[batch:]
        images, segments = zip(*(_scene(scenes, i) for i in indices), strict=True)
        yield images, segments


def train_sam(model: torch.nn.Module, config: SamConfig, device: torch.device,
              log: Callable[[str], None] = print) -> dict[str, float]:
    """Train a SAM on ``config.scenes`` synthetic scenes of seed 0 (module docstring for the
    recipe), through :func:`segedu.engine.train_steps`.

    Each step encodes ``config.batch`` images once and decodes ``config.prompts`` targets per
    image in ``config.rounds`` rounds (the first prompt, then correction clicks). Scenes are drawn
    on the fly in an order shuffled each epoch (each scene is the same whatever the order: its
    own seed), and every random choice comes from ``config.seed``, so a run is reproducible.
    bfloat16 autocast on a GPU only. Returns ``steps``, ``warmup`` (the warm-up steps:
    ``config.warmup``, or a fifth of a shorter run), ``minutes`` and the last step's losses
    ``loss``, ``mask``, ``focal``, ``dice``, ``iou``.
    """
    warmup = min(config.warmup, config.steps // 5)  # a short run warms up for a fifth of it
    model.to(device).train()
    data = SyntheticScenes(size=SIZE, length=config.scenes, seed=0)
    order = torch.Generator().manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr,
                                  weight_decay=config.weight_decay)
    scheduler = WarmupCosine(optimizer, config.steps, warmup_steps=warmup, warmup_start=0.01)

    def compute_loss(batch):
        images, segments = batch
        # encode every image once
        embeddings = model.embed_images(torch.stack(images).to(device) * 255)  # SAM takes 0..255
        # decode its prompts, image by image (the decoder repeats one embedding per prompt)
        per_image = [image_step(model, e[None], s, rng, prompts=config.prompts,
                                rounds=config.rounds)
                     for e, s in zip(embeddings, segments, strict=True) if len(s)]
        losses = {k: sum(p[k] for p in per_image) / len(per_image)
                  for k in ("total", "mask", "focal", "dice", "iou")}
        return losses.pop("total"), losses

    run = train_steps(compute_loss, _scene_batches(data, config.batch, order), model=model,
                      optimizer=optimizer, steps=config.steps, scheduler=scheduler,
                      grad_clip=1.0, device=device, amp_dtype=torch.bfloat16, log=log)
    model.eval()
    return {**run, "warmup": warmup}


# ---------------------------------------------------------------------------------------------
# evaluation
# ---------------------------------------------------------------------------------------------


def interior_point(mask: torch.Tensor) -> torch.Tensor:
    """The most interior pixel ``(x, y)`` of ``mask`` ``(H, W)``: the maximum of the Euclidean
    distance to the nearest pixel outside it, the image border counting as outside (the first
    such pixel in row-major order on ties)."""
    if mask.ndim != 2 or not mask.any():
        raise ValueError(f"mask must be a non-empty (H, W) mask, got shape {tuple(mask.shape)}")
    distance = ndi.distance_transform_edt(np.pad(mask.numpy(), 1))[1:-1, 1:-1]
    y, x = np.unravel_index(int(np.argmax(distance)), distance.shape)
    return torch.tensor([x, y], dtype=torch.float)


@torch.no_grad()
def sam_answers(model: torch.nn.Module, image: torch.Tensor, segments: torch.Tensor,
                embedding: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """SAM's answers for the segments ``(M, H, W)`` of one image ``(3, H, W)`` in [0, 1]:
    ``point_masks`` ``(M, 3, H, W)`` bool and ``point_iou`` ``(M, 3)`` (multimask output for a
    click at :func:`interior_point`), ``box_masks`` ``(M, H, W)`` bool (single mask for the exact
    box)."""
    device = next(model.parameters()).device
    if embedding is None:
        embedding = model.embed_images(image[None].to(device) * 255)  # SAM takes 0..255
    points = torch.stack([interior_point(s) for s in segments]).to(device)
    boxes = masks_to_boxes(segments).to(device)  # (M, 4) inclusive pixel indices
    # both prompt kinds in one decoder call (two tokens each), as in training
    prompts = {"is_point": torch.arange(2 * len(segments), device=device) < len(segments),
               "points": torch.cat([points, points]), "boxes": torch.cat([boxes, boxes])}
    sparse, dense = prompt_tokens(model, prompts, None, None)
    size = tuple(image.shape[-2:])
    logits, _, iou_pred = model.decode_all_masks(embedding, sparse, dense, input_size=size,
                                                 original_size=size)
    m = len(segments)
    return {"point_masks": (logits[:m, 1:] > 0).cpu(), "point_iou": iou_pred[:m, 1:].float().cpu(),
            "box_masks": (logits[m:, 0] > 0).cpu()}


def score_answers(answers: list[dict[str, torch.Tensor]],
                  segments: list[torch.Tensor]) -> dict[str, float]:
    """mIoU over all segments of (a) the point prompt, mask ranked best by predicted IoU
    (``miou_point``), (b) the point prompt, oracle best of 3 (``miou_point_oracle``), (c) the box
    (``miou_box``), (a) split into things and stuff is not made here (a segment is a segment);
    and ``iou_correlation``, Pearson's r between predicted and true IoU of every point mask."""
    best, oracle, box, predicted, true = [], [], [], [], []
    for answer, truth in zip(answers, segments, strict=True):
        iou = _iou(answer["point_masks"], truth[:, None])  # (M, 3)
        ranked = answer["point_iou"].argmax(dim=1)
        best.append(iou.gather(1, ranked[:, None])[:, 0])
        oracle.append(iou.max(dim=1).values)
        box.append(_iou(answer["box_masks"], truth))
        predicted.append(answer["point_iou"].flatten())
        true.append(iou.flatten())
    predicted, true = torch.cat(predicted).double(), torch.cat(true).double()
    if predicted.std() > 0 and true.std() > 0:
        correlation = float(torch.corrcoef(torch.stack([predicted, true]))[0, 1])
    else:
        correlation = float("nan")
    return {"miou_point": float(torch.cat(best).mean()),
            "miou_point_oracle": float(torch.cat(oracle).mean()),
            "miou_box": float(torch.cat(box).mean()), "iou_correlation": correlation}


def held_out_segments(length: int = EVAL_SCENES) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """The first ``length`` held-out scenes (seed 1): images ``(3, S, S)`` and segments
    ``(M, S, S)``."""
    if not 1 <= length <= TEST_SCENES:
        raise ValueError(f"the held-out split has {TEST_SCENES} scenes; asked for {length}")
    scenes = SyntheticScenes(size=SIZE, length=length, seed=1)
    images, segments = zip(*(_scene(scenes, i) for i in range(length)), strict=True)
    return list(images), list(segments)


@torch.no_grad()
def evaluate_sam(model: torch.nn.Module, *, length: int = EVAL_SCENES,
                 device: torch.device | str = "cpu",
                 batch: int = 16) -> dict[str, float]:
    """Score a SAM on the first ``length`` held-out scenes (seed 1): :func:`score_answers` of
    :func:`sam_answers` for every segment (module docstring). Deterministic."""
    device = torch.device(device)
    model.to(device).eval()
    images, segments = held_out_segments(length)
    answers = []
    for start in range(0, length, batch):
        chunk = images[start:start + batch]
        embeddings = model.embed_images(torch.stack(chunk).to(device) * 255)  # SAM takes 0..255
        for image, seg, e in zip(chunk, segments[start:start + batch], embeddings, strict=True):
            answers.append(sam_answers(model, image, seg, embedding=e[None]))
    return score_answers(answers, segments)


# ---------------------------------------------------------------------------------------------
# python -m segedu.zoo.train sam_tiny
# ---------------------------------------------------------------------------------------------


def evaluate(model: torch.nn.Module, device: torch.device | str = "cpu", *,
             length: int = EVAL_SCENES) -> dict[str, float]:
    """:func:`evaluate_sam`: the recipe's score."""
    return evaluate_sam(model, length=length, device=device)


METRIC_NAMES = {"miou_point": "mIoU, 1 point, mask ranked best by SAM",
                "miou_point_oracle": "mIoU, 1 point, oracle best of 3",
                "miou_box": "mIoU, box", "iou_correlation": "correlation predicted / true IoU"}


def train(config: SamConfig) -> torch.nn.Module:
    """Train the zoo's SAM (:func:`train_sam`), score it on the held-out scenes, write its
    checkpoint and card to ``config.out``; return the trained model."""
    device, model = config.start()
    entry = config.entry
    run = train_sam(model, config, device)
    score = evaluate(model, device, length=config.test_scenes)
    save_float16(model, config.checkpoint_path)
    autocast = ", bfloat16 autocast" if device.type == "cuda" else ""
    recipe = (
        f"batch {config.batch} from {config.scenes} scenes of {SIZE}x{SIZE} (seed 0, "
        f"drawn on the fly), {config.prompts} targets per image (thing instances and connected "
        "stuff regions), a point (uniform in the mask, 3 masks, the lowest-loss one trained) or "
        "a noisy box (std 10 % of the side, at most 2.5 px), then one correction round (a click "
        "in the error region plus the previous logits as mask prompt); focal + Dice 20:1 on the "
        f"up-sampled logits, IoU head MSE; AdamW {config.lr:g} (weight decay "
        f"{config.weight_decay:g}), {run['warmup']} warm-up steps then cosine decay, gradients "
        f"clipped at norm 1{autocast}")
    held_out = (
        f"{config.test_scenes} scenes from seed 1, never seen in training; every segment (thing "
        "instance or connected stuff region of 32 pixels or more) prompted by one click at its "
        "most interior pixel (distance-transform maximum) or by its exact box; mean IoU over "
        "segments")
    write_model_card(
        config, model,
        title=f"Zoo model `{entry.model}` on synthetic scenes (promptable segmentation)",
        trained=trained_line(config, device, config.steps, run["minutes"]), recipe=recipe,
        held_out=held_out, table=metric_table(score, METRIC_NAMES))
    return model


RECIPE = Recipe(Task.PROMPTABLE, SamConfig, train, evaluate)
