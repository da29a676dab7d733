"""The five few-label methods (:mod:`segedu.zoo.few_labels`): one resumable training phase
(:func:`_phase`), the data order and crops, and each method's networks; each method returns
``(model, minutes, card lines, card tables)``."""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from ...config import seed_everything
from ...data import SyntheticScenes
from ...engine import EpochBatchSampler, WarmupCosine, copy_atomically
from ...engine.data_order import mix_seed
from ...losses import ce_dice_loss
from ...models import get_model
from ...models.foundation.dino import ema_update, make_teacher
from ...semi import (
    CAMClassifier,
    cam_pseudo_masks,
    consistency_loss,
    image_level_labels,
    label_images,
    mean_teacher_momentum,
    pseudo_label_quality,
    sigmoid_rampup,
)
from ..float16 import load_float32, save_float16
from ..recipe import Training, train_run
from ..scores import evaluate as class_iou
from .config import IGNORE, UNET, FewLabelConfig, checkpoint_path

__all__ = ["TRAIN"]


# ---------------------------------------------------------------------------------------------
# data order and one resumable training phase


def _index_batches(count: int, batch: int, *, seed: int, start: int) -> Iterator[list[int]]:
    """The index batches of steps ``start, start + 1, ...``: epochs of a shuffled order that is
    a function of ``(seed, epoch)`` (:class:`segedu.engine.EpochBatchSampler`), so a resumed
    run sees the batches it would have seen."""
    sampler = EpochBatchSampler(num_samples=count, batch_size=min(batch, count), shuffle=True,
                                drop_last=True, seed=seed)
    epoch, skip = divmod(start, len(sampler))
    while True:
        sampler.set_epoch(epoch, skip=skip)
        yield from sampler
        epoch, skip = epoch + 1, 0


def _phase(config: FewLabelConfig, name: str, model: nn.Module, compute_loss, *,
           count: int, second: int | None = None, teacher: nn.Module | None = None) -> float:
    """Train ``model`` for ``config.steps`` steps with ``compute_loss((step, indices,
    second_indices))``, the phase ``name`` of the run (:func:`segedu.zoo.recipe.train_run`, kept
    in ``work/<name>.pt`` every 100 steps and at the end; a restarted phase goes on from it, a
    finished one is only loaded). ``count`` (and ``second``) are the sizes of the index sets
    batches are drawn from (half a batch each when there are two); ``teacher``: an EMA of
    ``model`` after every step (the mean teacher), kept in the file too. Returns the phase's
    minutes (of every call)."""
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    scheduler = WarmupCosine(optimizer, config.steps)

    def after_step(step: int, values: dict[str, float]) -> None:
        if teacher is not None:  # the teacher follows the student (EMA of the weights)
            ema_update(teacher=teacher, student=model,
                       momentum=mean_teacher_momentum(step + 1, maximum=config.ema_max))

    half = config.batch // 2 if second is not None else config.batch

    def batches(start: int) -> Iterator:
        # the index batches of each step are a function of (seed, step): none drawn twice
        first = _index_batches(count, half, seed=mix_seed(config.seed, 1), start=start)
        other = (_index_batches(second, half, seed=mix_seed(config.seed, 2), start=start)
                 if second is not None else None)
        for step in range(start, config.steps):
            yield step, next(first), (next(other) if other is not None else None)

    model.train()
    training = Training(compute_loss, batches, optimizer, scheduler, log_every=50,
                        after_step=after_step,
                        state={"teacher": teacher} if teacher is not None else {})
    run = train_run(config, model, config.torch_device(), training, phase=name,
                    log=lambda line: print(f"{name}: {line}", flush=True))
    return run["minutes"]


def _unet(seed: int) -> nn.Module:
    """The zoo's U-Net, initialised from ``seed`` (the same start for every round of a run)."""
    seed_everything(seed)
    return get_model(UNET.model, **UNET.kwargs)


