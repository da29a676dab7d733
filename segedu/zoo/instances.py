"""The zoo's instance segmentation models: their data, their held-out score, their training.

Detection and instance models (Mask R-CNN, YOLACT) follow torchvision's API: ``model(images,
targets)`` returns a dict of losses in training, ``model(images)`` a list of detections in
evaluation (``boxes``, ``labels``, ``scores``, ``masks`` ``(N, 1, H, W)`` probabilities). This
module gives them the synthetic scenes in that form and scores them the COCO way.

- **Targets**: the scenes' *things* only (circle, rectangle, triangle, scene classes 3..5) become
  detection labels 1..3, with 0 the background, as torchvision's models expect; the boxes are the
  masks' pixel-edge boxes (``masks_to_boxes`` gives the centres of the extreme pixels, so one
  pixel is added to ``x2`` and ``y2``: a box that covers its mask, never of zero size).
- **Held-out split**: the same 500 scenes of 128 x 128 from seed 1 as the semantic zoo
  (:mod:`segedu.zoo.scores`), never seen in training.
- **Score**: mask mAP and box mAP (COCO's, :func:`segedu.metrics.mean_average_precision`, equal to
  pycocotools) at IoU 0.5 and averaged over 0.5:0.95; a predicted mask is its probability > 0.5.
- **Training** (:func:`train`): batches of 16 from 8000 scenes of seed 0, AdamW with a linear
  warm-up and a cosine decay, gradient norm clipped at 10, bfloat16 autocast on a GPU.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

import torch
from torch.utils.data import DataLoader

from ..data import SyntheticScenes
from ..metrics import mean_average_precision
from ..ops import masks_to_boxes
from .scores import SIZE, TEST_SCENES

__all__ = ["THING_NAMES", "detection_target", "instance_scenes", "held_out_instances", "predict",
           "evaluate_instances", "train"]

THING_NAMES = ("background", "circle", "rectangle", "triangle")  # detection label -> name
_FIRST_THING = 3  # scene class of a circle: detection label = scene class - 2


def detection_target(target: dict) -> dict[str, torch.Tensor]:
    """A scene's target -> ``boxes`` (M, 4) float pixel-edge xyxy, ``labels`` (M,) int64 in 1..3,
    ``masks`` (M, H, W) uint8: the things, in torchvision's detection format."""
    masks = target["masks"].as_subclass(torch.Tensor).to(torch.uint8)  # (M, H, W)
    labels = target["labels"].as_subclass(torch.Tensor) - (_FIRST_THING - 1)  # 3..5 -> 1..3
    boxes = masks_to_boxes(masks.bool()) + torch.tensor([0.0, 0.0, 1.0, 1.0])  # cover the pixels
    return {"boxes": boxes, "labels": labels.long(), "masks": masks}


def _as_detection(image, target):
    return image.as_subclass(torch.Tensor), detection_target(target)


def instance_scenes(*, seed: int, length: int, size: int = SIZE) -> SyntheticScenes:
    """Scenes of ``seed`` as ``(image (3, S, S), detection target)`` items."""
    return SyntheticScenes(size=size, length=length, seed=seed, transforms=_as_detection)


def held_out_instances(length: int = TEST_SCENES) -> list[tuple[torch.Tensor, dict[str, torch.Tensor]]]:
    """The first ``length`` scenes of the held-out split (seed 1), drawn once, as a list."""
    if not 1 <= length <= TEST_SCENES:
        raise ValueError(f"the held-out split has {TEST_SCENES} scenes; asked for {length}")
    scenes = instance_scenes(seed=1, length=length)
    return [scenes[i] for i in range(length)]


def _collate(batch):
    images, targets = zip(*batch, strict=True)
    return list(images), list(targets)


@torch.no_grad()
def predict(model: torch.nn.Module, images: Sequence[torch.Tensor], device: torch.device | str = "cpu",
            *, batch: int = 16) -> list[dict[str, torch.Tensor]]:
    """Detections of ``model`` (eval mode) for ``images``, on the CPU: ``boxes``, ``labels``,
    ``scores``, ``masks`` (N, H, W) bool (probability > 0.5)."""
    model.eval()
    detections = []
    for start in range(0, len(images), batch):
        chunk = [im.to(device) for im in images[start:start + batch]]
        for d in model(chunk):
            d = {k: v.float().cpu() if v.is_floating_point() else v.cpu() for k, v in d.items()}
            d["masks"] = d["masks"][:, 0] > 0.5  # (N, 1, H, W) probabilities -> (N, H, W) bool
            detections.append(d)
    return detections


