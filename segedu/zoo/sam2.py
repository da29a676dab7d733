"""The zoo's slim SAM 2: objects clicked on the first frame of a synthetic clip, tracked by the
memory through the others.

SAM 2 (Ravi et al., "SAM 2", 2024, section 5 and appendix) is trained on short clips: the first
frame is prompted, every later frame is segmented from the memory alone, and every frame is
supervised. This module trains ``sam2_slim`` (:mod:`segedu.models.foundation.sam2`) from scratch
that way on :class:`segedu.data.SyntheticVideos`, scaled down to 128 px clips and a CPU, and
scores propagation with J&F (:mod:`segedu.metrics.video`) on held-out clips (seed 1, never
trained on).

- **Clips**: ``frames`` frames (4) of 128 x 128 from ``clips`` clips of seed 0, drawn by the
  step's own random stream (so a resumed run draws the same batches); per clip up to ``objects``
  things (2) that are visible on frame 0, each tracked on its own.
- **Prompt** on frame 0 (:func:`segedu.zoo.sam.sample_prompts`, SAM's zoo recipe): with
  probability 1/2 a click drawn uniformly in the object's mask, else its box with Gaussian noise;
  a box enters SAM 2 as two corner points.
- **Tracking**: frame 0 is a conditioning frame (``no_mem_embed``); each later frame reads the
  memory bank (:func:`~segedu.models.foundation.sam2.gather_memory`: frame 0 and the recent
  frames, object pointers) through the memory attention, predicts without a prompt, and its
  predicted mask (sigmoid of the logits, as SAM 2 trains) becomes a memory in turn. Gradients
  flow through the whole clip, memories included.
- **Loss** per frame: focal + Dice (20:1) on the decoder's masks up-sampled to 128 x 128 (the
  lowest-loss of three where three are predicted, as SAM 2 and the zoo's SAM), only where the
  object is present; MSE of the IoU head; binary cross-entropy of the object score against
  "the object is visible on this frame" (SAM 2's occlusion head; a thing hidden or gone has no
  pixels). The masks are scored as predicted, before SAM 2 blanks the mask of an object it deems
  absent (that hard choice has no gradient).
- **Optimisation**: AdamW (weight decay 0.1), linear warm-up then cosine decay, gradient norm
  clipped at 1; every ``save_every`` steps the runner (:func:`segedu.zoo.recipe.train_run`)
  writes the resume file :attr:`Sam2Config.resume_path`, from which a stopped run continues.

**Score** (:func:`evaluate`): on ``test_clips`` held-out clips of 8 frames, every object visible on
frame 0 is clicked once at its most interior pixel (:func:`segedu.zoo.sam.interior_point`), then
propagated with :class:`~segedu.models.foundation.sam2.Sam2VideoPredictor`; each pixel takes the
object of highest logit where that logit is positive. J&F as DAVIS 2017 (first and last frames
left out, objects weighted alike). For comparison, the same frame-0 masks held still over the
clip (no tracking) and the region similarity J of frame 0 itself.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..data import SyntheticVideos
from ..metrics import JAndF, region_similarity
from ..models.foundation.sam2 import (
    FrameFeatures,
    FrameOutput,
    Sam2,
    Sam2VideoPredictor,
    box_to_points,
)
from . import Task
from .cards import CardText, metric_table
from .recipe import TrainConfig, Training, adamw_cosine, step_recipe, train_run
from .sam import dice_loss, focal_loss, interior_point, mask_iou, sample_prompts

__all__ = ["Sam2Config", "tracks_loss", "sam2_training", "train_sam2", "evaluate",
           "first_frame_ious", "train", "RECIPE", "SIZE",
           "TRAIN_FRAMES", "EVAL_FRAMES", "TRAIN_CLIPS", "EVAL_CLIPS", "METRIC_NAMES"]

SIZE = 128
TRAIN_FRAMES, EVAL_FRAMES = 4, 8
TRAIN_CLIPS, EVAL_CLIPS = 4000, 50
FOCAL_WEIGHT, DICE_WEIGHT = 20.0, 1.0
METRIC_NAMES = {
    "jf": "J&F, one click per object on frame 0, propagated",
    "j": "J, region similarity",
    "f": "F, contour accuracy",
    "jf_static": "J&F of the frame-0 masks held still, no tracking",
    "j_frame0": "J on frame 0, the clicked frame",
}


@dataclass
class Sam2Config(TrainConfig):
    """:class:`~segedu.zoo.recipe.TrainConfig` plus the video recipe (module docstring).

    Args:
        clips: training clips (seed 0); test_clips: held-out clips scored (seed 1).
        frames: frames per training clip; objects: objects tracked per clip.
        warmup: warm-up steps from 1 % of ``lr``; weight_decay: AdamW's. The base's ``seed``
            draws every random choice, its ``save_every`` spaces the resume file's writes.
    """

    tasks = (Task.VIDEO,)
    positive = ("clips", "test_clips", "frames", "objects")

    clips: int = TRAIN_CLIPS
    test_clips: int = EVAL_CLIPS
    frames: int = TRAIN_FRAMES
    objects: int = 2
    warmup: int = 200
    weight_decay: float = 0.1


def _normalise(model: Sam2, video: torch.Tensor) -> torch.Tensor:
    """Frames ``(T, 3, S, S)`` in [0, 1] -> the model's normalised input."""
    return (video - model.pixel_mean) / model.pixel_std


