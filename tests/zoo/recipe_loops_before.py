"""The zoo's training loops as they were before :func:`segedu.zoo.recipe.run_recipe`, kept only
here, for ``test_recipe_runner.py``: each is the recipe's own code at commit 50c9947 (the last one
that wrote it by hand), reduced to the path of a fresh run (no resume file to read, none written:
writing one only reads the state) and without logging. Each returns the loss of every step.

Not for reuse: this file is a fixed record of the old behaviour, which the shipped checkpoints
were trained with; the runner must reproduce it to the bit.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from segedu.data import SyntheticScenes, SyntheticVideos
from segedu.engine import WarmupCosine, cycle
from segedu.engine.amp import autocast
from segedu.engine.batch import check_finite, check_loss
from segedu.engine.update import optimizer_step
from segedu.losses import dice_loss
from segedu.models.foundation.dino import (
    DINOHead,
    DINOLoss,
    collate_crops,
    cosine_momentum,
    make_teacher,
    teacher_temperature,
)
from segedu.models.foundation.dino.ibot import (
    MaskedPatchLoss,
    MaskedPatchWrapper,
    ibot_loss,
    random_block_masks,
)
from segedu.models.foundation.dino.training import update_student_and_teacher
from segedu.models.foundation.sam2 import box_to_points
from segedu.models.universal.mask2former import MaskSetCriterion
from segedu.zoo.dino.data import dino_augmentation
from segedu.zoo.dino.training import lr_schedule, weight_decay_at
from segedu.zoo.sam import sample_prompts
from segedu.zoo.sam.data import scene
from segedu.zoo.sam.forward import image_step
from segedu.zoo.scores import SIZE, scene_tensors


def train_steps(compute_loss, batches, *, model, optimizer, steps, scheduler=None,
                grad_clip=None, device="cpu", amp_dtype=None, update=None, after_step=None):
    """``segedu.engine.train_steps`` before it resumed runs itself (``start`` 0, no log)."""
    device = torch.device(device)
    use_amp = amp_dtype is not None and device.type == "cuda"
    losses = []
    for step in range(steps):
        batch = next(batches)
        with autocast(device, enabled=use_amp, dtype=amp_dtype or torch.float16):
            out = compute_loss(batch)
        loss, parts = out if isinstance(out, tuple) else (out, {})
        loss = check_loss(loss)
        value = float(loss.detach())
        if not math.isfinite(value):
            check_finite(value, step=step, parts={k: float(v.detach()) for k, v in parts.items()})
        if update is None:
            optimizer_step(loss, model=model, optimizer=optimizer, grad_clip=grad_clip,
                           scheduler=scheduler)
        else:
            update(loss, step)
            if scheduler is not None:
                scheduler.step()
        values = {"loss": value, **{k: float(v.detach()) for k, v in parts.items()}}
        if after_step is not None:
            after_step(step, dict(values))
        losses.append(value)
    return losses


def sam(model, config, device):
    """``segedu.zoo.sam.recipe.train_sam``."""
    def scene_batches(scenes, batch, order):
        queue = []
        while True:
            while len(queue) < batch:
                queue += torch.randperm(len(scenes), generator=order).tolist()
            indices, queue = queue[:batch], queue[batch:]
            images, segments = zip(*(scene(scenes, i) for i in indices), strict=True)
            yield images, segments

    warmup = min(config.warmup, config.steps // 5)
    model.to(device).train()
    data = SyntheticScenes(size=SIZE, length=config.scenes, seed=0)
    order = torch.Generator().manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr,
                                  weight_decay=config.weight_decay)
    scheduler = WarmupCosine(optimizer, config.steps, warmup_steps=warmup, warmup_start=0.01)

    def compute_loss(batch):
        images, segments = batch
        embeddings = model.embed_images(torch.stack(images).to(device) * 255)
        per_image = [image_step(model, e[None], s, rng, prompts=config.prompts,
                                rounds=config.rounds)
                     for e, s in zip(embeddings, segments, strict=True) if len(s)]
        losses = {k: sum(p[k] for p in per_image) / len(per_image)
                  for k in ("total", "mask", "focal", "dice", "iou")}
        return losses.pop("total"), losses

    return train_steps(compute_loss, scene_batches(data, config.batch, order), model=model,
                       optimizer=optimizer, steps=config.steps, scheduler=scheduler,
                       grad_clip=1.0, device=device, amp_dtype=torch.bfloat16)


def sam2(model, config, device):
    """``segedu.zoo.video.train_sam2`` (now ``segedu.zoo.sam2``)."""
    from segedu.zoo.sam2 import _normalise, _objects, tracks_loss

    warmup = min(config.warmup, config.steps // 5)
    model.to(device).train()
    data = SyntheticVideos(size=128, frames=config.frames, length=config.clips, seed=0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr,
                                  weight_decay=config.weight_decay)
    scheduler = WarmupCosine(optimizer, config.steps, warmup_steps=warmup, warmup_start=0.01)

    def batches():
        for step in range(0, config.steps):
            rng = np.random.default_rng([config.seed, step])
            yield rng, [data[int(i)] for i in rng.integers(len(data), size=config.batch)]

    def compute_loss(batch):
        rng, clips = batch
        videos, truths, points, labels, tracks = [], [], [], [], []
        for video, target in clips:
            masks = target["masks"].as_subclass(torch.Tensor)
            visible = _objects(masks, data.min_area)
            chosen = [visible[i] for i in rng.permutation(len(visible))[:config.objects]]
            if not chosen:
                continue
            videos.append(video.as_subclass(torch.Tensor))
            prompts = sample_prompts(masks[0, chosen], len(chosen), rng)
            for k, index in enumerate(prompts["index"].tolist()):
                if prompts["is_point"][k]:
                    points.append(prompts["points"][k].reshape(1, 1, 2).to(device))
                    labels.append(torch.ones(1, 1, dtype=torch.int64, device=device))
                else:
                    corners, corner_labels = box_to_points(prompts["boxes"][k][None])
                    points.append(corners.to(device))
                    labels.append(corner_labels.to(device))
                truths.append(masks[:, chosen[index]])
                tracks.append(len(videos) - 1)
        frames = model.encode_image(_normalise(model, torch.cat(videos).to(device)))
        num_frames = videos[0].shape[0]
        frames = frames.select([c * num_frames + t for c in tracks for t in range(num_frames)])
        parts = tracks_loss(model, frames, torch.stack(truths).to(device), points, labels)
        return parts["mask"] + parts["iou"] + parts["score"], parts

    return train_steps(compute_loss, batches(), model=model, optimizer=optimizer,
                       steps=config.steps, scheduler=scheduler, grad_clip=1.0, device=device)


def clipseg(model, config, device):
    """``segedu.zoo.text_prompts.train_clipseg`` (now ``segedu.zoo.clipseg``)."""
    from segedu.zoo.clipseg import _step_batch, decode_pairs, encode_images

    warmup = min(config.warmup, config.steps // 5)
    model.to(device).train()
    scenes = SyntheticScenes(size=SIZE, length=config.scenes, seed=0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr,
                                  weight_decay=config.weight_decay)
    scheduler = WarmupCosine(optimizer, config.steps, warmup_steps=warmup, warmup_start=0.01)

    def batches():
        for step in range(0, config.steps):
            yield _step_batch(scenes, config, step)

    def compute_loss(batch):
        images, input_ids, attention_mask, targets = (t.to(device) for t in batch)
        encoded = encode_images(model, images)
        condition = model.condition(input_ids=input_ids, attention_mask=attention_mask)
        logits = decode_pairs(model, encoded, condition)
        targets = targets.flatten(0, 1)
        bce = F.binary_cross_entropy_with_logits(logits, targets)
        dice = dice_loss(logits, targets, mode="per_mask", smooth=1.0)
        return bce + dice, {"bce": bce, "dice": dice}

    return train_steps(compute_loss, batches(), model=model, optimizer=optimizer,
                       steps=config.steps, scheduler=scheduler, grad_clip=1.0, device=device)


def mask2former(model, config, device):
    """``segedu.zoo.panoptic.train_mask2former`` (EoMT's annealing included)."""
    from segedu.zoo.panoptic import float_outputs, panoptic_scenes, stack_collate

    model.to(device).train()
    criterion = MaskSetCriterion(num_classes=model.num_classes, num_points=config.num_points,
                                 class_weight=config.class_weight).to(device)
    loader = DataLoader(
        panoptic_scenes(seed=0, length=config.scenes, target=model.targets),
        batch_size=config.batch, shuffle=True, drop_last=True, collate_fn=stack_collate,
        generator=torch.Generator().manual_seed(config.seed))
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=0.05)
    scheduler = WarmupCosine(optimizer, config.steps, warmup_steps=config.warmup,
                             warmup_start=0.01)
    batches = cycle(loader)
    anneal = getattr(model, "anneal", None)
    if anneal is not None:
        anneal(0 / config.steps)

    def compute_loss(batch):
        images, targets = batch
        images = images.to(device)
        targets = [{k: v.to(device) for k, v in t.items()} for t in targets]
        outputs = model(images)
        with torch.autocast(device_type=device.type, enabled=False):
            losses = criterion(float_outputs(outputs), targets)
        parts = {k: losses[k] for k in ("loss_ce", "loss_mask", "loss_dice")}
        return criterion.total(losses), parts

    def after_step(step, values):
        if anneal is not None:
            anneal((step + 1) / config.steps)

    return train_steps(compute_loss, batches, model=model, optimizer=optimizer,
                       steps=config.steps, scheduler=scheduler, grad_clip=0.01, device=device,
                       amp_dtype=torch.bfloat16, after_step=after_step)


