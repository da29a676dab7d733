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

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset

from ..data import SyntheticScenes
from ..engine import cycle, kept_state
from ..metrics import mean_average_precision
from ..ops import masks_to_boxes
from . import Task
from .cards import card_head, metric_table, quoted_card, trained_line
from .float16 import load_float32
from .recipe import Recipe, TrainConfig, Training, adamw_cosine, run_recipe, train_run
from .scores import SIZE, TEST_SCENES

__all__ = ["THING_NAMES", "detection_target", "instance_scenes", "held_out_instances", "predict",
           "evaluate_instances", "class_ap_50", "InstanceConfig", "load_earlier_run",
           "KeptItems", "detection_training", "train_detection", "detection_card",
           "run_detection", "train", "evaluate", "RECIPE"]

THING_NAMES = ("background", "circle", "rectangle", "triangle")  # detection label -> name
_FIRST_THING = 3  # scene class of a circle: detection label = scene class - 2


def detection_target(target: dict, *, masks: bool = True) -> dict[str, torch.Tensor]:
    """A scene's target -> ``boxes`` (M, 4) float pixel-edge xyxy, ``labels`` (M,) int64 in 1..3,
    ``masks`` (M, H, W) uint8 (left out with ``masks=False``, for box detectors): the things, in
    torchvision's detection format."""
    things = target["masks"].as_subclass(torch.Tensor).to(torch.uint8)  # (M, H, W)
    labels = target["labels"].as_subclass(torch.Tensor) - (_FIRST_THING - 1)  # 3..5 -> 1..3
    boxes = masks_to_boxes(things.bool(), pixel_edges=True)  # cover the pixels
    return {"boxes": boxes, "labels": labels.long(), **({"masks": things} if masks else {})}


def _as_detection(image, target):
    return image.as_subclass(torch.Tensor), detection_target(target)


def _as_boxes(image, target):
    return image.as_subclass(torch.Tensor), detection_target(target, masks=False)


def instance_scenes(*, seed: int, length: int, size: int = SIZE,
                    masks: bool = True) -> SyntheticScenes:
    """Scenes of ``seed`` as ``(image (3, S, S), detection target)`` items (without the masks
    with ``masks=False``)."""
    return SyntheticScenes(size=size, length=length, seed=seed,
                           transforms=_as_detection if masks else _as_boxes)


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
    ``scores``, and ``masks`` (N, H, W) bool (probability > 0.5) from a model that gives them."""
    model.eval()
    detections = []
    for start in range(0, len(images), batch):
        chunk = [im.to(device) for im in images[start:start + batch]]
        for d in model(chunk):
            d = {k: v.float().cpu() if v.is_floating_point() else v.cpu() for k, v in d.items()}
            if "masks" in d:  # (N, 1, H, W) probabilities -> (N, H, W) bool
                d["masks"] = d["masks"][:, 0] > 0.5
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
    return {"mask_map_50": float(masks["map_50"]), "mask_map": float(masks["map"]),
            "box_map_50": float(boxes["map_50"]), "box_map": float(boxes["map"]),
            **class_ap_50(masks, "mask_ap_50")}


def class_ap_50(result: dict, prefix: str) -> dict[str, float]:
    """AP@0.5 of each thing class, ``{f"{prefix}_circle": ..., ...}``, from
    :func:`~segedu.metrics.mean_average_precision`'s ``result`` (``class_metrics=True``); NaN
    for a class with no ground truth."""
    # COCO's precision array (T, R, K, A, M): IoU 0.5 is T = 0, area "all" A = 0, 100
    # detections M = -1
    precision = result["precision"][0, :, :, 0, -1]  # (R, K)
    per_class = {}
    for k, label in enumerate(result["classes"].tolist()):
        p = precision[:, k]
        ap = float(p[p > -1].mean()) if (p > -1).any() else float("nan")
        per_class[f"{prefix}_{THING_NAMES[label]}"] = ap
    return per_class


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
        init_from: start from this checkpoint (its card, beside it, is quoted in the new card);
            a panoptic model may start its instance branch from an instance model's.
    """

    tasks = (Task.INSTANCES,)
    positive = ("scenes", "test_scenes")

    scenes: int = 8000
    test_scenes: int = TEST_SCENES
    warmup: int = 300
    minutes: float | None = None
    workers: int = 0
    init_from: Path | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.minutes is not None and not self.minutes > 0:
            raise ValueError(f"minutes must be positive, got {self.minutes!r}")
        if isinstance(self.workers, bool) or not isinstance(self.workers, int) or self.workers < 0:
            raise ValueError(f"workers must be a non-negative integer, got {self.workers!r}")
        if self.init_from is not None:
            self.init_from = Path(self.init_from)


