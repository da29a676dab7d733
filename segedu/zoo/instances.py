"""The zoo's instance segmentation models: their data, their held-out score, their training.

Detection and instance models (Mask R-CNN, YOLACT) follow torchvision's API: ``model(images,
targets)`` returns a dict of losses in training, ``model(images)`` a list of detections in
evaluation (``boxes``, ``labels``, ``scores``, ``masks`` ``(N, 1, H, W)`` probabilities). This
module gives them the synthetic scenes in that form and scores them the COCO way.

- **Targets**: the scenes' *things* only (circle, rectangle, triangle, scene classes 3..5) become
  detection labels 1..3, with 0 the background, as torchvision's models expect; the boxes are the
  masks' pixel-edge boxes (``masks_to_boxes(..., pixel_edges=True)``: ``x2`` and ``y2`` one past
  the last pixel, a box that covers its mask, never of zero size).
- **Held-out split**: the same 500 scenes of 128 x 128 from seed 1 as the semantic zoo
  (:mod:`segedu.zoo.scores`), never seen in training.
- **Score**: mask mAP and box mAP (COCO's, :func:`segedu.metrics.mean_average_precision`, equal to
  pycocotools) at IoU 0.5 and averaged over 0.5:0.95; a predicted mask is its probability > 0.5.
- **Training** (:func:`train`, :class:`InstanceConfig`, :func:`train_detection`): batches from
  8000 scenes of seed 0, AdamW with a linear warm-up and a cosine decay, gradient norm clipped
  at 10, bfloat16 autocast on a GPU; a resume file every 100 steps, from which a stopped run
  continues as if it never stopped (a Mask R-CNN run of 800 steps takes hours on a CPU).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset

from ..data import SyntheticScenes
from ..engine import WarmupCosine, cycle, train_steps
from ..metrics import mean_average_precision
from ..ops import masks_to_boxes
from . import Task
from .cards import card_head, metric_table, quoted_card, trained_line, write_card
from .float16 import load_float32, save_float16
from .recipe import Recipe, TrainConfig, resume_run, save_resume
from .scores import SIZE, TEST_SCENES

__all__ = ["THING_NAMES", "detection_target", "instance_scenes", "held_out_instances", "predict",
           "evaluate_instances", "InstanceConfig", "load_earlier_run", "train_detection",
           "detection_card", "train", "evaluate", "RECIPE"]

THING_NAMES = ("background", "circle", "rectangle", "triangle")  # detection label -> name
_FIRST_THING = 3  # scene class of a circle: detection label = scene class - 2


def detection_target(target: dict) -> dict[str, torch.Tensor]:
    """A scene's target -> ``boxes`` (M, 4) float pixel-edge xyxy, ``labels`` (M,) int64 in 1..3,
    ``masks`` (M, H, W) uint8: the things, in torchvision's detection format."""
    masks = target["masks"].as_subclass(torch.Tensor).to(torch.uint8)  # (M, H, W)
    labels = target["labels"].as_subclass(torch.Tensor) - (_FIRST_THING - 1)  # 3..5 -> 1..3
    boxes = masks_to_boxes(masks.bool(), pixel_edges=True)  # cover the pixels
    return {"boxes": boxes, "labels": labels.long(), "masks": masks}


def _as_detection(image, target):
    return image.as_subclass(torch.Tensor), detection_target(target)


def instance_scenes(*, seed: int, length: int, size: int = SIZE) -> SyntheticScenes:
    """Scenes of ``seed`` as ``(image (3, S, S), detection target)`` items."""
    return SyntheticScenes(size=size, length=length, seed=seed, transforms=_as_detection)


def held_out_instances(length: int = TEST_SCENES) -> list[tuple[torch.Tensor,
                                                                dict[str, torch.Tensor]]]:
    """The first ``length`` scenes of the held-out split (seed 1), drawn once, as a list."""
    if not 1 <= length <= TEST_SCENES:
        raise ValueError(f"the held-out split has {TEST_SCENES} scenes; asked for {length}")
    scenes = instance_scenes(seed=1, length=length)
    return [scenes[i] for i in range(length)]


def _collate(batch):
    images, targets = zip(*batch, strict=True)
    return list(images), list(targets)