def _frame_losses(out: FrameOutput, truth: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-track losses ``(K,)`` of one frame: ``mask`` (focal x 20 + Dice of the best of the
    decoder's masks, 0 where the object is absent), ``iou`` (IoU-head MSE) and ``score``
    (object-score BCE); ``truth (K, S, S)`` bool."""
    present = truth.flatten(1).any(1)
    score = F.binary_cross_entropy_with_logits(out.object_score[:, 0], present.float(),
                                               reduction="none")
    # the masks at the image size, as predicted (before blanking): (K, M, S, S)
    logits = F.interpolate(out.multimasks, size=truth.shape[-2:], mode="bilinear",
                           align_corners=False)
    target = truth[:, None].expand_as(logits)
    per_mask = FOCAL_WEIGHT * focal_loss(logits, target) + DICE_WEIGHT * dice_loss(logits, target)
    mask = per_mask.min(dim=1).values * present
    true_iou = mask_iou(logits.detach() > 0, truth[:, None])
    iou = ((out.iou - true_iou) ** 2).mean(dim=1)
    return {"mask": mask, "iou": iou, "score": score, "present": present.float()}


def tracks_loss(model: Sam2, frames: FrameFeatures, truth: torch.Tensor,
                points: list[torch.Tensor], labels: list[torch.Tensor]) -> dict[str, torch.Tensor]:
    """Track ``K`` objects through clips of ``T`` frames (:meth:`Sam2.track
    <segedu.models.foundation.sam2.Sam2.track>`) and return the losses (module docstring),
    averaged over tracks and frames (the mask loss over the frames where the object is visible).

    Args:
        model: a :class:`~segedu.models.foundation.sam2.Sam2` in training mode.
        frames: the features of each track's frames, ``K * T`` of them, track by track
            (``frames.select(k * T + t)`` is frame ``t`` of track ``k``).
        truth: ``(K, T, S, S)`` bool, each object's visible mask on each frame.
        points, labels: each track's frame-0 prompt, ``(1, N_k, 2)`` and ``(1, N_k)`` (a click:
            ``N = 1``, three masks; a box as two corners: ``N = 2``, one mask).
    """
    num_tracks, num_frames = truth.shape[:2]
    outs, first = model.track(
        [frames.select([k * num_frames + t for k in range(num_tracks)])
         for t in range(num_frames)], list(zip(points, labels, strict=True)))
    # frame 0 per group of prompt size (their decoders' outputs differ), then the others
    losses = [_frame_losses(out, truth[rows, 0]) for rows, out in first]
    losses += [_frame_losses(out, truth[:, t]) for t, out in enumerate(outs) if t > 0]
    totals = {key: sum(part[key].sum() for part in losses)
              for key in ("mask", "iou", "score", "present")}
    count = num_tracks * num_frames
    return {"mask": totals["mask"] / max(float(totals["present"]), 1.0),
            "iou": totals["iou"] / count, "score": totals["score"] / count}


def _objects(masks: torch.Tensor, min_area: int) -> list[int]:
    """The indices of the things visible on frame 0 (``masks (T, N, S, S)``)."""
    return [n for n in range(masks.shape[1]) if int(masks[0, n].sum()) >= min_area]


def sam2_training(model: Sam2, config: Sam2Config, device: torch.device) -> Training:
    """What SAM 2 trains with (module docstring): clips of seed 0 and their prompts drawn by
    each step's own random stream (so a resumed run draws the same batches), the tracking
    losses, AdamW with a warm-up (``config.warmup``, or a fifth of a shorter run) and a cosine
    decay, gradients clipped at norm 1."""
    warmup = min(config.warmup, config.steps // 5)
    model.to(device).train()
    data = SyntheticVideos(size=SIZE, frames=config.frames, length=config.clips, seed=0)
    optimizer, scheduler = adamw_cosine(model, config.lr, config.steps,
                                        weight_decay=config.weight_decay, warmup=warmup)

    def batches(first: int):
        # step k's clips and prompts come from its own stream: a resumed run draws the same
        for step in range(first, config.steps):
            rng = np.random.default_rng([config.seed, step])
            yield rng, [data[int(i)] for i in rng.integers(len(data), size=config.batch)]

    def compute_loss(batch):
        rng, clips = batch
        videos, truths, points, labels, tracks = [], [], [], [], []
        for video, target in clips:
            masks = target["masks"].as_subclass(torch.Tensor)  # (T, N, S, S)
            visible = _objects(masks, data.min_area)
            chosen = [visible[i] for i in rng.permutation(len(visible))[:config.objects]]
            if not chosen:
                continue
            videos.append(video.as_subclass(torch.Tensor))
            prompts = sample_prompts(masks[0, chosen], len(chosen), rng)
            for k, index in enumerate(prompts["index"].tolist()):
                if prompts["is_point"][k]:
                    points.append(prompts["points"][k].reshape(1, 1, 2).to(device))
                    labels.append(torch.ones(1, 1, dtype=torch.int64, device=device))
                else:
                    corners, corner_labels = box_to_points(prompts["boxes"][k][None])
                    points.append(corners.to(device))
                    labels.append(corner_labels.to(device))
                truths.append(masks[:, chosen[index]])
                tracks.append(len(videos) - 1)
        # every frame of every clip encoded once, then one row per track and frame
        frames = model.encode_image(_normalise(model, torch.cat(videos).to(device)))
        num_frames = videos[0].shape[0]
        frames = frames.select([c * num_frames + t for c in tracks for t in range(num_frames)])
        parts = tracks_loss(model, frames, torch.stack(truths).to(device), points, labels)
        return parts["mask"] + parts["iou"] + parts["score"], parts

    return Training(compute_loss, batches, optimizer, scheduler, grad_clip=1.0, log_every=50,
                    facts={"warmup": warmup})


def train_sam2(model: Sam2, config: Sam2Config, device: torch.device,
               log: Callable[[str], None] | None = print) -> dict[str, float]:
    """Train a SAM 2 (:func:`sam2_training`) through :func:`~segedu.zoo.recipe.train_run`,
    which resumes a stopped run from :attr:`Sam2Config.resume_path`. Returns ``steps``,
    ``warmup``, ``minutes`` (of every call of the run) and the last losses."""
    run = train_run(config, model, device, sam2_training(model, config, device), log=log)
    model.eval()
    return run


@torch.no_grad()
def evaluate(model: Sam2, device: torch.device | str = "cpu", *, length: int = EVAL_CLIPS,
             frames: int = EVAL_FRAMES) -> dict[str, float]:
    """J&F of ``model`` on the first ``length`` held-out clips (seed 1) of ``frames`` frames,
    one click per object on frame 0 (module docstring); also J&F of the frame-0 masks held still
    and the mean J of frame 0."""
    if not 1 <= length:
        raise ValueError(f"length must be at least 1, got {length}")
    model.to(device).eval()
    predictor = Sam2VideoPredictor(model)
    clips = SyntheticVideos(size=SIZE, frames=frames, length=length, seed=1)
    tracked, static = JAndF(), JAndF()
    first = []
    for i in range(length):
        video, target = clips[i]
        instances = target["instances"].as_subclass(torch.Tensor)  # (T, S, S)
        ids = sorted(int(v) for v in instances[0].unique() if v != 0)
        if not ids:
            continue
        state = predictor.init_state(video.as_subclass(torch.Tensor).to(device))
        clicks = [[interior_point(instances[0] == k).tolist()] for k in ids]
        predictor.add_points(state, frame_idx=0, obj_ids=ids, points=clicks,
                             labels=[[1]] * len(ids))
        maps = []
        for out in predictor.propagate(state):
            logits = predictor.upscale(state, out).cpu()  # (K, S, S)
            best = logits.argmax(0)
            maps.append(torch.where(logits.max(0).values > 0, torch.tensor(ids)[best], 0))
        pred = torch.stack(maps)
        tracked.update(pred, instances)
        static.update(pred[:1].expand_as(pred), instances)
        first += [float(region_similarity(pred[0] == k, instances[0] == k)) for k in ids]
    scores, held = tracked.compute(), static.compute()
    return {"jf": scores["J&F-Mean"], "j": scores["J-Mean"], "f": scores["F-Mean"],
            "jf_static": held["J&F-Mean"],
            "j_frame0": float(np.mean(first)) if first else math.nan}


@torch.no_grad()
def first_frame_ious(model: Sam2, device: torch.device | str = "cpu", *,
                     length: int = EVAL_CLIPS) -> dict[str, float]:
    """A diagnosis of the clicked frame alone: on frame 0 of the first ``length`` held-out clips,
    each object clicked at its most interior pixel as a single image
    (:meth:`~segedu.models.foundation.sam2.Sam2.predict_image`, three masks): the mean IoU of the
    mask the IoU head ranks first (``ranked``) and of the best of the three (``oracle``), over
    ``objects`` objects. Unlike :func:`evaluate`, the objects do not compete for pixels."""
    model.to(device).eval()
    clips = SyntheticVideos(size=SIZE, frames=1, length=length, seed=1)
    ranked, oracle = [], []
    for i in range(length):
        video, target = clips[i]
        instances = target["instances"].as_subclass(torch.Tensor)[0]
        image = _normalise(model, video.as_subclass(torch.Tensor).to(device))
        for k in sorted(int(v) for v in instances.unique() if v != 0):
            truth = instances == k
            click = interior_point(truth).view(1, 1, 2).to(device)
            masks, iou, _ = model.predict_image(image, points=click,
                                                labels=torch.ones(1, 1, dtype=torch.int64,
                                                                  device=device))
            masks = F.interpolate(masks, size=truth.shape, mode="bilinear",
                                  align_corners=False)[0].cpu() > 0
            ious = mask_iou(masks, truth)  # (3,)
            ranked.append(float(ious[iou[0].argmax()]))
            oracle.append(float(ious.max()))
    return {"ranked": float(np.mean(ranked)), "oracle": float(np.mean(oracle)),
            "objects": float(len(ranked))}


def _card(config: Sam2Config, model: Sam2, device: torch.device, run: dict,
          score: dict) -> CardText:
    recipe = (
        f"batch {config.batch} clips of {config.frames} frames of {SIZE}x{SIZE} from "
        f"{config.clips} synthetic clips (seed 0, drawn on the fly), up to {config.objects} "
        "things visible on frame 0 per clip, each prompted on frame 0 by a click (uniform in the "
        "mask) or a noisy box, then tracked through the clip by the memory alone (predicted "
        "masks as memories, gradients through the whole clip); per frame focal + Dice 20:1 on "
        "the up-sampled masks (lowest-loss of three) where the object is visible, IoU head MSE, "
        f"object-score BCE; AdamW {config.lr:g} (weight decay {config.weight_decay:g}), "
        f"{run['warmup']} warm-up steps then cosine decay, gradients clipped at norm 1")
    held_out = (
        f"{config.test_clips} clips of {EVAL_FRAMES} frames from seed 1, never seen in training; "
        "every thing visible on frame 0 clicked once at its most interior pixel, then "
        "propagated; J&F as DAVIS 2017 (first and last frames left out, objects weighted alike)")
    return CardText(f"Zoo model `{config.entry.model}` on synthetic videos (promptable video "
                    "segmentation)", recipe, held_out, metric_table(score, METRIC_NAMES))


RECIPE = step_recipe(Task.VIDEO, Sam2Config, train=train_sam2, evaluate=evaluate, card=_card,
                     test_length="test_clips")
"""The recipe of the zoo's SAM 2, for ``python -m segedu.zoo.train sam2_slim``."""
train = RECIPE.train