class KeptItems(Dataset):
    """``dataset``'s items, each drawn once and kept, given back as copies (a step may change
    its batch in place). A synthetic scene costs about 2 ms of CPU to draw, and a run of 2000
    steps of 32 draws each of 8000 scenes 8 times: kept, the scenes cost about 200 KB each
    (1.6 GB for 8000 scenes of 128 x 128 with their boxes) and the same batches come out."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset, self.items = dataset, {}

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        if index not in self.items:
            self.items[index] = self.dataset[index]
        return _copied(self.items[index])


def _copied(item):
    """``item`` (tensors in tuples, lists and dicts) with every tensor cloned."""
    if isinstance(item, torch.Tensor):
        return item.clone()
    if isinstance(item, dict):
        return {key: _copied(value) for key, value in item.items()}
    if isinstance(item, (tuple, list)):
        return type(item)(_copied(value) for value in item)
    return item


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


def detection_training(model: torch.nn.Module, config: InstanceConfig, dataset: Dataset,
                       device: torch.device, steps: int | None) -> Training:
    """What a detection-API model trains with (:func:`train_detection`): batches of
    ``config.batch`` in a shuffled order of ``config.seed``, the sum of the model's losses,
    AdamW (weight decay 1e-4) with ``config.warmup`` warm-up steps and a cosine decay to 0 at
    ``steps`` (``None``: laid out later), the gradient norm clipped at 10, bfloat16 autocast on
    a GPU. A resumed run draws the batches already trained on again and skips them. A run
    that draws more items than ``dataset`` has keeps each item after its first draw
    (:class:`KeptItems`)."""
    model.to(device).train()
    if steps is not None and steps * config.batch > len(dataset):
        dataset = KeptItems(dataset)
    loader = DataLoader(dataset, batch_size=config.batch, shuffle=True, drop_last=True,
                        collate_fn=_collate, num_workers=config.workers,
                        persistent_workers=config.workers > 0,
                        generator=torch.Generator().manual_seed(config.seed))
    optimizer, scheduler = adamw_cosine(model, config.lr, steps, weight_decay=1e-4,
                                        warmup=config.warmup)

    def compute_loss(batch):
        images, targets = batch
        images = [im.to(device, non_blocking=True) for im in images]
        targets = [{k: v.to(device, non_blocking=True) for k, v in t.items()} for t in targets]
        losses = model(images, targets)
        return sum(v.float() for v in losses.values()), losses

    return Training(compute_loss, cycle(loader), optimizer, scheduler, grad_clip=10.0, amp=True)


def train_detection(model: torch.nn.Module, config: InstanceConfig, dataset: Dataset,
                    device: torch.device, log: Callable[[str], None] = print) -> dict[str, float]:
    """Train a detection-API ``model`` (``model(images, targets)`` -> dict of losses) on
    ``dataset`` (:func:`detection_training`) through :func:`~segedu.zoo.recipe.train_run`:
    every ``config.save_every`` steps it writes ``config.resume_path``, and a run that finds one
    continues from it as if it never stopped (weights, optimizer, schedule, the planned steps,
    the random state, the data order), removing it at the end.

    With ``config.minutes``, the warm-up is timed first (no resume file yet) and the steps that
    fit in the minutes are laid out from its speed; the resume file keeps that plan. Returns
    ``steps`` (planned from ``config.minutes`` when given), ``minutes`` (of every call of the
    run), the last loss and its terms."""
    timed = config.minutes is not None
    plan = {"steps": config.steps}  # the steps of the run, kept in the resume file
    planned = _planned_steps(config) if timed else config.steps
    training = detection_training(model, config, dataset, device, planned)
    training.state["plan"] = plan
    if planned is not None:  # a run of known length, or a timed run that resumes
        plan["steps"] = planned
        return train_run(config, model, device, training, log=log, steps=planned)
    # time the warm-up, then lay out the decay over the steps that fit
    warm = train_run(config, model, device, training, log=log, steps=config.warmup, resume=False)
    per_step = warm["minutes"] * 60 / config.warmup
    plan["steps"] = max(config.warmup + 100, int(config.minutes * 60 / per_step) // 100 * 100)
    training.scheduler.total_steps = plan["steps"]
    log(f"{per_step * 1000:.0f} ms per step: {plan['steps']} steps fit in {config.minutes:g} min")
    run = train_run(config, model, device, training, log=log, steps=plan["steps"],
                    start=config.warmup)
    return {**run, "minutes": warm["minutes"] + run["minutes"]}


def _planned_steps(config: InstanceConfig) -> int | None:
    """The steps that a timed run laid out, as its resume file keeps them (``None``: no file)."""
    plan = kept_state(config.resume_path, "plan")
    return None if plan is None else int(plan["steps"])


def evaluate(model: torch.nn.Module, device: torch.device | str = "cpu", *,
             length: int = TEST_SCENES) -> dict[str, float]:
    """:func:`evaluate_instances`: the recipe's score."""
    return evaluate_instances(model, device, length=length)