def _crops(images: torch.Tensor, labels: torch.Tensor, *, size: int, step: int,
           seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A random ``size x size`` crop of each image ``(B, 3, S, S)`` and of its labels ``(B, S,
    S)``, the same window for both; the windows are a function of the run's seed and the step
    (exact resume)."""
    full = images.shape[-1]
    if size >= full:
        return images, labels
    generator = torch.Generator().manual_seed(mix_seed(seed, 4, step))
    corners = torch.randint(0, full - size + 1, (len(images), 2), generator=generator).tolist()
    windows = [(slice(y, y + size), slice(x, x + size)) for y, x in corners]
    return (torch.stack([im[:, rows, cols] for im, (rows, cols) in zip(images, windows,
                                                                         strict=True)]),
            torch.stack([lab[rows, cols] for lab, (rows, cols) in zip(labels, windows,
                                                                        strict=True)]))


def _loss(outputs: dict[str, torch.Tensor], target: torch.Tensor) -> torch.Tensor:
    """The zoo's cross-entropy + soft Dice, unsure pseudo-labels (``IGNORE``) left out."""
    return ce_dice_loss(outputs["out"].float(), target.long(), ignore_index=IGNORE)


# ---------------------------------------------------------------------------------------------
# the five methods; each returns (model, minutes, card lines, card tables)


def _unet_on(config, images, labels, count):
    """The U-Net of the run's seed trained on random crops of the first ``count`` ``images``
    and their ``labels`` (masks or pseudo-masks); returns it and the phase's minutes."""
    model = _unet(config.seed)

    def compute_loss(batch):
        step, idx, _ = batch
        x, y = _crops(images[idx], labels[idx], size=config.crop, step=step,
                      seed=config.seed)
        return _loss(model(x), y)

    return model, _phase(config, "unet", model, compute_loss, count=count)


def _supervised(config, images, labels, count):
    model, minutes = _unet_on(config, images, labels, count)
    return model, minutes, [], []


def _pseudo_labels(config, images, labels, known):
    teacher_path = checkpoint_path("supervised" + config.suffix, config.out)  # same budget
    if not teacher_path.is_file():
        suffix = f" --suffix {config.suffix}" if config.suffix else ""
        raise FileNotFoundError(f"{teacher_path} is missing: pseudo_labels starts from the "
                                "supervised run's model; run `python -m segedu.zoo.few_labels "
                                f"supervised --steps {config.steps}{suffix}` first")
    teacher = get_model(UNET.model, **UNET.kwargs)
    teacher.load_state_dict(load_float32(teacher_path))
    # the run keeps the teacher it started from: shipped alone, its median seed's supervised
    # model need not be this seed's
    copy_atomically(teacher_path,
                    config.out / f"unet_fewlabels_pseudo_labels{config.suffix}_round0.pt")
    unlabelled = torch.arange(known, len(images))
    truth = labels[unlabelled].long()
    table = ["| round | teacher | pixels labelled | of them right |", "| --- | --- | ---: | ---: |"]
    minutes = 0.0
    for round_ in range(1, config.rounds + 1):
        # label the unlabelled scenes with the current teacher, keep the sure pixels
        pseudo = label_images(teacher, images[unlabelled], threshold=config.threshold,
                              ignore_index=IGNORE).to(torch.uint8)
        quality = pseudo_label_quality(pseudo.long(), truth, ignore_index=IGNORE)
        source = "supervised" if round_ == 1 else f"round {round_ - 1}'s student"
        table.append(f"| {round_} | {source} | {quality['coverage']:.3f} | "
                     f"{quality['accuracy']:.3f} |")
        targets = torch.cat([labels[:known], pseudo])  # true masks, then pseudo-labels
        student = _unet(config.seed)

        def compute_loss(batch, student=student, targets=targets):
            step, idx, other = batch
            idx = torch.cat([torch.as_tensor(idx), known + torch.as_tensor(other)])
            x, y = _crops(images[idx], targets[idx], size=config.crop, step=step,
                          seed=config.seed)
            return _loss(student(x), y)

        minutes += _phase(config, f"round{round_}", student, compute_loss, count=known,
                          second=len(images) - known)
        if round_ < config.rounds:
            save_float16(student, config.out / f"unet_fewlabels_pseudo_labels{config.suffix}"
                                           f"_round{round_}.pt")
        teacher = student
    notes = [f"- pseudo-labels on the {len(unlabelled)} unlabelled training scenes, a pixel kept "
             f"when the teacher's probability is at least {config.threshold:g} (each round a new "
             f"U-Net from the same initialisation; the teacher of round 1 is "
             f"`{teacher_path.name}` (kept as round 0), whose {config.steps} steps are not "
             "counted below; the "
             f"models of rounds before the last are kept as "
             f"`unet_fewlabels_pseudo_labels{config.suffix}_round<r>.pt`); the pseudo-labels of "
             "each round "
             "are in the second table"]
    return teacher, minutes, notes, [*table, ""]


def _noisy(x: torch.Tensor, std: float, generator: torch.Generator) -> torch.Tensor:
    return x + std * torch.randn(x.shape, generator=generator)


def _mean_teacher(config, images, labels, known):
    student = _unet(config.seed)
    teacher = make_teacher(student)  # the EMA, a copy at step 0, no gradients
    rampup_steps = round(config.rampup * config.steps)

    def compute_loss(batch):
        step, idx, other = batch
        idx = torch.cat([torch.as_tensor(idx), known + torch.as_tensor(other)])
        # (B, 3, c, c): half labelled, half not (the unlabelled half's labels are never read)
        x, y = _crops(images[idx], labels[idx], size=config.crop, step=step,
                      seed=config.seed)
        generator = torch.Generator().manual_seed(mix_seed(config.seed, 3, step))
        out = student(_noisy(x, config.noise, generator))["out"]
        with torch.no_grad():  # the teacher: other noise, flipped left-right, flipped back
            teacher.train()  # batch statistics, as the paper's code (its BN buffers its own)
            seen = torch.flip(_noisy(x, config.noise, generator), dims=(-1,))
            target = torch.flip(teacher(seen)["out"], dims=(-1,))
        half = len(idx) // 2
        supervised = _loss({"out": out[:half]}, y[:half])
        weight = config.consistency * sigmoid_rampup(step, rampup_steps)
        consistency = consistency_loss(out, target)
        return supervised + weight * consistency, {"supervised": supervised,
                                                   "consistency": consistency}

    minutes = _phase(config, "student", student, compute_loss, count=known,
                     second=len(images) - known, teacher=teacher)
    student_iou = class_iou(student, "cpu", length=config.test_scenes)
    notes = [f"- consistency: squared distance of the class probabilities, weight "
             f"{config.consistency:g} after a sigmoid ramp-up exp(-5(1-t)^2) over the first "
             f"{rampup_steps} steps; teacher = EMA of the student, decay min(1 - 1/(t+1), "
             f"{config.ema_max:g}); noise: Gaussian, std {config.noise:g}, the teacher's input "
             "also flipped left-right (its output flipped back)",
             f"- the student (not kept) scores mIoU {float(student_iou.nanmean()):.3f} on the "
             "held-out split; the card's table is the teacher's"]
    return teacher, minutes, notes, []


def _cam(config, images, labels, known):
    num_classes = len(SyntheticScenes.classes)
    tags = image_level_labels(labels.long(), num_classes)  # (L, K): which classes each shows
    seed_everything(config.seed)
    classifier = CAMClassifier(num_classes=num_classes)

    def classifier_loss(batch):
        _, idx, _ = batch
        return F.binary_cross_entropy_with_logits(classifier(images[idx]), tags[idx])

    minutes = _phase(config, "classifier", classifier, classifier_loss, count=len(images))
    kept = f"unet_fewlabels_{config.run_name}_classifier.pt"  # for the figures
    save_float16(classifier, config.out / kept)
    classifier.eval()
    with torch.no_grad():
        masks = torch.cat([
            cam_pseudo_masks(classifier.upsampled_cams(images[i:i + 50]), tags[i:i + 50],
                             threshold=config.cam_threshold, ignore_index=IGNORE)
            for i in range(0, len(images), 50)]).to(torch.uint8)
    quality = pseudo_label_quality(masks.long(), labels.long(), ignore_index=IGNORE)
    model, unet_minutes = _unet_on(config, images, masks, len(images))
    minutes += unet_minutes
    notes = [f"- image-level labels of all {len(images)} training scenes (which of the "
             f"{num_classes} classes each shows), no mask: a `CAMClassifier` (ResNet-18 width 16, "
             f"output stride 8, GAP, linear; binary cross-entropy per class) trained with the "
             f"same budget on whole scenes (their labels are the whole scene's), its CAMs "
             f"normalised, absent classes removed, a pixel kept when its "
             f"best score is at least {config.cam_threshold:g}: the pseudo-masks label "
             f"{quality['coverage']:.3f} of the pixels, {quality['accuracy']:.3f} of those "
             "right; then the U-Net trained on them (the minutes count both networks); the "
             f"classifier is kept as `{kept}`"]
    return model, minutes, notes, []


TRAIN = {"supervised": _supervised, "pseudo_labels": _pseudo_labels,
         "mean_teacher": _mean_teacher, "full": _supervised, "cam": _cam}
