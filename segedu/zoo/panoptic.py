"""The zoo's panoptic models: their data, their held-out score.

A panoptic model labels every pixel of a synthetic scene with a ``(category, instance)`` pair:
the stuff classes (sky, grass, water: scene classes 0..2) with instance 0, the things (circle,
rectangle, triangle: 3..5) with one id per object. This module gives the models their training
targets and scores them the way the panoptic papers do.

- **Targets**: :func:`panoptic_fpn_target` (Panoptic FPN: Mask R-CNN's things plus a semantic
  map of stuff and "other") and :func:`segments_target` (Mask2Former and other set predictors:
  one binary mask and one class per *segment*, each stuff class present being one segment).
- **Held-out split**: the same 500 scenes of 128 x 128 from seed 1 as the semantic and instance
  zoo (:mod:`segedu.zoo.scores`), never seen in training.
- **Score** (:func:`evaluate_panoptic`): PQ, SQ and RQ over the split
  (:func:`segedu.metrics.panoptic_quality`, panopticapi's rules), with PQ of things and of stuff.
- **Training**: Panoptic FPN as the instance models (:func:`segedu.zoo.instances.train` on
  :func:`panoptic_fpn_target`); Mask2Former with its set criterion (:func:`train_mask2former`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import torch

from ..data import SyntheticScenes
from ..data.synthetic_scenes import SCENE_STUFF, SCENE_THINGS
from ..metrics import panoptic_quality
from .instances import detection_target
from .scores import SIZE, TEST_SCENES

__all__ = ["panoptic_fpn_target", "segments_target", "panoptic_scenes", "held_out_panoptic", "evaluate_panoptic",
           "mask2former_panoptic", "train_mask2former"]


def _plain(x):
    return x.as_subclass(torch.Tensor) if isinstance(x, torch.Tensor) else x


def panoptic_fpn_target(target: dict) -> dict[str, torch.Tensor]:
    """A scene's target -> Panoptic FPN's: :func:`~segedu.zoo.instances.detection_target` (things,
    labels 1..3) plus ``semantic`` ``(H, W)`` int64: 0 "other" on things, 1..3 sky, grass, water."""
    from ..models.universal.panoptic_fpn import scene_semantic_target

    return {**detection_target(target), "semantic": scene_semantic_target(_plain(target["semantic"]))}


def segments_target(target: dict) -> dict[str, torch.Tensor]:
    """A scene's target -> one entry per segment: ``labels`` ``(M,)`` int64 scene classes (0..5) and
    ``masks`` ``(M, H, W)`` bool; the stuff segments (one per stuff class present) come first,
    then the things in instance order."""
    semantic = _plain(target["semantic"])
    stuff = [k for k in SCENE_STUFF if (semantic == k).any()]
    stuff_masks = [semantic == k for k in stuff]
    thing_masks = list(_plain(target["masks"]).bool())
    labels = torch.tensor(stuff + _plain(target["labels"]).tolist(), dtype=torch.int64)
    masks = torch.stack(stuff_masks + thing_masks) if stuff_masks or thing_masks else \
        torch.zeros((0, *semantic.shape), dtype=torch.bool)
    return {"labels": labels, "masks": masks}


def panoptic_scenes(*, seed: int, length: int, target: Callable[[dict], dict] = segments_target,
                    size: int = SIZE) -> SyntheticScenes:
    """Scenes of ``seed`` as ``(image (3, S, S), target(scene target))`` items."""
    return SyntheticScenes(size=size, length=length, seed=seed,
                           transforms=lambda image, t: (_plain(image), target(t)))


def held_out_panoptic(length: int = TEST_SCENES) -> tuple[list[torch.Tensor], torch.Tensor]:
    """The first ``length`` held-out scenes (seed 1): images ``(3, S, S)`` and their panoptic ground
    truth ``(length, S, S, 2)`` ``(category_id, instance_id)``."""
    if not 1 <= length <= TEST_SCENES:
        raise ValueError(f"the held-out split has {TEST_SCENES} scenes; asked for {length}")
    scenes = SyntheticScenes(size=SIZE, length=length, seed=1)
    images, truth = [], []
    for i in range(length):
        image, target = scenes[i]
        images.append(_plain(image))
        truth.append(_plain(target["panoptic"]).permute(1, 2, 0))  # (2, H, W) -> (H, W, 2)
    return images, torch.stack(truth)


@torch.no_grad()
def evaluate_panoptic(predict: Callable[[list[torch.Tensor]], Sequence[torch.Tensor]], *,
                      length: int = TEST_SCENES, batch: int = 16) -> dict[str, float]:
    """PQ of a panoptic predictor on the first ``length`` held-out scenes.

    ``predict(images)`` takes a list of ``(3, S, S)`` images and returns one ``(S, S, 2)``
    ``(category_id, instance_id)`` map per image (category -1, or any id outside 0..5, is void).
    Returns ``pq``, ``sq``, ``rq``, ``pq_things``, ``pq_stuff`` and the PQ of each class
    (``pq_sky``, ...).
    """
    images, truth = held_out_panoptic(length)
    maps = []
    for start in range(0, length, batch):
        maps += [torch.as_tensor(m).cpu().long() for m in predict(images[start:start + batch])]
    score = panoptic_quality(torch.stack(maps), truth, things=SCENE_THINGS, stuffs=SCENE_STUFF)
    out = {key: float(score[key]) for key in ("pq", "sq", "rq", "pq_things", "pq_stuff")}
    for category in (*SCENE_STUFF, *SCENE_THINGS):
        out[f"pq_{SyntheticScenes.classes[category]}"] = float(score["per_class"][category]["pq"])
    return out


@torch.no_grad()
def mask2former_panoptic(model: torch.nn.Module, images: list[torch.Tensor], *,
                         object_mask_threshold: float = 0.8, overlap_threshold: float = 0.8) -> torch.Tensor:
    """Panoptic maps ``(B, H, W, 2)`` of a Mask2Former (eval mode) for same-size ``images``: the
    original's panoptic inference (:func:`segedu.models.universal.mask2former.panoptic_inference`) on the mask
    logits up-sampled to the image size, the scenes' things (3..5) as things."""
    from ..models.universal.mask2former import panoptic_inference

    device = next(model.parameters()).device
    batch = torch.stack(images).to(device)
    outputs = model(batch)
    return panoptic_inference(outputs["pred_logits"], outputs["pred_masks"], things=SCENE_THINGS,
                              object_mask_threshold=object_mask_threshold, overlap_threshold=overlap_threshold,
                              output_size=tuple(batch.shape[-2:])).cpu()