@torch.no_grad()
def predict(model: torch.nn.Module, images: Sequence[torch.Tensor],
            device: torch.device | str = "cpu",
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

    Returns ``mask_map_50``, ``mask_map`` (0.5:0.95), ``box_map_50``, ``box_map`` and the mask
    AP@0.5 of each thing class (``mask_ap_50_circle``, ...).
    """
    scenes = held_out_instances(length)
    detections = predict(model, [image for image, _ in scenes], device)
    targets = [target for _, target in scenes]
    masks = mean_average_precision(detections, [{**t, "masks": t["masks"].bool()} for t in targets],
                                   "segm", class_metrics=True)
    boxes = mean_average_precision(detections, targets, "bbox")
    # COCO's precision array (T, R, K, A, M): IoU 0.5 is T = 0, area "all" A = 0, 100 detections M =
    # -1
    precision = masks["precision"][0, :, :, 0, -1]  # (R, K)
    per_class = {}
    for k, label in enumerate(masks["classes"].tolist()):
        p = precision[:, k]
        ap = float(p[p > -1].mean()) if (p > -1).any() else float("nan")
        per_class[f"mask_ap_50_{THING_NAMES[label]}"] = ap
    return {"mask_map_50": float(masks["map_50"]), "mask_map": float(masks["map"]),
            "box_map_50": float(boxes["map_50"]), "box_map": float(boxes["map"]), **per_class}


@dataclass
class InstanceConfig(TrainConfig):
    """:class:`~segedu.zoo.recipe.TrainConfig` plus the detection recipe's settings.

    Args:
        scenes: training scenes (seed 0); test_scenes: held-out scenes scored.
        warmup: warm-up steps (from 1 % of ``lr``), before the cosine decay to 0.
        minutes: instead of ``steps``, train as many steps as fit in this many minutes: the
            speed of the warm-up's steps (whose rates do not depend on the length) decides the
            number, rounded down to a hundred (at least ``warmup + 100``); the card records it.
        workers: ``DataLoader`` worker processes.
        save_every: steps between two writes of the resume file (:attr:`resume_path`), from
            which a stopped run continues.
        init_from: start from this checkpoint (its card, beside it, is quoted in the new card);
            a panoptic model may start its instance branch from an instance model's.
    """

    tasks = (Task.INSTANCES,)
    positive = ("scenes", "test_scenes", "save_every")

    scenes: int = 8000
    test_scenes: int = TEST_SCENES
    warmup: int = 300
    minutes: float | None = None
    workers: int = 0
    save_every: int = 100
    init_from: Path | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.minutes is not None and not self.minutes > 0:
            raise ValueError(f"minutes must be positive, got {self.minutes!r}")
        if isinstance(self.workers, bool) or not isinstance(self.workers, int) or self.workers < 0:
            raise ValueError(f"workers must be a non-negative integer, got {self.workers!r}")
        if self.init_from is not None:
            self.init_from = Path(self.init_from)


def load_earlier_run(model: torch.nn.Module, path: Path, *, new_prefix: str | None = None
                     ) -> list[str]:
    """Load the float16 checkpoint ``path`` into ``model`` (a second run continues the first);
    return the card line that says so. ``new_prefix``: parameters under it may be missing from
    the checkpoint (a branch that the earlier model did not have), none other may."""
    try:
        missing, unexpected = model.load_state_dict(load_float32(path), strict=False)
    except RuntimeError as error:  # tensors of other shapes
        raise ValueError(f"{path} does not fit {type(model).__name__}: {error}") from None
    if unexpected or any(new_prefix is None or not k.startswith(new_prefix) for k in missing):
        raise ValueError(f"{path} does not fit {type(model).__name__}: missing {missing[:3]}, "
                         f"unexpected {unexpected[:3]}")
    fresh = f" (`{new_prefix}*` from random weights)" if missing else ""
    return [f"- started from the weights of an earlier run{fresh} "
            f"({path.name}: {quoted_card(path.with_suffix('.md'))})"]


def train_detection(model: torch.nn.Module, config: InstanceConfig, dataset: Dataset,
                    device: torch.device, log: Callable[[str], None] = print) -> dict[str, float]:
    """Train a detection-API ``model`` (``model(images, targets)`` -> dict of losses) on
    ``dataset`` with :func:`segedu.engine.train_steps`: batches of ``config.batch`` in a shuffled
    order of ``config.seed``, the sum of the model's losses, AdamW from ``config.lr`` (weight
    decay 1e-4), ``config.warmup`` warm-up steps from 1 % then cosine decay to 0, gradient norm
    clipped at 10, bfloat16 autocast on a GPU. Every ``config.save_every`` steps the run writes
    ``config.resume_path``; a run that finds one continues from it (weights, optimizer, schedule,
    the planned steps, the random state; the batches already trained on are drawn again and
    skipped, so the data order is that of a run that never stopped) and removes it at the end.
    Returns ``steps`` (planned from ``config.minutes`` when given), ``minutes`` (of every call of
    the run), the last loss and its terms."""
    model.to(device).train()
    loader = DataLoader(dataset, batch_size=config.batch, shuffle=True, drop_last=True,
                        collate_fn=_collate, num_workers=config.workers,
                        persistent_workers=config.workers > 0,
                        generator=torch.Generator().manual_seed(config.seed))
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=1e-4)
    timed = config.minutes is not None
    scheduler = WarmupCosine(optimizer, None if timed else config.steps,
                             warmup_steps=config.warmup, warmup_start=0.01)

    def compute_loss(batch):
        images, targets = batch
        images = [im.to(device, non_blocking=True) for im in images]
        targets = [{k: v.to(device, non_blocking=True) for k, v in t.items()} for t in targets]
        losses = model(images, targets)
        return sum(v.float() for v in losses.values()), losses

    batches = cycle(loader)
    saved: dict = {}  # what the resume file kept besides the weights and the schedule
    done, minutes = resume_run(config, model=model, optimizer=optimizer, scheduler=scheduler,
                               device=device, log=log, extras=saved)
    planning = timed and not done  # the warm-up's speed decides the steps, then saving starts
    planned = int(saved.get("planned", config.steps or 0))
    if done:
        for _ in range(done):  # the same data order as a run that never stopped
            next(batches)
        torch.set_rng_state(saved["rng"])  # as it was after the last saved step
    began = time.perf_counter()

    def save(step: int, values: dict[str, float]) -> None:
        if not planning and (step + 1) % config.save_every == 0 and step + 1 < planned:
            save_resume(config.resume_path, model=model, optimizer=optimizer,
                        scheduler=scheduler, step=step + 1, planned=planned,
                        minutes=minutes + (time.perf_counter() - began) / 60,
                        rng=torch.get_rng_state())

    common = dict(model=model, optimizer=optimizer, scheduler=scheduler, grad_clip=10.0,
                  device=device, amp_dtype=torch.bfloat16, log=log, after_step=save)
    config.out.mkdir(parents=True, exist_ok=True)
    if planning:  # time the warm-up, then lay out the decay over the steps that fit
        run = train_steps(compute_loss, batches, steps=config.warmup, **common)
        per_step = run["minutes"] * 60 / config.warmup
        planned = max(config.warmup + 100, int(config.minutes * 60 / per_step) // 100 * 100)
        scheduler.total_steps = planned
        done, minutes, planning = config.warmup, minutes + run["minutes"], False
        began = time.perf_counter()  # the resume file's minutes: the warm-up's, then these
        log(f"{per_step * 1000:.0f} ms per step: {planned} steps fit in {config.minutes:g} min")
    run = train_steps(compute_loss, batches, steps=planned, start=done, **common)
    config.resume_path.unlink(missing_ok=True)  # the run is complete
    return {**run, "minutes": minutes + run["minutes"]}


def evaluate(model: torch.nn.Module, device: torch.device | str = "cpu", *,
             length: int = TEST_SCENES) -> dict[str, float]:
    """:func:`evaluate_instances`: the recipe's score."""
    return evaluate_instances(model, device, length=length)