def run_detection(config: InstanceConfig, *, scenes: Callable[[torch.nn.Module], Dataset],
                  score: Callable[[torch.nn.Module, torch.device], dict[str, float]],
                  kind: str, scored: str, new_prefix: str | None = None) -> torch.nn.Module:
    """The detection recipe (:func:`~segedu.zoo.recipe.run_recipe`): the model from
    ``config.init_from`` when given (:func:`load_earlier_run`, ``new_prefix`` its new branch),
    trained with :func:`train_detection` on ``scenes(model)``, scored by ``score``, its card
    (:func:`detection_card`, ``kind`` of segmentation, ``scored`` how) and checkpoint written;
    returns the trained model."""
    earlier: list[str] = []

    def train_model(model: torch.nn.Module, config: InstanceConfig, device: torch.device) -> dict:
        if config.init_from is not None:
            earlier.extend(load_earlier_run(model, config.init_from, new_prefix=new_prefix))
        return train_detection(model, config, scenes(model), device)

    def card(config, model, device, run, scores) -> list[str]:
        return [*detection_card(config, model, run, device, earlier=earlier, scored=scored,
                                kind=kind), *metric_table(scores)]

    return run_recipe(config, train=train_model, score=score, card=card)


def train(config: InstanceConfig) -> torch.nn.Module:
    """Train instance model ``config.name`` (:func:`run_detection` on :func:`instance_scenes`
    of seed 0), score mask and box mAP on the held-out scenes, write its checkpoint and card to
    ``config.out``; return the trained model."""
    return run_detection(
        config, kind="instance segmentation",
        scenes=lambda model: instance_scenes(seed=0, length=config.scenes),
        score=functools.partial(evaluate, length=config.test_scenes),
        scored=f"held-out split: {config.test_scenes} scenes from seed 1, never seen in "
        f"training; things only ({', '.join(THING_NAMES[1:])}); COCO mAP "
        "(`segedu.metrics.mean_average_precision`)")


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
