"""The zoo's tiny CLIPSeg: masks for text prompts on the synthetic scenes, with a toy vocabulary.

CLIPSeg (Lüddecke & Ecker, CVPR 2022; :mod:`segedu.models.foundation.clipseg`) answers a text
prompt with a mask. Its power comes from CLIP, trained on 400 million image-caption pairs, which
segedu cannot have offline. So this recipe is honest about being a toy:

- **The "language" is a toy vocabulary** (:data:`VOCABULARY`): the six class names of the scenes
  (sky, grass, water, circle, rectangle, triangle) and the words of four phrasings
  (:data:`PHRASINGS`: "circle", "a circle", "the circle", "a picture of the circle"), one id per
  word (:class:`~segedu.models.foundation.clipseg.WordVocabulary`), not CLIP's byte pairs. The
  text encoder learns what these few phrases mean *from the masks alone*; it knows no other
  word, and a prompt with another word is an error.
- **Both encoders train from scratch** (``clipseg_tiny``: a 4-layer ViT on 8-pixel patches, a
  2-layer text transformer), with the decoder. The paper freezes a pretrained CLIP and trains the
  decoder only; without CLIP there is nothing to freeze.

Training (:func:`train_clipseg`): every step takes ``batch`` scenes (seed 0, drawn on the fly) and
asks each scene for all six classes, each in a phrasing drawn at random; the target of a prompt
is the class's mask (empty when the class is absent: the model must learn to answer "nothing").
The loss is the binary cross-entropy of every pixel's logit (``transformers``' loss for
``CLIPSegForImageSegmentation``, the paper's) plus the soft Dice loss of every mask (smoothing 1):
Dice weighs every mask as a whole, so a thing's few pixels count as much as the sky's many
(``segedu/zoo/README.md`` records the run without it). AdamW with a linear warm-up and a cosine
decay, gradients clipped at norm 1. The run saves a resume file every ``save_every`` steps and
continues from it when restarted (each step's scenes and phrasings depend only on the seed and the
step's number); a finished run deletes it.

Score (:func:`evaluate_text_prompts`), on the zoo's held-out scenes (seed 1, never trained on):
the per-class IoU of the prompted binary masks (logit > 0) with the phrasing "a <class>",
accumulated over the split; the same mean IoU for each phrasing; and the mIoU of the label map
that takes, at each pixel, the prompt with the highest logit (a semantic segmentation by six text
prompts, comparable with the semantic zoo models of :mod:`segedu.zoo.scores`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..data import SyntheticScenes
from ..losses import dice_loss
from ..metrics import iou_per_class
from ..models.foundation.clipseg import WordVocabulary
from . import Task
from .cards import CardText, metric_table
from .recipe import TrainConfig, Training, adamw_cosine, step_recipe, train_run
from .scores import SIZE, scene_tensors

__all__ = ["CLASSES", "PHRASINGS", "VOCABULARY", "prompt_texts", "class_prompts",
           "encode_images", "decode_pairs", "ClipSegConfig", "clipseg_training", "train_clipseg",
           "evaluate_text_prompts", "train", "evaluate", "RECIPE", "EVAL_SCENES"]

CLASSES = SyntheticScenes.classes  # sky, grass, water, circle, rectangle, triangle
PHRASINGS = ("{}", "a {}", "the {}", "a picture of the {}")
VOCABULARY = WordVocabulary(words=["a", "the", "picture", "of", *CLASSES])
EVAL_SCENES = 500  # the whole held-out split


def prompt_texts(phrasing: str = "a {}") -> list[str]:
    """The six class prompts in one phrasing: ``["a sky", "a grass", ...]``."""
    if phrasing not in PHRASINGS:
        raise ValueError(f"phrasing must be one of {PHRASINGS}, got {phrasing!r}")
    return [phrasing.format(name) for name in CLASSES]


def class_prompts(phrasing: str = "a {}") -> tuple[torch.Tensor, torch.Tensor]:
    """``input_ids``, ``attention_mask`` ``(6, L)`` of :func:`prompt_texts`, toy vocabulary."""
    return VOCABULARY(prompt_texts(phrasing))


# ---------------------------------------------------------------------------------------------
# training
# ---------------------------------------------------------------------------------------------


@dataclass
class ClipSegConfig(TrainConfig):
    """:class:`~segedu.zoo.recipe.TrainConfig` plus the recipe's own settings.

    Args:
        scenes: training scenes (seed 0, drawn on the fly); test_scenes: held-out scenes scored.
        warmup: warm-up steps from 1 % of ``lr`` (a fifth of a shorter run).
        weight_decay: AdamW's (the run's ``seed``, :class:`~segedu.zoo.recipe.TrainConfig`'s,
            also draws each step's scenes and phrasings; its ``save_every`` spaces the writes
            of the resume file ``out / <model>_resume.pt``).
    """

    tasks = (Task.TEXT_PROMPTS,)
    positive = ("scenes", "test_scenes")

    scenes: int = 20000
    test_scenes: int = EVAL_SCENES
    warmup: int = 200
    weight_decay: float = 0.05


def _step_batch(scenes: SyntheticScenes, config: ClipSegConfig, step: int
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Step ``step``'s batch, a function of ``(seed, step)`` only: images ``(B, 3, S, S)``, the
    prompts ``input_ids`` and ``attention_mask`` ``(B * 6, L)`` (image ``b``'s six classes, each in
    a random phrasing) and the targets ``(B, 6, S, S)`` float (the class masks)."""
    generator = torch.Generator().manual_seed(config.seed * 1_000_003 + step)
    indices = torch.randint(len(scenes), (config.batch,), generator=generator).tolist()
    images, labels = zip(*(scenes[i] for i in indices), strict=True)
    images = torch.stack([image.as_subclass(torch.Tensor) for image in images])
    labels = torch.stack([target["semantic"].as_subclass(torch.Tensor) for target in labels])
    phrasing = torch.randint(len(PHRASINGS), (config.batch, len(CLASSES)), generator=generator)
    texts = [PHRASINGS[int(phrasing[b, k])].format(name)
             for b in range(config.batch) for k, name in enumerate(CLASSES)]
    input_ids, attention_mask = VOCABULARY(texts)
    targets = (labels[:, None] == torch.arange(len(CLASSES))[None, :, None, None]).float()
    return images, input_ids, attention_mask, targets