def detection(model, config, dataset, device):
    """``segedu.zoo.instances.train_detection`` (a run of ``config.steps``, not timed)."""
    from segedu.zoo.instances import _collate

    model.to(device).train()
    loader = DataLoader(dataset, batch_size=config.batch, shuffle=True, drop_last=True,
                        collate_fn=_collate, num_workers=config.workers,
                        persistent_workers=config.workers > 0,
                        generator=torch.Generator().manual_seed(config.seed))
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=1e-4)
    scheduler = WarmupCosine(optimizer, config.steps, warmup_steps=config.warmup,
                             warmup_start=0.01)

    def compute_loss(batch):
        images, targets = batch
        images = [im.to(device, non_blocking=True) for im in images]
        targets = [{k: v.to(device, non_blocking=True) for k, v in t.items()} for t in targets]
        losses = model(images, targets)
        return sum(v.float() for v in losses.values()), losses

    return train_steps(compute_loss, cycle(loader), model=model, optimizer=optimizer,
                       steps=config.steps, scheduler=scheduler, grad_clip=10.0, device=device,
                       amp_dtype=torch.bfloat16)


def dino(model, config, device):
    """``segedu.zoo.dino.train_dino`` (no evaluation during training); the teacher's backbone is
    copied into ``model`` at the end, as there."""
    steps, batch, scenes, out_dim = config.steps, config.batch, config.scenes, config.out_dim
    device = torch.device(device)
    generator = torch.Generator().manual_seed(config.seed)
    torch.manual_seed(config.seed)
    images = (scene_tensors(seed=0, length=scenes)[0] * 255).round().to(torch.uint8)
    augment = dino_augmentation()
    head = DINOHead(in_dim=model.embed_dim, out_dim=out_dim, hidden_dim=config.hidden_dim,
                    bottleneck_dim=config.bottleneck_dim)
    student = MaskedPatchWrapper(backbone=model, head=head).to(device).train()
    teacher = make_teacher(student).train()
    class_loss = DINOLoss(out_dim=out_dim).to(device)
    patch_loss = MaskedPatchLoss(out_dim=out_dim).to(device)
    named = [(n, p) for n, p in student.named_parameters() if p.requires_grad]
    decayed = [p for n, p in named if p.ndim > 1 and not n.endswith(".bias")]
    plain = [p for n, p in named if p.ndim <= 1 or n.endswith(".bias")]
    optimizer = torch.optim.AdamW([{"params": decayed}, {"params": plain, "weight_decay": 0.0}],
                                  lr=config.lr)
    temp_warmup, frozen = max(1, (3 * steps) // 10), steps // 100
    scheduler = lr_schedule(optimizer, steps)
    grid = (augment.global_size // model.patch_size,) * 2
    data = {"order": torch.randperm(scenes, generator=generator), "position": 0}

    def batches():
        for step in range(0, steps):
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
        views, masks, tau = step_batch
        return ibot_loss(student, teacher, class_loss, patch_loss, views, masks, teacher_temp=tau,
                         patch_teacher_temp=config.patch_teacher_temp,
                         patch_weight=config.patch_weight, all_patches=config.all_patches)

    def update(loss, step):
        optimizer.param_groups[0]["weight_decay"] = weight_decay_at(step, steps,
                                                                    *config.weight_decay)
        update_student_and_teacher(student, teacher, loss, optimizer,
                                   cosine_momentum(step, steps, base=config.momentum),
                                   clip_grad=config.clip_grad, freeze_last_layer=step < frozen)

    losses = train_steps(compute_loss, batches(), model=student, optimizer=optimizer,
                         steps=steps, scheduler=scheduler, device=device,
                         amp_dtype=torch.bfloat16, update=update)
    model.load_state_dict(teacher.backbone.state_dict())
    return losses


def few_labels_supervised(model, config, images, labels, count):
    """``segedu.zoo.few_labels._supervised`` (now in ``segedu.zoo.few_labels.methods``): its
    ``_phase`` (Adam, cosine decay, the index batches of ``(seed, epoch)``) on the labelled
    scenes' random crops."""
    from segedu.engine.data_order import mix_seed
    from segedu.zoo.few_labels.methods import _crops, _index_batches, _loss

    def compute_loss(batch):
        step, idx, _ = batch
        x, y = _crops(images[idx], labels[idx], size=config.crop, step=step, seed=config.seed)
        return _loss(model(x), y)

    device = torch.device(config.device or "cpu")
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    scheduler = WarmupCosine(optimizer, config.steps)
    first = _index_batches(count, config.batch, seed=mix_seed(config.seed, 1), start=0)

    def batches():
        for step in range(0, config.steps):
            yield step, next(first), None

    model.train()
    return train_steps(compute_loss, batches(), model=model, optimizer=optimizer,
                       steps=config.steps, scheduler=scheduler, device=device)
