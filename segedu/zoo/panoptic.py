"""The zoo's panoptic models: their data, their held-out score.

A panoptic model labels every pixel of a synthetic scene with a ``(category, instance)`` pair:
the stuff classes (sky, grass, water: scene classes 0..2) with instance 0, the things (circle,
rectangle, triangle: 3..5) with one id per object. This module gives the models their training
targets and scores them the way the panoptic papers do.

- **Targets**: each model makes its own from a scene's panoptic map (:func:`panoptic_scenes`
  with ``target=model.targets``). Panoptic FPN: Mask R-CNN's things plus a semantic map of
  stuff and "other"; Mask2Former: one binary mask and one class per *segment*, each stuff class
  present being one segment.
- **Held-out split**: the same 500 scenes of 128 x 128 from seed 1 as the semantic and instance
  zoo (:mod:`segedu.zoo.scores`), never seen in training.
- **Score** (:func:`evaluate_panoptic`): PQ, SQ and RQ over the split
  (:func:`segedu.metrics.panoptic_quality`, panopticapi's rules), with PQ of things and of stuff.
- **Training**: Panoptic FPN as the instance models (:func:`train_fpn`:
  :func:`segedu.zoo.instances.train_detection` on its own targets); Mask2Former with
  its set criterion (:func:`train_set_prediction`, :func:`train_mask2former`), and EoMT with
  the same recipe, its masked attention annealed by the model itself (``model.anneal``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch.utils.data import DataLoader

from ..data import SyntheticScenes
from ..data.synthetic_scenes import SCENE_STUFF, SCENE_THINGS
from ..engine import cycle
from ..metrics import panoptic_quality
from ..models.universal.mask2former import MaskSetCriterion
from . import Task
from .cards import CardText, metric_table
from .instances import InstanceConfig, run_detection
from .recipe import Recipe, TrainConfig, Training, adamw_cosine, step_recipe, train_run
from .scores import SIZE, TEST_SCENES

__all__ = ["panoptic_scenes", "held_out_panoptic",
           "evaluate_panoptic",
           "mask2former_panoptic", "PanopticFPNConfig", "evaluate_fpn", "train_fpn",
           "Mask2FormerConfig", "train_mask2former", "evaluate_mask2former",
           "train_set_prediction", "FPN_RECIPE", "MASK2FORMER_RECIPE", "stack_collate",
           "float_outputs", "set_prediction_card"]


def _plain(x):
    return x.as_subclass(torch.Tensor) if isinstance(x, torch.Tensor) else x


@dataclass(frozen=True)
class _PanopticItem:
    """The transform of :func:`panoptic_scenes`: ``(image, target(panoptic))`` of a scene. A class,
    not a lambda, so that the dataset pickles (DataLoader workers that spawn, not fork)."""

    target: Callable[[torch.Tensor], dict]

    def __call__(self, image, scene: dict) -> tuple[torch.Tensor, dict]:
        return _plain(image), self.target(_plain(scene["panoptic"]).permute(1, 2, 0))


def panoptic_scenes(*, seed: int, length: int, target: Callable[[torch.Tensor], dict],
                    size: int = SIZE) -> SyntheticScenes:
    """Scenes of ``seed`` as ``(image (3, S, S), target(panoptic))`` items, ``panoptic`` the
    scene's ``(S, S, 2)`` ``(category_id, instance_id)`` map and ``target`` a model's
    ``targets`` method (the universal family's: :mod:`segedu.models.universal.base`)."""
    return SyntheticScenes(size=size, length=length, seed=seed,
                           transforms=_PanopticItem(target))


def held_out_panoptic(length: int = TEST_SCENES, *, seed: int = 1
                      ) -> tuple[list[torch.Tensor], torch.Tensor]:
    """The first ``length`` held-out scenes (seed 1): images ``(3, S, S)`` and their panoptic ground
    truth ``(length, S, S, 2)`` ``(category_id, instance_id)``. ``seed`` 2 gives the validation
    split instead (:data:`segedu.zoo.calibration.VALIDATION_SEED`: never trained on, never
    scored), where a setting is chosen before the held-out split scores it."""
    if not 1 <= length <= TEST_SCENES:
        raise ValueError(f"the held-out split has {TEST_SCENES} scenes; asked for {length}")
    if seed == 0:
        raise ValueError("seed 0 is the training scenes; held out: 1, validation: 2")
    scenes = SyntheticScenes(size=SIZE, length=length, seed=seed)
    images, truth = [], []
    for i in range(length):
        image, target = scenes[i]
        images.append(_plain(image))
        truth.append(_plain(target["panoptic"]).permute(1, 2, 0))  # (2, H, W) -> (H, W, 2)
    return images, torch.stack(truth)


@torch.no_grad()
def evaluate_panoptic(predict: Callable[[list[torch.Tensor]], Sequence[torch.Tensor]], *,
                      length: int = TEST_SCENES, batch: int = 16, seed: int = 1,
                      scenes: tuple[list[torch.Tensor], torch.Tensor] | None = None
                      ) -> dict[str, float]:
    """PQ of a panoptic predictor on the first ``length`` held-out scenes (``seed`` 2: of the
    validation split, :func:`held_out_panoptic`). ``scenes``: that split when it was made already
    (``held_out_panoptic(length, seed=seed)``; a sweep scores it many times); ``None`` makes it.

    ``predict(images)`` takes a list of ``(3, S, S)`` images and returns one ``(S, S, 2)``
    ``(category_id, instance_id)`` map per image (category -1, or any id outside 0..5, is void).
    Returns ``pq``, ``sq``, ``rq``, ``pq_things``, ``pq_stuff`` and the PQ of each class
    (``pq_sky``, ...).
    """
    images, truth = held_out_panoptic(length, seed=seed) if scenes is None else scenes
    if len(images) != length or len(truth) != length:
        raise ValueError(f"scenes hold {len(images)} images and {len(truth)} maps; "
                         f"length is {length}")
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
                         object_mask_threshold: float = 0.8, overlap_threshold: float = 0.8,
                         outputs: dict | None = None) -> torch.Tensor:
    """Panoptic maps ``(B, H, W, 2)`` of a Mask2Former (eval mode) for same-size ``images``: the
    original's panoptic inference (the model's ``postprocess(outputs, task="panoptic")``,
    :meth:`~segedu.models.universal.mask2former.Mask2Former.panoptic_inference`) on the mask
    logits up-sampled to the image size, the scenes' things (3..5) as things. ``outputs``: the
    model's outputs for these ``images`` when they were computed already (a sweep over the
    thresholds reads one forward pass many times); ``None`` runs the model."""
    if outputs is None:
        outputs = model(torch.stack(images).to(next(model.parameters()).device))
    return model.postprocess(outputs, task="panoptic", things=SCENE_THINGS,
                             object_mask_threshold=object_mask_threshold,
                             overlap_threshold=overlap_threshold,
                             output_size=tuple(images[0].shape[-2:])).cpu()


