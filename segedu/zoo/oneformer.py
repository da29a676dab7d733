"""The zoo's OneFormer: one model trained once for the three tasks, told the task by a token.

OneFormer (Jain, Li, Chiu, Hassani, Orlov & Shi, CVPR 2023, Sec. 3) trains ONE network on
panoptic annotations only: for every training image it draws a task uniformly from semantic,
instance and panoptic, derives that task's segments from the panoptic annotation
(:func:`task_targets`), tells the network the task with the prompt "the task is {task}" (the task
token) and writes the image's text list for the query-text contrastive loss. This recipe follows
it on the synthetic scenes, beside the zoo's Mask2Former (:mod:`segedu.zoo.panoptic`), and
shares that recipe's data, set criterion, optimiser and held-out split.

- **Targets per task** (:func:`task_targets`, the paper's Sec. 3.1): *panoptic*, one mask per
  stuff class present and per thing (Mask2Former's targets); *semantic*, one mask per class
  present, the things of a class merged; *instance*, one mask per thing, the stuff left out.
- **Batches** (:func:`task_batches`): the scenes in an order of the run's seed, a task drawn per
  image from a generator of that seed, the targets and the text lists derived from them.
- **Loss**: Mask2Former's set criterion (class 2, mask BCE 5, Dice 5, no-object 0.1, on 1024
  points, every layer) on each image's own task targets, plus 0.5 x the query-text contrastive
  loss (the paper's weight).
- **Text mapper, training only**: the paper runs it in training and drops it at inference; the
  recipe adds one (:data:`TEXT_MAPPER`) to the entry's inference network before training and
  removes it before the checkpoint is written, so the shipped checkpoint is the inference network
  (as the published ones: the text mapper's CLIP token table alone would hold 3.2 M of its
  parameters).
- **Score** (:func:`evaluate_oneformer`): one set of weights asked the three tasks on the
  held-out scenes, each with its prompt and Mask2Former's read-out of that task: PQ (panoptic),
  mIoU (semantic) and mask mAP (instance).

Where a small run simplifies the paper: a slim Swin (stage widths 16 to 128, those of the zoo
Mask2Former's ResNet-18 at width 16), 16 queries with the task token one of them (the paper:
150), a text mapper of width 64 with 2 layers and 4 learned context entries (the paper: 256, 6
and 16), texts of 16 tokens (77), batch 8 (16), from scratch on 128 px scenes with the zoo's
Mask2Former optimiser (AdamW, warm-up and cosine decay instead of the poly schedule).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
from torch.utils.data import DataLoader

from ..data import SyntheticScenes
from ..data.synthetic_scenes import SCENE_THINGS
from ..engine import cycle
from ..metrics import iou_per_class, mean_average_precision
from ..models.universal.base import TASKS, UniversalModel
from ..models.universal.mask2former import MaskSetCriterion
from ..models.universal.oneformer import OneFormer, TextMapper
from .cards import CardText, metric_table
from .instances import held_out_instances
from .panoptic import (
    Mask2FormerConfig,
    evaluate_panoptic,
    float_outputs,
    held_out_panoptic,
    mask2former_panoptic,
    panoptic_scenes,
    stack_collate,
)
from .recipe import Training, adamw_cosine, train_run
from .scores import SIZE, TEST_SCENES

__all__ = ["TEXT_MAPPER", "task_targets", "task_batches", "oneformer_training", "train_oneformer",
           "evaluate_oneformer", "oneformer_card"]

# the training-time text mapper: width = the query width (64), 2 layers, texts of 16 tokens ("a
# photo with a rectangle" is 8), 4 learned context entries, so 16 - 4 = 12 texts an image (a scene
# has 5 to 11 segments)
TEXT_MAPPER = dict(width=64, context_length=16, num_layers=2, num_ctx=4)


def task_targets(panoptic: torch.Tensor, task: str, *, num_classes: int = 6,
                 things: tuple[int, ...] = SCENE_THINGS) -> dict[str, torch.Tensor]:
    """One image's segments for ``task``, derived from its panoptic map ``(H, W, 2)`` int64
    ``(category_id, instance_id)`` (the paper's Sec. 3.1): ``labels`` ``(M,)`` int64 and
    ``masks`` ``(M, H, W)`` bool, sorted as Mask2Former's targets (instance id, then class).

    - ``"panoptic"``: every stuff class present and every thing (Mask2Former's targets);
    - ``"semantic"``: one segment per class present, all things of a class merged;
    - ``"instance"``: the things only.

    Categories outside ``0 .. num_classes - 1`` are void (in no segment).
    """
    UniversalModel.check_task(task)
    thing_ids = torch.tensor(things, dtype=torch.int64, device=panoptic.device)
    if task == "semantic":  # forget the instance ids: one segment per class
        panoptic = torch.stack([panoptic[..., 0], torch.zeros_like(panoptic[..., 1])], dim=-1)

    def keep(category: torch.Tensor, _instance: torch.Tensor) -> torch.Tensor:
        valid = (category >= 0) & (category < num_classes)
        return valid & torch.isin(category, thing_ids) if task == "instance" else valid

    _, _, pairs, masks = UniversalModel.panoptic_segments(panoptic, keep)
    return {"labels": pairs[:, 1].clone(), "masks": masks}


def task_batches(model: OneFormer, loader: DataLoader, *, seed: int,
                 class_names: tuple[str, ...] = SyntheticScenes.classes
                 ) -> Iterator[tuple[torch.Tensor, list[dict], list[str], torch.Tensor]]:
    """The batches of ``loader`` (images ``(B, 3, S, S)`` and panoptic maps ``(S, S, 2)``),
    epoch after epoch, as ``(images, targets, tasks, text_ids)``: a task drawn uniformly per
    image from a generator of ``seed`` (drawn again, identically, when a resumed run skips the
    batches it trained on), its :func:`task_targets` and the text lists' token ids
    ``(B, T, L)`` (:meth:`~segedu.models.universal.oneformer.OneFormer.text_ids`), on the CPU."""
    generator = torch.Generator().manual_seed(seed)
    for images, maps in cycle(loader):
        draws = torch.randint(len(TASKS), (len(maps),), generator=generator).tolist()
        tasks = [TASKS[d] for d in draws]
        targets = [task_targets(m, t, num_classes=model.num_classes)
                   for m, t in zip(maps, tasks, strict=True)]
        text_ids = model.text_ids([t["labels"].tolist() for t in targets],
                                  class_names=class_names, tasks=tasks)
        yield images, targets, tasks, text_ids


def oneformer_training(model: OneFormer, config: Mask2FormerConfig,
                       device: torch.device) -> Training:
    """What the zoo's OneFormer trains with: the scenes of seed 0 in an order of ``config.seed``,
    a task per image (:func:`task_batches`), Mask2Former's set criterion in float32 on each
    image's task targets plus ``model.contrastive_weight`` (0.5) x the query-text contrastive
    loss, AdamW (weight decay 0.05) with ``config.warmup`` warm-up steps and a cosine decay, the
    gradient norm clipped at 0.01, bfloat16 autocast on a GPU (the zoo Mask2Former's recipe,
    :func:`segedu.zoo.panoptic.mask2former_training`). ``model`` must have its text mapper."""
    if model.text_mapper is None:
        raise ValueError("OneFormer trains with a text mapper: add one first (train_oneformer)")
    model.to(device).train()
    criterion = MaskSetCriterion(num_classes=model.num_classes, num_points=config.num_points,
                                 class_weight=config.class_weight).to(device)
    loader = DataLoader(
        panoptic_scenes(seed=0, length=config.scenes, target=lambda panoptic: panoptic),
        batch_size=config.batch, shuffle=True, drop_last=True, collate_fn=stack_collate,
        generator=torch.Generator().manual_seed(config.seed))  # the data order: the run's seed
    optimizer, scheduler = adamw_cosine(model, config.lr, config.steps, weight_decay=0.05,
                                        warmup=config.warmup)

    def compute_loss(batch):
        images, targets, tasks, text_ids = batch
        targets = [{k: v.to(device) for k, v in t.items()} for t in targets]
        outputs = model(images.to(device), task=tasks, text_ids=text_ids.to(device))
        with torch.autocast(device_type=device.type, enabled=False):  # the losses in float32
            outputs = float_outputs(outputs)
            losses = criterion(outputs, targets)
            contrastive = model.contrastive(outputs["contrastive_queries"],
                                            outputs["text_queries"])
        parts = {k: losses[k] for k in ("loss_ce", "loss_mask", "loss_dice")}
        parts["loss_contrastive"] = contrastive
        return criterion.total(losses) + model.contrastive_weight * contrastive, parts

    # the batches already trained on are drawn again (tasks included) and skipped on resuming
    return Training(compute_loss, task_batches(model, loader, seed=config.seed), optimizer,
                    scheduler, grad_clip=0.01, amp=True)


def train_oneformer(model: OneFormer, config: Mask2FormerConfig, device: torch.device,
                    log: Callable[[str], None] = print) -> dict[str, float]:
    """Train the entry's OneFormer (built without a text mapper, the inference network) with
    :func:`oneformer_training` through :func:`segedu.zoo.recipe.train_run` (resumable from
    ``config.resume_path``): a text mapper (:data:`TEXT_MAPPER`) is added first and removed at
    the end, so that the model written is the inference network. Returns the run's record."""
    hidden = model.predictor.class_embed.in_features  # the query width
    model.text_mapper = TextMapper(dim=hidden, **TEXT_MAPPER)
    run = train_run(config, model, device, oneformer_training(model, config, device), log=log)
    model.text_mapper = None  # training only (the paper's inference network)
    return run


@torch.no_grad()
def evaluate_oneformer(model: OneFormer, device: torch.device | str = "cpu", *,
                       length: int = TEST_SCENES) -> dict[str, float]:
    """The held-out scores of one OneFormer asked the three tasks on the first ``length``
    held-out scenes: :func:`evaluate_panoptic` of the panoptic task (PQ, SQ, RQ, per class; the
    prompt "the task is panoptic"), the semantic task's IoU per class (``iou_sky``, ...) and
    ``miou_semantic`` (one confusion matrix over the split), and the instance task's mask mAP
    (``mask_map_50``, ``mask_map``: COCO's, as the zoo's instance models,
    :func:`segedu.zoo.instances.evaluate_instances`)."""
    model.to(device).eval()
    scenes = held_out_panoptic(length)
    scores = evaluate_panoptic(lambda images: mask2former_panoptic(model, images), length=length,
                               scenes=scenes)
    images, truth = scenes
    iou = iou_per_class(torch.cat(_read_out(model, images, "semantic")), truth[..., 0],
                        model.num_classes)
    scores.update({f"iou_{name}": float(value)
                   for name, value in zip(SyntheticScenes.classes, iou.tolist(), strict=True)})
    scores["miou_semantic"] = float(iou.nanmean())
    return {**scores, **_instance_scores(model, length)}


def _read_out(model: OneFormer, images: list[torch.Tensor], task: str, **options) -> list:
    """``model``'s read-out of ``task`` (its prompt given) for ``images`` ``(3, S, S)``, 16 at a
    time, on the CPU: a ``(16, S, S)`` semantic map or 16 instance dicts per batch."""
    device = next(model.parameters()).device
    out = []
    for start in range(0, len(images), 16):
        batch = torch.stack(images[start:start + 16]).to(device)
        result = model.postprocess(model(batch, task=task), task=task,
                                   output_size=tuple(batch.shape[-2:]), **options)
        out.append(result.cpu() if isinstance(result, torch.Tensor)
                   else [{k: v.cpu() for k, v in d.items()} for d in result])
    return out


def _instance_scores(model: OneFormer, length: int) -> dict[str, float]:
    """Mask mAP of the instance task on the held-out things (detection labels 1..3)."""
    scenes = held_out_instances(length)
    detections = [{**d, "labels": d["labels"] - (SCENE_THINGS[0] - 1)}  # scene 3..5 -> 1..3
                  for batch in _read_out(model, [image for image, _ in scenes], "instance",
                                         things=SCENE_THINGS)
                  for d in batch]
    targets = [{**target, "masks": target["masks"].bool()} for _, target in scenes]
    masks = mean_average_precision(detections, targets, "segm")
    return {"mask_map_50": float(masks["map_50"]), "mask_map": float(masks["map"])}


def oneformer_card(config: Mask2FormerConfig, model: OneFormer, device: torch.device, run: dict,
                   score: dict) -> CardText:
    """The card's words of a OneFormer run (the module docstring's recipe)."""
    mapper = ", ".join(f"{k} {v}" for k, v in TEXT_MAPPER.items())
    recipe = (
        f"batch {config.batch} from {config.scenes} scenes of {SIZE}x{SIZE} (seed 0); a task "
        "drawn uniformly per image (semantic, instance, panoptic), its targets derived from the "
        "panoptic annotation and the prompt 'the task is {task}' given to the network; "
        f"{model.num_queries} queries (the task token one of them); Mask2Former's set criterion "
        f"(class {config.class_weight:g}, mask BCE 5, Dice 5 on {config.num_points} "
        "importance-sampled points per mask, no-object 0.1, every decoder layer) plus "
        f"{model.contrastive_weight:g} x the query-text contrastive loss (a training-only text "
        f"mapper: {mapper}; not in the checkpoint); AdamW {config.lr:g} (weight decay 0.05), "
        f"{config.warmup} warm-up steps then cosine decay, gradient norm clipped at 0.01"
        f"{', bfloat16 autocast' if device.type == 'cuda' else ''}")
    held_out = (f"{config.test_scenes} scenes from seed 1, never seen in training; the panoptic "
                "task read out as Mask2Former's (queries kept above 0.8, segments kept when 0.8 "
                "of their mask is theirs): PQ, SQ, RQ (`segedu.metrics.panoptic_quality`); the "
                "semantic task read out as Mask2Former's semantic inference: IoU per class and "
                "miou_semantic; the instance task read out as Mask2Former's instance inference "
                "(the 100 best query-class pairs, things only): mask mAP (COCO's)")
    return CardText(f"Zoo model `{config.name}` on synthetic scenes (one model, three tasks)",
                    recipe, held_out, metric_table(score))