def train(config: InstanceConfig) -> torch.nn.Module:
    """Train instance model ``config.name`` (:func:`train_detection` on :func:`instance_scenes`
    of seed 0), score mask and box mAP on the held-out scenes, write its checkpoint and card to
    ``config.out``; return the trained model."""
    device, model = config.start()
    earlier = [] if config.init_from is None else load_earlier_run(model, config.init_from)
    run = train_detection(model, config, instance_scenes(seed=0, length=config.scenes), device)
    score = evaluate(model, device, length=config.test_scenes)
    save_float16(model, config.checkpoint_path)
    scored = (f"held-out split: {config.test_scenes} scenes from seed 1, never seen in training; "
              f"things only ({', '.join(THING_NAMES[1:])}); COCO mAP "
              "(`segedu.metrics.mean_average_precision`)")
    lines = detection_card(config, model, run, device, earlier=earlier, scored=scored,
                           kind="instance segmentation")
    write_card(config.card_path, [*lines, *metric_table(score)])
    return model


def detection_card(config: InstanceConfig, model: torch.nn.Module, run: dict[str, float],
                   device: torch.device, *, earlier: list[str], scored: str,
                   kind: str) -> list[str]:
    """The card of a model trained by :func:`train_detection`, up to its metric table."""
    return [
        *card_head(f"Zoo model `{config.name}` on synthetic scenes ({kind})", config.entry, model),
        trained_line(config, device, run["steps"], run["minutes"])
        + f" (reproduce with `--steps {run['steps']}`)",
        *earlier,
        f"- recipe: batch {config.batch} from {config.scenes} scenes of {SIZE}x{SIZE} (seed 0), "
        f"the model's own losses, AdamW {config.lr:g} (weight decay 1e-4), {config.warmup} "
        "warm-up steps then cosine decay, gradients clipped at norm 10"
        f"{', bfloat16 autocast' if device.type == 'cuda' else ''}",
        f"- {scored}",
        "",
    ]


RECIPE = Recipe(Task.INSTANCES, InstanceConfig, train, evaluate)