def encode_images(model: torch.nn.Module, images: torch.Tensor
                  ) -> tuple[list[torch.Tensor], tuple[int, int]]:
    """The extracted activations of a CLIPSeg's image encoder for ``images (B, 3, H, W)``, and
    their patch grid: the first step of :meth:`CLIPSeg.forward`, done once per image."""
    return (model.vision.layer_outputs(images, model.config.extract_layers),
            model.vision.patch_grid(images))


def decode_pairs(model: torch.nn.Module, encoded: tuple[list[torch.Tensor], tuple[int, int]],
                 condition: torch.Tensor) -> torch.Tensor:
    """Image ``b`` with prompts ``b K .. b K + K - 1``: ``condition (B K, P)`` -> logits
    ``(B K, H, W)``, the decoder of :meth:`CLIPSeg.forward` on each image's activations repeated
    ``K`` times."""
    activations, grid = encoded
    k = condition.shape[0] // activations[0].shape[0]
    return model.decoder([a.repeat_interleave(k, dim=0) for a in activations], condition, grid)


def clipseg_training(model: torch.nn.Module, config: ClipSegConfig,
                     device: torch.device) -> Training:
    """What CLIPSeg trains with (module docstring): each step's scenes and phrasings, a function
    of the seed and the step only; binary cross-entropy + Dice per mask; AdamW with a warm-up
    (``config.warmup``, or a fifth of a shorter run) and a cosine decay, gradients clipped at
    norm 1."""
    warmup = min(config.warmup, config.steps // 5)
    model.to(device).train()
    scenes = SyntheticScenes(size=SIZE, length=config.scenes, seed=0)
    optimizer, scheduler = adamw_cosine(model, config.lr, config.steps,
                                        weight_decay=config.weight_decay, warmup=warmup)

    def batches(first: int) -> Iterator:
        for step in range(first, config.steps):
            yield _step_batch(scenes, config, step)

    def compute_loss(batch):
        images, input_ids, attention_mask, targets = (t.to(device) for t in batch)
        # every image with its own six prompts: each image encoded once, its activations
        # repeated for its six prompts (what model(images.repeat_interleave(6), ...) computes)
        encoded = encode_images(model, images)
        condition = model.condition(input_ids=input_ids, attention_mask=attention_mask)
        logits = decode_pairs(model, encoded, condition)
        targets = targets.flatten(0, 1)
        # binary cross-entropy per pixel (the reference's loss), plus Dice per mask (the small
        # things would otherwise drown among the background pixels)
        bce = F.binary_cross_entropy_with_logits(logits, targets)
        dice = dice_loss(logits, targets, mode="per_mask", smooth=1.0)
        return bce + dice, {"bce": bce, "dice": dice}

    return Training(compute_loss, batches, optimizer, scheduler, grad_clip=1.0, log_every=50,
                    facts={"warmup": warmup})


def train_clipseg(model: torch.nn.Module, config: ClipSegConfig, device: torch.device,
                  log: Callable[[str], None] | None = print) -> dict[str, float]:
    """Train a CLIPSeg on text prompts of the scenes (:func:`clipseg_training`) through
    :func:`~segedu.zoo.recipe.train_run`, which resumes a stopped run from
    ``config.resume_path``. Returns ``steps``, ``minutes`` (of all the calls that made this run),
    ``warmup`` and the last logged ``loss``."""
    run = train_run(config, model, device, clipseg_training(model, config, device), log=log)
    model.eval()
    return run


# ---------------------------------------------------------------------------------------------
# evaluation
# ---------------------------------------------------------------------------------------------


@torch.no_grad()
def evaluate_text_prompts(model: torch.nn.Module, device: torch.device | str = "cpu", *,
                          length: int = EVAL_SCENES, batch: int = 25,
                          phrasings: tuple[str, ...] = PHRASINGS) -> dict[str, float]:
    """Held-out scores of a CLIPSeg prompted with the six classes (module docstring):
    ``iou_<class>`` (binary masks of "a <class>"), ``miou`` (their mean), ``miou_<phrasing>`` for
    every phrasing of ``phrasings`` (which must include "a {}"), and ``miou_argmax`` (the label
    map of the highest logit among the six "a <class>" prompts)."""
    if "a {}" not in phrasings or not set(phrasings) <= set(PHRASINGS):
        raise ValueError(f"phrasings must be some of {PHRASINGS}, 'a {{}}' included; got "
                         f"{phrasings}")
    model.to(device).eval()
    images, labels = scene_tensors(seed=1, length=length)
    classes = len(CLASSES)
    inter = {p: torch.zeros(classes) for p in phrasings}
    union = {p: torch.zeros(classes) for p in phrasings}
    argmax = []
    prompts = {p: class_prompts(p) for p in phrasings}
    conditions = {p: model.condition(input_ids=ids.to(device), attention_mask=mask.to(device))
                  for p, (ids, mask) in prompts.items()}
    for start in range(0, length, batch):
        x = images[start:start + batch].to(device)
        truth = labels[start:start + batch][:, None] == torch.arange(classes)[None, :, None, None]
        encoded = encode_images(model, x)  # once for the four phrasings
        for phrasing, condition in conditions.items():
            # every image with the six prompts: (B 6, H, W) -> (B, 6, H, W)
            logits = decode_pairs(model, encoded, condition.repeat(len(x), 1)).cpu()
            logits = logits.reshape(len(x), classes, *logits.shape[-2:])
            masks = logits > 0  # sigmoid > 0.5
            inter[phrasing] += (masks & truth).sum(dim=(0, 2, 3)).float()
            union[phrasing] += (masks | truth).sum(dim=(0, 2, 3)).float()
            if phrasing == "a {}":
                argmax.append(logits.argmax(dim=1))
    iou = {p: inter[p] / union[p].clamp(min=1) for p in phrasings}
    score = {f"iou_{name}": float(iou["a {}"][k]) for k, name in enumerate(CLASSES)}
    score["miou"] = float(iou["a {}"].mean())
    for phrasing in phrasings:
        score[f"miou_{phrasing.format('<class>').replace(' ', '_')}"] = float(iou[phrasing].mean())
    score["miou_argmax"] = float(iou_per_class(torch.cat(argmax), labels, classes).nanmean())
    return score


def evaluate(model: torch.nn.Module, device: torch.device | str = "cpu", *,
             length: int = EVAL_SCENES) -> dict[str, float]:
    """The card's scores: :func:`evaluate_text_prompts`."""
    return evaluate_text_prompts(model, device, length=length)


def _card(config: ClipSegConfig, model: torch.nn.Module, device: torch.device, run: dict,
          score: dict) -> CardText:
    recipe = (
        f"batch {config.batch} from {config.scenes} scenes of {SIZE}x{SIZE} (seed 0, drawn on "
        "the fly), each asked for all six classes, each prompt in one of four phrasings drawn at "
        f"random ({', '.join(repr(p.format('<class>')) for p in PHRASINGS)}) in a toy word "
        f"vocabulary of {len(VOCABULARY)} ids (not CLIP's tokenizer); image and text encoders "
        "trained from scratch with the decoder (no pretrained CLIP); binary cross-entropy per "
        "pixel + soft Dice per mask (smoothing 1), 1:1; "
        f"AdamW {config.lr:g} (weight decay {config.weight_decay:g}), {run['warmup']} warm-up "
        "steps then cosine decay, gradients clipped at norm 1")
    held_out = (
        f"{config.test_scenes} scenes from seed 1, never seen in training; each scene prompted "
        "with the six classes; IoU of the binary masks (logit > 0) per class, accumulated over "
        "the split, for 'a <class>' and as a mean for each phrasing; miou_argmax: the label map "
        "of the highest of the six logits")
    return CardText(f"Zoo model `{config.entry.model}` on synthetic scenes (text prompts)",
                    recipe, held_out, metric_table(score))


RECIPE = step_recipe(Task.TEXT_PROMPTS, ClipSegConfig, train=train_clipseg, evaluate=evaluate,
                     card=_card, test_length="test_scenes")
"""The recipe of the zoo's CLIPSeg, for ``python -m segedu.zoo.train clipseg_tiny``."""
train = RECIPE.train