def evaluate_instances(model: torch.nn.Module, device: torch.device | str = "cpu", *,
                       length: int = TEST_SCENES) -> dict[str, float]:
    """Mask and box mAP of ``model`` on the first ``length`` held-out scenes.

    Returns ``mask_map_50``, ``mask_map`` (0.5:0.95), ``box_map_50``, ``box_map`` and the mask AP@0.5
    of each thing class (``mask_ap_50_circle``, ...).
    """
    scenes = held_out_instances(length)
    detections = predict(model, [image for image, _ in scenes], device)
    targets = [target for _, target in scenes]
    masks = mean_average_precision(detections, [{**t, "masks": t["masks"].bool()} for t in targets], "segm",
                                   class_metrics=True)
    boxes = mean_average_precision(detections, targets, "bbox")
    # COCO's precision array (T, R, K, A, M): IoU 0.5 is T = 0, area "all" A = 0, 100 detections M = -1
    precision = masks["precision"][0, :, :, 0, -1]  # (R, K)
    per_class = {}
    for k, label in enumerate(masks["classes"].tolist()):
        p = precision[:, k]
        per_class[f"mask_ap_50_{THING_NAMES[label]}"] = float(p[p > -1].mean()) if (p > -1).any() else float("nan")
    return {"mask_map_50": float(masks["map_50"]), "mask_map": float(masks["map"]),
            "box_map_50": float(boxes["map_50"]), "box_map": float(boxes["map"]), **per_class}


def _schedule(step: int, steps: int, warmup: int) -> float:
    """Learning-rate factor: linear warm-up from 1 % over ``warmup`` steps, then cosine to 0."""
    if step < warmup:
        return 0.01 + 0.99 * step / warmup
    return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup)))


def train(model: torch.nn.Module, *, steps: int | None = None, minutes: float | None = None, lr: float = 1e-3,
          batch: int = 16, scenes: int = 8000, warmup: int = 300, device: torch.device | str = "cpu",
          workers: int = 0, log: Callable[[str], None] = print,
          dataset: torch.utils.data.Dataset | None = None) -> dict[str, float]:
    """Train a detection-API ``model`` on ``scenes`` synthetic scenes (seed 0); return what happened.

    ``dataset`` replaces the scenes' detection targets by others of the same scenes (Panoptic
    FPN's, :mod:`segedu.zoo.panoptic`).

    Give ``steps``, or ``minutes``: then the speed of the warm-up's steps (whose learning rate does
    not depend on the length) decides the number of steps that fit, rounded down to a hundred,
    before the cosine decay is laid out. Returns ``steps``, ``minutes`` and the last losses.
    """
    if (steps is None) == (minutes is None):
        raise ValueError("give either steps or minutes")
    device = torch.device(device)
    model.to(device).train()
    if dataset is None:
        dataset = instance_scenes(seed=0, length=scenes)
    loader = DataLoader(dataset, batch_size=batch, shuffle=True,
                        drop_last=True, collate_fn=_collate, num_workers=workers,
                        persistent_workers=workers > 0, generator=torch.Generator().manual_seed(0))
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    planned = steps if steps is not None else warmup  # until the warm-up has been timed
    step, start, losses = 0, time.perf_counter(), {}
    while step < planned:
        for images, targets in loader:
            if step == warmup and minutes is not None and steps is None:
                per_step = (time.perf_counter() - start) / warmup
                planned = max(warmup + 100, int(minutes * 60 / per_step) // 100 * 100)
                log(f"{per_step * 1000:.0f} ms per step: {planned} steps fit in {minutes:g} min")
            if step >= planned:
                break
            for group in optimizer.param_groups:
                group["lr"] = lr * _schedule(step, planned, warmup)
            images = [im.to(device, non_blocking=True) for im in images]
            targets = [{k: v.to(device, non_blocking=True) for k, v in t.items()} for t in targets]
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda"):
                loss_dict = model(images, targets)
            loss = sum(v.float() for v in loss_dict.values())
            if not torch.isfinite(loss):
                raise FloatingPointError(f"step {step}: the loss is {loss.item()} ({ {k: v.item() for k, v in loss_dict.items()} })")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
            optimizer.step()
            step += 1
            if step % 200 == 0 or step == planned:
                losses = {k: float(v.detach()) for k, v in loss_dict.items()}
                log(f"step {step}/{planned}: loss {loss.item():.3f} " + " ".join(f"{k} {v:.3f}" for k, v in losses.items()))
    return {"steps": planned, "minutes": (time.perf_counter() - start) / 60, **losses}
