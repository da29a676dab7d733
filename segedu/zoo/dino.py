"""The zoo's DINO recipe: self-distillation of a tiny ViT on synthetic scenes, and its features.

Caron et al., "Emerging Properties in Self-Supervised Vision Transformers", ICCV 2021
(https://arxiv.org/abs/2104.14294; https://github.com/facebookresearch/dino, ``main_dino.py``),
with iBOT's masked patch loss (Zhou et al., ICLR 2022; :mod:`segedu.models.foundation.dino.ibot`).
Every piece of DINO and iBOT is in :mod:`segedu.models.foundation.dino`; this module only chooses
their settings for ``dino_vit_tiny`` (patch 8, D = 192, 4 blocks) on 128 x 128 ``SyntheticScenes``,
trains it without labels, and measures whether its patch features mean something.

**Training** (:func:`train_dino`, :class:`DinoConfig`), DINO's recipe with these choices
(``segedu/zoo/README.md`` records the pilot runs that led to them, and why no checkpoint is
shipped yet):

- *data*: ``scenes`` scenes of seed 0, drawn once and kept as uint8 (8000 scenes: 390 MB; DINO
  reads JPEGs, also 8 bits); the held-out scenes of seed 1 are never seen.
- *views* (:class:`~segedu.models.foundation.dino.MultiCropAugmentation`): 2 global views of 64 px
  (the ViT's own 8 x 8 grid) from crops of 20-60 % of the image area (57-99 px a side), and **no
  local views**. DINO's (0.4, 1) is for ImageNet photos, one object filling much of the frame; here
  the things are 5-50 px in a 128 px landscape, so a global crop is a part of the landscape with a
  few objects. The crops are resized by a factor 0.56-1.25 only, so that a patch covers about
  the 8 x 8 pixels it covers when the features are read on the whole 128 px scene. The blur's
  sigma is DINO's range scaled to the views, (0.1, 0.6) px instead of (0.1, 2) px at 224 px.
  Colour jitter of brightness, contrast and saturation only: no hue jitter, greying or
  solarisation, since the hue of sky, grass and water *is* their class here.
- *masked patches* (iBOT, :func:`~segedu.models.foundation.dino.ibot.random_block_masks`): half of
  the views get 10-50 % of their patches hidden in rectangular blocks; the student must give, at
  each hidden patch, the teacher's distribution for it. DINO's loss speaks only of the class
  token; this term speaks of the patch tokens that k-means reads.
- *head* (:class:`~segedu.models.foundation.dino.DINOHead`): K = ``out_dim`` = 1024 prototypes,
  hidden width 1024, bottleneck 256. DINO's 65536 prototypes are for the thousands of concepts of
  ImageNet, at batches of 1024; six classes with their textures, colours and layouts need far
  fewer, and with batches of 32 a large K leaves most prototypes without a sample in a batch, so
  the centre (a moving batch mean) and the sharpened teacher are noisy. 1024 keeps K well above
  the number of things to tell apart and 30 times the batch, and the last layer small (256 x 1024)
  next to the 1.8 M-parameter backbone. One head serves the class and the patch tokens (iBOT's
  shared head), each with its own centre. The head is dropped after training.
- *schedules*, as fractions of DINO's 100-epoch run since here there are no epochs: AdamW with
  the learning rate warmed up linearly over the first 10 % of the steps to ``lr``, then cosine
  decay to 1e-6; weight decay cosine from 0.04 to 0.4 (not on biases and norms, as DINO);
  the teacher temperature warmed up linearly over the first 30 % of the steps from
  ``teacher_temp[0]`` to ``teacher_temp[1]``, both 0.02 here (the README's pilots); teacher momentum
  cosine 0.996 to 1 (:func:`~segedu.models.foundation.dino.cosine_momentum`); the last layer's
  gradients dropped for the first 1 % (DINO: the first epoch); the student's gradient norm clipped
  at 3 (DINO clips each parameter's at 3). ``lr`` is the peak rate itself: DINO multiplies its base
  5e-4 by batch / 256, which at batch 32 would give 6e-5; the zoo uses 5e-4 unscaled (not tuned
  beyond the pilot run).
- the checkpoint is the **teacher**'s backbone, as DINO releases.

**Evaluation** (:func:`evaluate_dino`) on the first ``length`` held-out scenes (seed 1), at
128 px (a 16 x 16 patch grid, positional embeddings interpolated). Each patch's class is the most
frequent class of its 8 x 8 pixels.

- ``kmeans_miou`` / ``kmeans_accuracy``: k-means of each image's patch features
  (:func:`~segedu.models.foundation.dino.feature_kmeans`, cosine, k = the number of classes
  present), each cluster matched to at most one class by the best one-to-one assignment (Hungarian
  algorithm on the confusion matrix, ``scipy.optimize.linear_sum_assignment``, maximising the
  patches matched); mean IoU of the classes present, and the fraction of patches matched, averaged
  over the images. No label is used to find the segments: this is what "the features mean something"
  means.
- ``probe_accuracy`` / ``probe_miou``: a linear probe, a logistic regression
  (scikit-learn's lbfgs, standardised features, ``C = 0.1``, fixed seed) from the patch features of
  ``probe_scenes`` training scenes (seed 0) to the patch classes, scored on the held-out patches
  (accuracy, and mIoU over the confusion matrix of the whole split). ``C = 0.1`` rather than
  scikit-learn's 1: on 25,600 patches of 192 features the fit then converges (about 250 lbfgs
  iterations, 8 s on one thread) and scores the same to 0.001.
- ``regions_``: the same four scores with the three thing classes merged into one "thing", so
  four regions: sky, grass, water, thing. The things' colours are random and they differ by shape
  only, which no patch-level feature of a colour or a grain tells apart.

:func:`evaluate_pixels` gives the same numbers for the mean RGB colour of each patch (k-means on
the colours in Euclidean space): the baseline that shows what the features add to the colours.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ..data import SyntheticScenes
from ..engine import WarmupCosine, train_steps
from ..metrics import mean_iou
from ..models.foundation.dino import (
    DINOHead,
    DINOLoss,
    MultiCropAugmentation,
    collate_crops,
    cosine_momentum,
    feature_kmeans,
    make_teacher,
    patch_features,
    teacher_temperature,
)
from ..models.foundation.dino.ibot import (
    MaskedPatchLoss,
    MaskedPatchWrapper,
    ibot_loss,
    random_block_masks,
)
from ..models.foundation.dino.training import update_student_and_teacher
from . import Task
from .cards import card_head, metric_table, trained_line, write_card
from .float16 import load_float32, save_float16
from .recipe import Recipe, TrainConfig
from .scores import SIZE, scene_tensors

__all__ = ["PROBE_SCENES", "TEST_LENGTH", "dino_augmentation", "train_dino", "patch_classes",
           "kmeans_score",
           "kmeans_scores", "probe_score", "evaluate_features", "evaluate_dino", "evaluate_pixels",
           "lr_schedule", "weight_decay_at", "DinoConfig", "train", "evaluate", "RECIPE"]

NUM_CLASSES = len(SyntheticScenes.classes)
TEST_LENGTH, PROBE_SCENES = 100, 100
TEACHER_TEMP = (0.02, 0.02)  # (first, final): constant 0.02: the zoo's README says why
# iBOT's: half of the images, 30 +- 20 % of their patches
MASK_PROBABILITY, MASK_RATIO = 0.5, (0.1, 0.5)
METRICS = ("kmeans_miou", "kmeans_accuracy", "probe_accuracy", "probe_miou")
ALL_METRICS = METRICS + tuple(f"regions_{key}" for key in METRICS)
CURVE_METRICS = ("kmeans_miou", "probe_accuracy", "regions_kmeans_miou", "regions_probe_accuracy")
# the first thing class: in the "regions" scores circles, rectangles and triangles are one class
THING = 3

Describe = Callable[[torch.Tensor], torch.Tensor]  # images (B, 3, S, S) -> features (B, h, w, D)


# ------------------------------------------------------------------------------------- training


def dino_augmentation(*, n_local: int = 0) -> MultiCropAugmentation:
    """The views for 128 px scenes: 2 global views ``(3, 64, 64)`` (then ``n_local`` views ``(3, 32,
    32)``, which the zoo recipe does not use), normalised with the ImageNet statistics. Colour
    jitter of brightness, contrast and saturation only: no hue, greying or solarisation (module
    docstring)."""
    return MultiCropAugmentation(global_size=64, local_size=32, n_local=n_local,
                                 global_scale=(0.2, 0.6),
                                 local_scale=(0.04, 0.2), blur_sigma=(0.1, 0.6),
                                 jitter=(0.4, 0.4, 0.2, 0.0),
                                 grey_p=0.0, solarize_p=0.0)


def lr_schedule(optimizer: torch.optim.Optimizer, steps: int) -> WarmupCosine:
    """DINO's learning-rate schedule (``utils.cosine_scheduler`` with one iteration per step):
    ``np.linspace(0, lr, W)`` over the first ``W = max(1, steps // 10)`` steps, then a cosine
    decay to 1e-6 at ``steps``."""
    warmup = max(1, steps // 10)
    return WarmupCosine(optimizer, steps, warmup_steps=warmup, warmup_ramp=warmup - 1, min_lr=1e-6)


def weight_decay_at(step: int, steps: int, first: float, last: float) -> float:
    """DINO's weight-decay schedule: cosine from ``first`` (step 0) to ``last`` (step ``steps``)."""
    angle = math.pi * min(step, steps) / max(steps, 1)
    return last + 0.5 * (first - last) * (1.0 + math.cos(angle))


@dataclass
class DinoConfig(TrainConfig):
    """:class:`~segedu.zoo.recipe.TrainConfig` plus DINO + iBOT's settings (module docstring).

    Args:
        scenes: training scenes (seed 0); test_scenes: held-out scenes scored;
            probe_scenes: training scenes the linear probe is fitted on.
        out_dim, hidden_dim, bottleneck_dim: the head's prototypes K, hidden and bottleneck
            widths.
        weight_decay: ``(first, last)`` of its cosine schedule.
        teacher_temp: ``(first, final)`` teacher temperature, warmed up over 30 % of the steps;
            patch_teacher_temp: the patch tokens' (iBOT).
        mask_probability, mask_ratio: the views masked, and the fraction of their patches.
        patch_weight: the weight of the patch loss (0: DINO alone).
        momentum: the teacher's first EMA momentum (cosine to 1).
        all_patches: the patch loss on every patch, the visible ones too (iBOT++).
        clip_grad: the student's total gradient norm is clipped to this (DINO's own
            code clips each parameter's norm: :mod:`segedu.models.foundation.dino.training`).
        seed: the run's random choices (order, crops, masks); log_every: a line every so often.
        evaluations: score the teacher's backbone this many times during training (0: never).
    """

    tasks = (Task.FEATURES,)
    positive = ("scenes", "test_scenes", "probe_scenes", "out_dim", "hidden_dim",
                "bottleneck_dim", "log_every")

    scenes: int = 8000
    test_scenes: int = TEST_LENGTH
    probe_scenes: int = PROBE_SCENES
    out_dim: int = 1024
    hidden_dim: int = 1024
    bottleneck_dim: int = 256
    weight_decay: tuple[float, float] = (0.04, 0.4)
    teacher_temp: tuple[float, float] = TEACHER_TEMP
    patch_teacher_temp: float = 0.02
    mask_probability: float = MASK_PROBABILITY
    mask_ratio: tuple[float, float] = MASK_RATIO
    patch_weight: float = 1.0
    momentum: float = 0.996
    all_patches: bool = False
    clip_grad: float = 3.0
    seed: int = 0
    log_every: int = 200
    evaluations: int = 4

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.batch > self.scenes:
            raise ValueError(f"the batch ({self.batch}) cannot be larger than the number of "
                             f"scenes ({self.scenes})")


def train_dino(model: torch.nn.Module, config: DinoConfig, device: torch.device | str = "cpu",
               log: Callable[[str], None] = print,
               callback: Callable[[int, torch.nn.Module], None] | None = None,
               callback_every: int = 0) -> dict[str, float]:
    """Train the ViT ``model`` (a ``dino_vit_tiny``) with DINO and iBOT's masked patch loss, in
    place.

    On ``config.scenes`` scenes of seed 0, 2 global views each. The student is ``model`` with a
    :class:`~segedu.models.foundation.dino.DINOHead` shared by class and patch tokens and a mask
    token (:class:`~segedu.models.foundation.dino.ibot.MaskedPatchWrapper`); the teacher its EMA.
    ``mask_probability`` 0 (or ``patch_weight`` 0) leaves DINO alone. The steps run through
    :func:`segedu.engine.train_steps` with the loss
    :func:`~segedu.models.foundation.dino.ibot.ibot_loss` and the DINO family's own update
    (:func:`~segedu.models.foundation.dino.training.update_student_and_teacher`: the student's
    gradient norm clipped, the head's last layer frozen for the first 1 % of the steps, AdamW,
    then the teacher's EMA); the learning rate follows :class:`segedu.engine.WarmupCosine`
    (DINO's ``cosine_scheduler``: 10 % warm-up from 0, cosine to 1e-6), the weight decay
    :func:`weight_decay_at`. At the end the teacher's backbone weights are copied into
    ``model`` (DINO's released network is the teacher). Deterministic for ``config.seed`` on a CPU.
    ``callback(step, teacher_backbone)`` runs every ``callback_every`` steps (an evaluation during
    training), with torch's random state saved and restored around it, so it does not change the
    run. Returns ``steps``, ``minutes``, ``seconds_per_step``, ``data_minutes``, and ``loss``,
    ``class_loss``, ``patch_loss`` (means of the last 50 steps).
    """
    steps, batch, scenes, out_dim = config.steps, config.batch, config.scenes, config.out_dim

    device = torch.device(device)
    generator = torch.Generator().manual_seed(config.seed)
    torch.manual_seed(config.seed)  # the augmentations draw from torch's global generator
    # 1. the data: scenes of seed 0, drawn once, kept as uint8 (L, 3, S, S)
    start = time.perf_counter()
    images = (scene_tensors(seed=0, length=scenes)[0] * 255).round().to(torch.uint8)
    data_minutes = (time.perf_counter() - start) / 60
    augment = dino_augmentation()
    # 2. student (backbone + shared head + mask token), teacher (a copy, no gradients), losses
    head = DINOHead(in_dim=model.embed_dim, out_dim=out_dim, hidden_dim=config.hidden_dim,
                    bottleneck_dim=config.bottleneck_dim)
    student = MaskedPatchWrapper(backbone=model, head=head).to(device).train()
    teacher = make_teacher(student).train()
    class_loss = DINOLoss(out_dim=out_dim).to(device)
    patch_loss = MaskedPatchLoss(out_dim=out_dim).to(device)
    # 3. AdamW; biases and norms (and the mask token) without weight decay (get_params_groups)
    named = [(n, p) for n, p in student.named_parameters() if p.requires_grad]
    decayed = [p for n, p in named if p.ndim > 1 and not n.endswith(".bias")]
    plain = [p for n, p in named if p.ndim <= 1 or n.endswith(".bias")]
    optimizer = torch.optim.AdamW([{"params": decayed}, {"params": plain, "weight_decay": 0.0}],
                                  lr=config.lr)
    temp_warmup, frozen = max(1, (3 * steps) // 10), steps // 100
    scheduler = lr_schedule(optimizer, steps)
    grid = (augment.global_size // model.patch_size,) * 2  # the patch grid of a view, for its masks

    def batches():
        """Each step's batch: scenes (reshuffled at each pass), 2 views each, their block masks,
        and the step's teacher temperature."""
        order, position = torch.randperm(scenes, generator=generator), 0
        for step in range(steps):
            if position + batch > scenes:
                order, position = torch.randperm(scenes, generator=generator), 0
            chosen = order[position:position + batch]
            position += batch
            views = [v.to(device)
                     for v in collate_crops([augment(images[i]) for i in chosen.tolist()])]
            masks = [random_block_masks(batch, grid, generator=generator,
                                        probability=config.mask_probability,
                                        ratio=config.mask_ratio).to(device) for _ in views]
            tau = teacher_temperature(step, warmup_temp=config.teacher_temp[0],
                                      final_temp=config.teacher_temp[1],
                                      warmup_epochs=temp_warmup)
            yield views, masks, tau

    def compute_loss(step_batch):
        # teacher on the plain views, student on the masked ones: DINO's and iBOT's losses
        views, masks, tau = step_batch
        taus.append(tau)
        return ibot_loss(student, teacher, class_loss, patch_loss, views, masks, teacher_temp=tau,
                         patch_teacher_temp=config.patch_teacher_temp,
                         patch_weight=config.patch_weight, all_patches=config.all_patches)

    def update(loss, step):
        # this step's weight decay; AdamW on the student (last layer frozen at first), then EMA
        optimizer.param_groups[0]["weight_decay"] = weight_decay_at(step, steps,
                                                                    *config.weight_decay)
        rates.append(optimizer.param_groups[0]["lr"])  # the step's rate (the log shows it)
        update_student_and_teacher(student, teacher, loss, optimizer,
                                   cosine_momentum(step, steps, base=config.momentum),
                                   clip_grad=config.clip_grad, freeze_last_layer=step < frozen)

    def after_step(step, values):
        recent.append(values)
        del recent[:-50]
        if (step + 1) % config.log_every == 0 or step + 1 == steps:
            # a class loss of ln K means uniform outputs: the collapse that centring can cause
            uniform = abs(values["class_loss"] - math.log(out_dim)) < 1e-3
            collapsed = ", collapsed: uniform outputs" if uniform else ""
            mean = {k: sum(r[k] for r in recent) / len(recent) for k in values}
            log(f"step {step + 1}/{steps}: class loss {mean['class_loss']:.3f}, "
                f"patch loss {mean['patch_loss']:.3f} (means of the last {len(recent)}; "
                f"ln K = {math.log(out_dim):.3f}), teacher temperature {taus[-1]:.3f}, "
                f"lr {rates[-1]:.2e}{collapsed}")
        due = callback_every > 0 and (step + 1) % callback_every == 0 and step + 1 < steps
        if callback is not None and due:
            with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
                callback(step + 1, teacher.backbone)
            teacher.train()

    # 4. the steps, through the engine's loop (autocast, the finite-loss check, the schedule)
    recent, taus, rates = [], [], []
    start = time.perf_counter()
    train_steps(compute_loss, batches(), model=student, optimizer=optimizer, steps=steps,
                scheduler=scheduler, device=device, amp_dtype=torch.bfloat16, log=None,
                update=update, after_step=after_step)
    seconds = time.perf_counter() - start
    # 7. the released network is the teacher's backbone
    model.load_state_dict(teacher.backbone.state_dict())
    return {"steps": steps, "minutes": seconds / 60, "seconds_per_step": seconds / steps,
            "data_minutes": data_minutes,
            **{k: sum(r[k] for r in recent) / len(recent) for k in recent[-1]}}


# ----------------------------------------------------------------------------------- evaluation


def patch_classes(semantic: torch.Tensor, patch: int) -> torch.Tensor:
    """Class map ``(B, H, W)`` int64 -> each patch's most frequent class ``(B, H / p, W / p)``
    (ties: the lower id)."""
    if semantic.ndim != 3 or semantic.dtype != torch.int64:
        raise ValueError(f"semantic must be an int64 (B, H, W) class map, "
                         f"got {semantic.dtype} {tuple(semantic.shape)}")
    if semantic.shape[-1] % patch or semantic.shape[-2] % patch:
        raise ValueError(f"the map's size {tuple(semantic.shape[-2:])} is not a multiple of "
                         f"the patch {patch}")
    # fraction of each class in each patch: (B, C, h, w), then the largest
    one_hot = F.one_hot(semantic, NUM_CLASSES).permute(0, 3, 1, 2).double()
    return F.avg_pool2d(one_hot, patch).argmax(dim=1)


def kmeans_score(clusters: torch.Tensor, classes: torch.Tensor) -> tuple[float, float]:
    """``(mIoU, accuracy)`` of one image's cluster map against its class map (both ``(h, w)``
    int64).

    Each cluster is matched to at most one class by the assignment that maximises the number of
    patches matched (Hungarian algorithm on the confusion matrix); the mIoU is over the classes
    present (a class left without a cluster has IoU 0), the accuracy the fraction of matched
    patches.
    """
    if clusters.shape != classes.shape:
        raise ValueError(f"clusters {tuple(clusters.shape)} and classes {tuple(classes.shape)} "
                         "differ in shape")
    present = torch.unique(classes)
    cluster_ids = torch.unique(clusters)
    # confusion matrix: rows clusters, columns the classes present
    confusion = ((clusters.reshape(-1, 1, 1) == cluster_ids.view(1, -1, 1))
                 & (classes.reshape(-1, 1, 1) == present.view(1, 1, -1))).sum(0).double().numpy()
    rows, cols = linear_sum_assignment(confusion, maximize=True)
    matched = confusion[rows, cols]
    # IoU of each matched pair: |both| / (|cluster| + |class| - |both|); unmatched classes: 0
    union = confusion.sum(1)[rows] + confusion.sum(0)[cols] - matched
    miou = float((matched / union).sum() / len(present))
    return miou, float(matched.sum() / classes.numel())


def kmeans_scores(features: torch.Tensor, classes: torch.Tensor, *,
                  normalize: bool = True) -> tuple[float, float]:
    """Mean ``(mIoU, accuracy)`` of :func:`kmeans_score` over images: each image's patch features
    ``(L, h, w, D)`` clustered on their own (:func:`~segedu.models.foundation.dino.feature_kmeans`,
    seed 0, cosine when ``normalize``) with k = the number of classes present in its class map
    ``(L, h, w)``."""
    scores = [kmeans_score(feature_kmeans(f, int(torch.unique(c).numel()), normalize=normalize,
                                          seed=0), c)
              for f, c in zip(features, classes, strict=True)]
    return float(np.mean([s[0] for s in scores])), float(np.mean([s[1] for s in scores]))


def probe_score(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray,
                *, seed: int = 0, num_classes: int = NUM_CLASSES) -> tuple[float, float]:
    """``(accuracy, mIoU)`` on ``test`` of a logistic regression fitted on ``train`` (features
    ``(M, D)``, classes ``(M,)``)."""
    probe = make_pipeline(StandardScaler(),
                          LogisticRegression(C=0.1, max_iter=1000, random_state=seed))
    probe.fit(train_x, train_y)
    pred = torch.from_numpy(probe.predict(test_x)).long()
    target = torch.from_numpy(test_y).long()
    return float((pred == target).double().mean()), float(mean_iou(pred, target, num_classes))


def evaluate_features(describe: Describe, *, patch: int, length: int = TEST_LENGTH,
                      probe_scenes: int = PROBE_SCENES, normalize: bool = True,
                      batch: int = 50) -> dict[str, float]:
    """k-means and linear-probe scores of a patch describer on the first ``length`` held-out scenes.

    ``describe(images (B, 3, S, S))`` gives features ``(B, S / patch, S / patch, D)``;
    ``normalize``: cosine k-means (the features L2-normalised) rather than Euclidean. The four
    scores of
    :data:`METRICS` are on the 6 classes; the same four prefixed ``regions_`` on 4 regions, sky,
    grass, water and thing (the three thing classes merged: they differ by shape only, and their
    colours are random).
    """
    def features_and_classes(seed: int, count: int) -> tuple[torch.Tensor, torch.Tensor,
                                                             torch.Tensor]:
        images, semantic = scene_tensors(seed=seed, length=count)  # (L, 3, S, S), (L, S, S)
        feats = torch.cat([describe(images[i:i + batch]).float().cpu()
                           for i in range(0, count, batch)])
        classes = patch_classes(semantic, patch)
        # circle, rectangle, triangle -> thing
        regions = patch_classes(semantic.clamp(max=THING), patch)
        if feats.shape[:3] != classes.shape:
            raise ValueError(f"features {tuple(feats.shape)} do not lie on the {patch}-pixel "
                             "patch grid "
                             f"{tuple(classes.shape)}")
        return feats, classes, regions

    feats, classes, regions = features_and_classes(1, length)
    train_feats, train_classes, train_regions = features_and_classes(0, probe_scenes)
    d, out = feats.shape[-1], {}
    for prefix, test_y, train_y, count in (("", classes, train_classes, NUM_CLASSES),
                                           ("regions_", regions, train_regions, THING + 1)):
        # (a) unsupervised: k-means of each held-out image, k = the number of classes present
        miou, accuracy = kmeans_scores(feats, test_y, normalize=normalize)
        out[f"{prefix}kmeans_miou"], out[f"{prefix}kmeans_accuracy"] = miou, accuracy
        # (b) linear probe: trained on the patches of probe_scenes training scenes, scored on the
        # held-out ones
        accuracy, miou = probe_score(train_feats.reshape(-1, d).double().numpy(),
                                     train_y.reshape(-1).numpy(),
                                     feats.reshape(-1, d).double().numpy(),
                                     test_y.reshape(-1).numpy(),
                                     num_classes=count)
        out[f"{prefix}probe_accuracy"], out[f"{prefix}probe_miou"] = accuracy, miou
    return out


@torch.no_grad()
def evaluate_dino(model: torch.nn.Module, *, length: int = TEST_LENGTH,
                  device: torch.device | str = "cpu",
                  probe_scenes: int = PROBE_SCENES, facet: str = "token") -> dict[str, float]:
    """``kmeans_miou``, ``kmeans_accuracy``, ``probe_accuracy``, ``probe_miou`` of the ViT's patch
    features (:func:`~segedu.models.foundation.dino.patch_features`, ``facet``) on the first
    ``length`` held-out scenes."""
    model.eval().to(device)

    def describe(images: torch.Tensor) -> torch.Tensor:
        return patch_features(model, images.to(device), facet=facet)

    return evaluate_features(describe, patch=model.patch_size, length=length,
                             probe_scenes=probe_scenes)


def evaluate_pixels(*, length: int = TEST_LENGTH, probe_scenes: int = PROBE_SCENES,
                    patch: int = 8) -> dict[str, float]:
    """The same scores for the mean RGB colour of each patch (Euclidean k-means): the baseline."""
    def describe(images: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(images, patch).permute(0, 2, 3, 1)  # (B, 3, h, w) -> (B, h, w, 3)

    return evaluate_features(describe, patch=patch, length=length, probe_scenes=probe_scenes,
                             normalize=False)


# ---------------------------------------------------------------------------------- the recipe


def evaluate(model: torch.nn.Module, device: torch.device | str = "cpu", *,
             length: int = TEST_LENGTH) -> dict[str, float]:
    """:func:`evaluate_dino`: the recipe's score."""
    return evaluate_dino(model, length=length, device=device)


def train(config: DinoConfig) -> torch.nn.Module:
    """Score the random-init ViT and the mean-RGB baseline, train with DINO + iBOT
    (:func:`train_dino`, scored ``config.evaluations`` times during training), score again, save
    the teacher backbone in float16 and write the card to ``config.out``; return the model.

    The final scores are taken on the float16 checkpoint as shipped, so that re-scoring it gives
    the card's numbers.
    """
    device, model = config.start()  # the random initialisation, scored below as the 'before'
    entry, steps, batch, lr = config.entry, config.steps, config.batch, config.lr
    scenes, length, probe = config.scenes, config.test_scenes, config.probe_scenes
    # 1. the baselines: mean colour of each patch, and the same ViT before training
    pixels = evaluate_pixels(length=length, probe_scenes=probe, patch=model.patch_size)
    before = evaluate_dino(model, length=length, device=device, probe_scenes=probe)
    # 2. DINO + iBOT, scored after each quarter of the steps
    curve: list[tuple[int, dict[str, float]]] = [(0, before)]

    def score_during(step: int, backbone: torch.nn.Module) -> None:
        curve.append((step,
                      evaluate_dino(backbone, length=length, device=device, probe_scenes=probe)))
        print(f"step {step}: " + ", ".join(f"{k} {curve[-1][1][k]:.3f}" for k in CURVE_METRICS),
              flush=True)

    every = max(1, steps // config.evaluations) if config.evaluations else 0
    run = train_dino(model, config, device, callback=score_during, callback_every=every)
    # 3. the trained teacher backbone, scored in float16 as it is shipped
    path = save_float16(model, config.checkpoint_path)
    model.load_state_dict(load_float32(path))
    score = evaluate_dino(model, length=length, device=device, probe_scenes=probe)
    curve.append((steps, score))
    autocast = ", bfloat16 autocast" if device.type == "cuda" else ""
    card = [
        *card_head(f"Zoo model `{config.name}` on synthetic scenes (self-supervised features, "
                   "DINO + iBOT)", entry, model),
        trained_line(config, device, run["steps"], run["minutes"])
        + f" ({run['seconds_per_step']:.2f} s per step, with the evaluations during training, "
        f"and {run['data_minutes']:.1f} min to draw the data); no labels used",
        f"- recipe (`segedu.zoo.dino.train_dino`): batch {batch} from {scenes} scenes of "
        f"{SIZE}x{SIZE} (seed 0), 2 global views of 64 px (20-60 % of the area; brightness, "
        "contrast and saturation jitter, no hue, grey or solarisation), no local views; DINO's "
        "loss on the class tokens and iBOT's masked patch loss (half of the views masked, "
        f"10-50 % of their patches in blocks), one head of {config.out_dim} prototypes for both; "
        f"AdamW {lr:g}, 10 % linear warm-up then cosine decay, weight decay cosine 0.04 -> 0.4, "
        f"teacher temperature {_temperatures()} (patches 0.02), teacher momentum cosine "
        f"0.996 -> 1, last layer frozen for 1 %, gradient norm clipped at 3{autocast}; the "
        f"teacher's backbone is shipped (last class loss {run['class_loss']:.3f}, patch loss "
        f"{run['patch_loss']:.3f})",
        f"- held-out split: the first {length} scenes of seed 1, never seen in training, on the "
        "16 x 16 patch grid (a patch's class: the most frequent of its pixels); k-means of each "
        "image's patch tokens (cosine, k = the classes present) matched to the classes by the "
        "Hungarian algorithm (mIoU, accuracy); linear probe (logistic regression) from "
        f"{probe} scenes of seed 0. `regions_`: the same with the three thing classes merged into "
        "one (sky, grass, water, thing)",
        "",
        *metric_table({key: score[key] for key in ALL_METRICS}),
        "What the training added, the same scores for the mean RGB colour of each patch "
        "(Euclidean k-means) and for this ViT at its random initialisation:",
        "",
        "| metric | mean RGB of the patch | random-init ViT | trained ViT |",
        "| --- | ---: | ---: | ---: |",
        *[f"| {key} | {pixels[key]:.3f} | {before[key]:.3f} | {score[key]:.3f} |"
          for key in ALL_METRICS],
        "",
        "During training (the teacher's backbone, in float32 but for the last row):",
        "",
        "| step | " + " | ".join(CURVE_METRICS) + " |",
        "| ---: |" + " ---: |" * len(CURVE_METRICS),
        *[f"| {step} | " + " | ".join(f"{values[k]:.3f}" for k in CURVE_METRICS) + " |"
          for step, values in curve],
        "",
    ]
    write_card(config.card_path, card)
    return model


def _temperatures() -> str:
    first, final = TEACHER_TEMP
    return f"{first:g} (constant)" if first == final else f"{first:g} -> {final:g} over 30 %"


RECIPE = Recipe(Task.FEATURES, DinoConfig, train, evaluate)
