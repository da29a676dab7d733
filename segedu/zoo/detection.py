"""The zoo's one-stage box detectors (RetinaNet, SSD): the instance recipe without the masks.

RetinaNet and SSD follow torchvision's detection API as the instance models do (``model(images,
targets)`` a dict of losses in training, ``model(images)`` a list of detections in evaluation,
here ``boxes``, ``labels`` and ``scores`` only), so this recipe is :mod:`segedu.zoo.instances`'
with boxes instead of masks:

- **Targets**: the scenes' things as boxes and labels 1..3 (:func:`~segedu.zoo.instances.
  detection_target` with ``masks=False``: the detectors' input transform would otherwise resize
  masks it never uses).
- **Held-out split**: the instance models' 500 scenes of seed 1, never seen in training.
- **Score**: box mAP (COCO's, :func:`segedu.metrics.mean_average_precision`) at IoU 0.5, the
  headline, and averaged over 0.5:0.95, with the box AP@0.5 of each thing class.
- **Training**: :func:`~segedu.zoo.instances.train_detection` (batches from 8000 scenes of seed
  0, the model's own losses, AdamW with warm-up and cosine decay, gradients clipped at 10,
  bfloat16 autocast on a GPU, a resume file every 100 steps), the family's one budget
  (``DETECTION_STEPS`` of ``DETECTION_BATCH`` in :mod:`segedu.zoo`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch

from ..metrics import mean_average_precision
from . import Task
from .instances import (
    THING_NAMES,
    InstanceConfig,
    class_ap_50,
    held_out_instances,
    instance_scenes,
    predict,
    run_detection,
)
from .recipe import Recipe
from .scores import TEST_SCENES

__all__ = ["DetectionConfig", "evaluate", "train", "RECIPE"]


@dataclass
class DetectionConfig(InstanceConfig):
    """:class:`~segedu.zoo.instances.InstanceConfig` (training scenes, held-out scenes, warm-up,
    minutes, workers, a checkpoint to start from) for the box detectors."""

    tasks = (Task.DETECTION,)


def evaluate(model: torch.nn.Module, device: torch.device | str = "cpu", *,
             length: int = TEST_SCENES) -> dict[str, float]:
    """Box mAP of ``model`` on the first ``length`` held-out scenes: ``box_map_50``,
    ``box_map`` (0.5:0.95) and the box AP@0.5 of each thing class (``box_ap_50_circle``, ...)."""
    scenes = held_out_instances(length)
    detections = predict(model, [image for image, _ in scenes], device)
    boxes = mean_average_precision(detections, [target for _, target in scenes], "bbox",
                                   class_metrics=True)
    return {"box_map_50": float(boxes["map_50"]), "box_map": float(boxes["map"]),
            **class_ap_50(boxes, "box_ap_50")}


def train(config: DetectionConfig) -> torch.nn.Module:
    """Train box detector ``config.name`` (:func:`~segedu.zoo.instances.run_detection` on the
    boxes of :func:`~segedu.zoo.instances.instance_scenes` of seed 0), score its box mAP on the
    held-out scenes, write its checkpoint and card to ``config.out``; return the trained model."""
    return run_detection(
        config, kind="object detection",
        scenes=lambda model: instance_scenes(seed=0, length=config.scenes, masks=False),
        score=functools.partial(evaluate, length=config.test_scenes),
        scored=f"held-out split: {config.test_scenes} scenes from seed 1, never seen in "
        f"training; things only ({', '.join(THING_NAMES[1:])}) as boxes; COCO box mAP "
        "(`segedu.metrics.mean_average_precision`)")


RECIPE = Recipe(Task.DETECTION, DetectionConfig, train, evaluate)