def _stack_collate(batch):
    images, targets = zip(*batch, strict=True)
    return torch.stack(images), list(targets)


def train_mask2former(model: torch.nn.Module, *, steps: int, lr: float = 3e-4, batch: int = 8, scenes: int = 8000,
                      num_points: int = 1024, warmup: int = 300, device: torch.device | str = "cpu",
                      log: Callable[[str], None] = print) -> dict[str, float]:
    """Train a Mask2Former on ``scenes`` synthetic scenes (seed 0) with its set criterion.

    The paper's recipe where it applies: :class:`~segedu.models.universal.mask2former.MaskSetCriterion`
    (class 2, mask BCE 5, Dice 5, no-object 0.1, every decoder layer supervised), AdamW with weight
    decay 0.05, the gradient norm of the whole model clipped at 0.01. Changed for a slim model trained
    from scratch on 128 px scenes: the learning rate (3e-4 instead of 1e-4, and no 0.1 factor on the
    backbone, which the paper uses for ImageNet weights), a linear warm-up and a cosine decay
    instead of the poly schedule, and ``num_points`` = 1024 points per mask (the 32 x 32 masks
    have 1024 pixels; the paper's 12544 = 112^2 are for masks of 256 x 256). Returns ``steps``,
    ``minutes`` and the last weighted loss.
    """
    from ..models.universal.mask2former import MaskSetCriterion
    from .instances import _schedule

    device = torch.device(device)
    model.to(device).train()
    criterion = MaskSetCriterion(num_classes=model.num_classes, num_points=num_points).to(device)
    loader = torch.utils.data.DataLoader(
        panoptic_scenes(seed=0, length=scenes, target=segments_target), batch_size=batch, shuffle=True,
        drop_last=True, collate_fn=_stack_collate, generator=torch.Generator().manual_seed(0))
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.05)
    step, start, last = 0, time.perf_counter(), float("nan")
    while step < steps:
        for images, targets in loader:
            if step >= steps:
                break
            for group in optimizer.param_groups:
                group["lr"] = lr * _schedule(step, steps, warmup)
            images = images.to(device)
            targets = [{k: v.to(device) for k, v in t.items()} for t in targets]
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda"):
                outputs = model(images)
            losses = criterion(_float(outputs), targets)
            loss = criterion.total(losses)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"step {step}: the loss is {loss.item()}")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 0.01)
            optimizer.step()
            step += 1
            if step % 200 == 0 or step == steps:
                last = float(loss.detach())
                ce, mask, dice = (float(losses[k].detach()) for k in ("loss_ce", "loss_mask", "loss_dice"))
                log(f"step {step}/{steps}: loss {last:.3f} (ce {ce:.3f}, mask {mask:.3f}, dice {dice:.3f})")
    return {"steps": steps, "minutes": (time.perf_counter() - start) / 60, "loss": last}


def _float(outputs):
    """The outputs in float32 (the loss is computed outside autocast)."""
    if isinstance(outputs, torch.Tensor):
        return outputs.float()
    if isinstance(outputs, dict):
        return {k: _float(v) for k, v in outputs.items()}
    if isinstance(outputs, list):
        return [_float(v) for v in outputs]
    return outputs