def stack_collate(batch):
    """A batch of ``(image, target)`` items -> ``(images (B, 3, S, S), [target, ...])``."""
    images, targets = zip(*batch, strict=True)
    return torch.stack(images), list(targets)


@dataclass
class PanopticFPNConfig(InstanceConfig):
    """:class:`~segedu.zoo.instances.InstanceConfig` for Panoptic FPN (``init_from`` an instance
    model's checkpoint starts its instance branch; the semantic branch starts at random)."""

    tasks = (Task.PANOPTIC,)


def evaluate_fpn(model: torch.nn.Module, device: torch.device | str = "cpu", *,
                 length: int = TEST_SCENES) -> dict[str, float]:
    """:func:`evaluate_panoptic` of a Panoptic FPN (its ``"panoptic"`` output) in eval mode."""
    model.to(device).eval()
    return evaluate_panoptic(
        lambda images: [d["panoptic"] for d in model([im.to(device) for im in images])],
        length=length)


def train_fpn(config: PanopticFPNConfig) -> torch.nn.Module:
    """Train Panoptic FPN as the instance models (:func:`segedu.zoo.instances.run_detection`)
    on its own targets (:func:`panoptic_scenes` with ``model.targets``), from ``config.init_from``
    (an instance model's checkpoint: the semantic branch starts at random), score PQ on the
    held-out scenes, write its checkpoint and card to ``config.out``; return the trained
    model."""
    return run_detection(
        config, kind="panoptic segmentation", new_prefix="semantic_head.",
        scenes=lambda model: panoptic_scenes(seed=0, length=config.scenes,
                                             target=model.targets),
        score=functools.partial(evaluate_fpn, length=config.test_scenes),
        scored=f"held-out split: {config.test_scenes} scenes from seed 1, never seen in "
        "training; PQ, SQ, RQ over the split (`segedu.metrics.panoptic_quality`, panopticapi's "
        "rules)")


