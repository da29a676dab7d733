"""The training of the zoo's DINO: DINO + iBOT's schedules and steps on the synthetic scenes."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from ...engine import WarmupCosine
from ...models.foundation.dino import (
    DINOHead,
    DINOLoss,
    collate_crops,
    cosine_momentum,
    make_teacher,
    teacher_temperature,
)
from ...models.foundation.dino.ibot import (
    MaskedPatchLoss,
    MaskedPatchWrapper,
    ibot_loss,
    random_block_masks,
)
from ...models.foundation.dino.training import update_student_and_teacher
from .. import Task
from ..recipe import TrainConfig, Training, train_run
from ..scores import scene_tensors
from .data import PROBE_SCENES, TEST_LENGTH, dino_augmentation

__all__ = ["lr_schedule", "weight_decay_at", "DinoConfig", "dino_training", "train_dino",
           "TEACHER_TEMP", "MASK_PROBABILITY", "MASK_RATIO"]

TEACHER_TEMP = (0.02, 0.02)  # (first, final): constant 0.02: the zoo's README says why
# iBOT's: half of the images, 30 +- 20 % of their patches
MASK_PROBABILITY, MASK_RATIO = 0.5, (0.1, 0.5)


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
        log_every: a line every so often. The base's ``seed`` draws the run's random choices
            (order, crops, masks).
        evaluations: score the teacher's backbone this many times during training (0: never).
            The base's ``save_every`` spaces the writes of the resume file.
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
               callback_every: int = 0, keep: dict | None = None) -> dict[str, float]:
    """Train the ViT ``model`` (a ``dino_vit_tiny``) with DINO and iBOT's masked patch loss, in
    place.

    On ``config.scenes`` scenes of seed 0, 2 global views each. The student is ``model`` with a
    :class:`~segedu.models.foundation.dino.DINOHead` shared by class and patch tokens and a mask
    token (:class:`~segedu.models.foundation.dino.ibot.MaskedPatchWrapper`); the teacher its EMA.
    ``mask_probability`` 0 (or ``patch_weight`` 0) leaves DINO alone. The steps run through
    :func:`segedu.zoo.recipe.train_run` (what they train with: :func:`dino_training`) with the
    loss
    :func:`~segedu.models.foundation.dino.ibot.ibot_loss` and the DINO family's own update
    (:func:`~segedu.models.foundation.dino.training.update_student_and_teacher`: the student's
    gradient norm clipped, the head's last layer frozen for the first 1 % of the steps, AdamW,
    then the teacher's EMA); the learning rate follows :class:`segedu.engine.WarmupCosine`
    (DINO's ``cosine_scheduler``: 10 % warm-up from 0, cosine to 1e-6), the weight decay
    :func:`weight_decay_at`. At the end the teacher's backbone weights are copied into
    ``model`` (DINO's released network is the teacher). Deterministic for ``config.seed`` on a CPU.
    ``callback(step, teacher_backbone)`` runs every ``callback_every`` steps (an evaluation during
    training), with torch's random state saved and restored around it, so it does not change the
    run.

    Every ``config.save_every`` steps the runner writes ``config.resume_path`` (student, teacher,
    optimizer, schedule, the losses' centres, the data order and every random state, and
    ``keep``: the caller's own record, e.g. the evaluations so far); a call that finds the file
    continues from it, restores ``keep`` in place, and ends as the run would have without the
    interruption. The file is removed when the run is complete. Returns ``steps``, ``minutes``
    (over every call of the run), ``seconds_per_step``, ``data_minutes``, and ``loss``,
    ``class_loss``, ``patch_loss`` (means of the last 50 steps).
    """
    device = torch.device(device)
    training = dino_training(model, config, device, log=log, callback=callback,
                             callback_every=callback_every, keep=keep)
    return train_run(config, model, device, training, log=log)


def _student_and_teacher(model: torch.nn.Module, config: DinoConfig, device: torch.device
                         ) -> tuple[MaskedPatchWrapper, MaskedPatchWrapper, torch.optim.AdamW]:
    """The student (``model`` + a shared head + a mask token), the teacher (a copy, no
    gradients) and AdamW on the student, biases and norms (and the mask token) without weight
    decay (DINO's ``get_params_groups``)."""
    head = DINOHead(in_dim=model.embed_dim, out_dim=config.out_dim, hidden_dim=config.hidden_dim,
                    bottleneck_dim=config.bottleneck_dim)
    student = MaskedPatchWrapper(backbone=model, head=head).to(device).train()
    teacher = make_teacher(student).train()
    named = [(n, p) for n, p in student.named_parameters() if p.requires_grad]
    decayed = [p for n, p in named if p.ndim > 1 and not n.endswith(".bias")]
    plain = [p for n, p in named if p.ndim <= 1 or n.endswith(".bias")]
    optimizer = torch.optim.AdamW([{"params": decayed}, {"params": plain, "weight_decay": 0.0}],
                                  lr=config.lr)
    return student, teacher, optimizer


def dino_training(model: torch.nn.Module, config: DinoConfig, device: torch.device, *,
                  log: Callable[[str], None] = print,
                  callback: Callable[[int, torch.nn.Module], None] | None = None,
                  callback_every: int = 0, keep: dict | None = None) -> Training:
    """What DINO + iBOT trains with (:func:`train_dino` says what each piece does); the resume
    file keeps the teacher, the centres, the data order, the last losses and ``keep``."""
    steps, batch, scenes, out_dim = config.steps, config.batch, config.scenes, config.out_dim
    generator = torch.Generator().manual_seed(config.seed)
    torch.manual_seed(config.seed)  # the augmentations draw from torch's global generator
    # 1. the data: scenes of seed 0, drawn once, kept as uint8 (L, 3, S, S)
    began = time.perf_counter()
    images = (scene_tensors(seed=0, length=scenes)[0] * 255).round().to(torch.uint8)
    data_minutes = (time.perf_counter() - began) / 60
    augment = dino_augmentation()
    # 2. student, teacher, their optimizer, the losses and the schedules
    student, teacher, optimizer = _student_and_teacher(model, config, device)
    class_loss = DINOLoss(out_dim=out_dim).to(device)
    patch_loss = MaskedPatchLoss(out_dim=out_dim).to(device)
    temp_warmup, frozen = max(1, (3 * steps) // 10), steps // 100
    scheduler = lr_schedule(optimizer, steps)
    grid = (augment.global_size // model.patch_size,) * 2  # the patch grid of a view, for its masks
    # where the data stands: the pass's order and the next scene in it; the last losses logged
    data = {"order": torch.randperm(scenes, generator=generator), "position": 0}
    recent, taus, rates = [], [], []

    def batches(first: int):
        """Each step's batch: scenes (reshuffled at each pass), 2 views each, their block masks,
        and the step's teacher temperature."""
        for step in range(first, steps):
            if data["position"] + batch > scenes:
                data.update(order=torch.randperm(scenes, generator=generator), position=0)
            chosen = data["order"][data["position"]:data["position"] + batch]
            data["position"] += batch
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
            _log_step(log, step, steps, recent, taus[-1], rates[-1], out_dim)
        due = callback_every > 0 and (step + 1) % callback_every == 0 and step + 1 < steps
        if callback is not None and due:
            with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
                callback(step + 1, teacher.backbone)
            teacher.train()

    def finish(run: dict) -> dict:
        # the released network is the teacher's backbone
        model.load_state_dict(teacher.backbone.state_dict())
        return {"steps": steps, "minutes": run["minutes"],
                "seconds_per_step": 60 * run["minutes"] / steps, "data_minutes": data_minutes,
                **{k: sum(r[k] for r in recent) / len(recent) for k in recent[-1]}}

    kept = {"teacher": teacher, "class_centre": class_loss, "patch_centre": patch_loss,
            "generator": generator, "data": data, "recent": recent}
    if keep is not None:
        kept["keep"] = keep
    return Training(compute_loss, batches, optimizer, scheduler, amp=True, model=student,
                    log_every=None, update=update, after_step=after_step, state=kept,
                    finish=finish)


def _log_step(log, step: int, steps: int, recent: list[dict], tau: float, rate: float,
              out_dim: int) -> None:
    """DINO's line: the mean losses of the last steps, the temperature, the rate, a collapse."""
    # a class loss of ln K means uniform outputs: the collapse that centring can cause
    uniform = abs(recent[-1]["class_loss"] - math.log(out_dim)) < 1e-3
    collapsed = ", collapsed: uniform outputs" if uniform else ""
    mean = {k: sum(r[k] for r in recent) / len(recent) for k in recent[-1]}
    log(f"step {step + 1}/{steps}: class loss {mean['class_loss']:.3f}, "
        f"patch loss {mean['patch_loss']:.3f} (means of the last {len(recent)}; "
        f"ln K = {math.log(out_dim):.3f}), teacher temperature {tau:.3f}, "
        f"lr {rate:.2e}{collapsed}")