@dataclass
class Mask2FormerConfig(TrainConfig):
    """:class:`~segedu.zoo.recipe.TrainConfig` plus ``scenes`` (training scenes, seed 0),
    ``test_scenes`` (held-out scenes scored), ``num_points`` (points sampled per mask by the
    criterion), ``warmup`` (warm-up steps from 1 % of ``lr``), ``class_weight`` (the class
    term's weight in the loss and in the matching cost, the paper's 2 against 5 + 5 for the mask
    terms) and ``num_queries`` (``None``: the model's own, 50 for
    the zoo's Mask2Former; :mod:`segedu.zoo.query_diagnosis` finds several queries on each
    thing, and fewer queries is the hypothesis to test)."""

    tasks = (Task.SET_PREDICTION,)
    positive = ("scenes", "test_scenes", "num_points")

    scenes: int = 8000
    test_scenes: int = TEST_SCENES
    num_points: int = 1024
    warmup: int = 300
    class_weight: float = 2.0
    num_queries: int | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.class_weight > 0:
            raise ValueError(f"class_weight must be positive, got {self.class_weight!r}")
        if self.num_queries is not None and (isinstance(self.num_queries, bool) or not isinstance(
                self.num_queries, int) or self.num_queries < 1):
            raise ValueError(f"num_queries must be a positive integer, got {self.num_queries!r}")

    def model_kwargs(self) -> dict:
        """The entry's model, with ``num_queries`` queries where it is set."""
        kwargs = super().model_kwargs()
        if self.num_queries is not None:
            kwargs["num_queries"] = self.num_queries
        return kwargs


def train_mask2former(model: torch.nn.Module, config: Mask2FormerConfig, device: torch.device,
                      log: Callable[[str], None] = print) -> dict[str, float]:
    """Train a Mask2Former (or another model of the set criterion: EoMT) on ``config.scenes``
    synthetic scenes (seed 0) with its set criterion, through :func:`segedu.engine.train_steps`.

    The paper's recipe (Cheng et al., "Masked-attention Mask Transformer for Universal Image
    Segmentation", CVPR 2022) where it applies:
    :class:`~segedu.models.universal.mask2former.MaskSetCriterion` (class 2, mask BCE 5, Dice 5,
    no-object 0.1, every decoder layer supervised; ``config.class_weight`` sets the class term,
    in the loss and the matching cost), AdamW with weight decay 0.05, the gradient
    norm of the whole model clipped at 0.01. Changed for a slim model trained from scratch on
    128 px scenes: the learning rate (3e-4 instead of 1e-4, and no 0.1 factor on the backbone,
    which the paper uses for ImageNet weights), a linear warm-up and a cosine decay instead of
    the poly schedule, and ``num_points`` = 1024 points per mask (the 32 x 32 masks have 1024
    pixels; the paper's 12544 = 112^2 are for masks of 256 x 256). The model runs under bfloat16
    autocast on a GPU, the criterion in float32.

    A model with an ``anneal(progress)`` method (EoMT's mask annealing,
    :meth:`segedu.models.universal.eomt.Eomt.anneal`) is told after every step how far training
    has come (steps done over ``config.steps``): the model owns its schedule.

    The steps run through :func:`~segedu.zoo.recipe.train_run` (what they train with:
    :func:`mask2former_training`): every ``config.save_every`` steps it writes
    ``config.resume_path``; a run that finds one continues from it (same weights, optimizer,
    schedule, random state and data order: the batches already trained on are drawn again and
    skipped) and removes it at the end. Returns ``steps``, ``minutes`` (of every call of the
    run), the last weighted ``loss`` and its terms.
    """
    run = train_run(config, model, device, mask2former_training(model, config, device),
                    log=log)
    return run


def mask2former_training(model: torch.nn.Module, config: Mask2FormerConfig,
                         device: torch.device) -> Training:
    """What a Mask2Former (or EoMT) trains with (:func:`train_mask2former`): the scenes' segments
    in an order of ``config.seed``, the set criterion in float32, AdamW (weight decay 0.05) with
    ``config.warmup`` warm-up steps and a cosine decay, the gradient norm clipped at 0.01,
    bfloat16 autocast on a GPU; a model with ``anneal`` told its progress after every step."""
    model.to(device).train()
    criterion = MaskSetCriterion(num_classes=model.num_classes, num_points=config.num_points,
                                 class_weight=config.class_weight).to(device)
    loader = DataLoader(
        panoptic_scenes(seed=0, length=config.scenes, target=model.targets),
        batch_size=config.batch, shuffle=True, drop_last=True, collate_fn=stack_collate,
        generator=torch.Generator().manual_seed(config.seed))  # the data order: the run's seed
    optimizer, scheduler = adamw_cosine(model, config.lr, config.steps, weight_decay=0.05,
                                        warmup=config.warmup)
    anneal = getattr(model, "anneal", None)
    if anneal is not None:  # from the start; a resumed run gets the model's state back
        anneal(0.0)

    def compute_loss(batch):
        images, targets = batch
        images = images.to(device)
        targets = [{k: v.to(device) for k, v in t.items()} for t in targets]
        outputs = model(images)
        with torch.autocast(device_type=device.type, enabled=False):  # the loss in float32
            losses = criterion(float_outputs(outputs), targets)
        parts = {k: losses[k] for k in ("loss_ce", "loss_mask", "loss_dice")}
        return criterion.total(losses), parts

    def after_step(step: int, values: dict[str, float]) -> None:
        if anneal is not None:  # the model's schedule, at the progress reached
            anneal((step + 1) / config.steps)

    # the batches already trained on are drawn again and skipped by a resumed run
    return Training(compute_loss, cycle(loader), optimizer, scheduler, grad_clip=0.01, amp=True,
                    after_step=after_step)


def evaluate_mask2former(model: torch.nn.Module, device: torch.device | str = "cpu", *,
                         length: int = TEST_SCENES) -> dict[str, float]:
    """:func:`evaluate_panoptic` of :func:`mask2former_panoptic` in eval mode."""
    model.to(device).eval()
    return evaluate_panoptic(lambda images: mask2former_panoptic(model, images), length=length)


def set_prediction_card(config: Mask2FormerConfig, model: torch.nn.Module,
                        device: torch.device, run: dict, score: dict) -> CardText:
    """The card's words of a Mask2Former (or EoMT) run."""
    recipe = (
        f"batch {config.batch} from {config.scenes} scenes of {SIZE}x{SIZE} (seed 0), "
        f"one target per segment (stuff classes and things), {model.num_queries} queries, "
        "Mask2Former's set criterion (class "
        f"{config.class_weight:g}, mask BCE 5, Dice 5 on {config.num_points} importance-sampled "
        "points per mask, "
        f"no-object 0.1, every decoder layer), AdamW {config.lr:g} (weight decay 0.05), "
        f"{config.warmup} warm-up steps then cosine decay, gradient norm clipped at 0.01"
        f"{', bfloat16 autocast' if device.type == 'cuda' else ''}{_annealing_text(model)}")
    held_out = (f"{config.test_scenes} scenes from seed 1, never seen in training; panoptic "
                "inference of the paper (queries kept above 0.8, segments kept when 0.8 of their "
                "mask is theirs); PQ, SQ, RQ over the split (`segedu.metrics.panoptic_quality`, "
                "panopticapi's rules)")
    return CardText(f"Zoo model `{config.name}` on synthetic scenes (panoptic segmentation)",
                    recipe, held_out, metric_table(score))


def _annealing_text(model: torch.nn.Module) -> str:
    """The card's words for a model's mask annealing (EoMT), or nothing."""
    if not hasattr(model, "anneal"):
        return ""
    windows = ", ".join(f"{s:.2f}-{e:.2f}" for s, e in zip(*model.annealing, strict=True))
    return (f"; mask annealing of the {model.num_blocks} masked blocks (mask probability "
            f"(1 - t)^{model.annealing_power:g} within the windows {windows} of training, then 0)")


FPN_RECIPE = Recipe(Task.PANOPTIC, PanopticFPNConfig, train_fpn, evaluate_fpn)
MASK2FORMER_RECIPE = step_recipe(Task.SET_PREDICTION, Mask2FormerConfig, train=train_mask2former,
                                 evaluate=evaluate_mask2former, card=set_prediction_card,
                                 test_length="test_scenes")
train_set_prediction = MASK2FORMER_RECIPE.train  # the zoo's Mask2Former and EoMT


def float_outputs(outputs):
    """The outputs in float32 (the loss is computed outside autocast)."""
    if isinstance(outputs, torch.Tensor):
        return outputs.float()
    if isinstance(outputs, dict):
        return {k: float_outputs(v) for k, v in outputs.items()}
    if isinstance(outputs, list):
        return [float_outputs(v) for v in outputs]
    return outputs
