"""The zoo's training as it was before the one loop (commit eedf9d6), kept only here, for
``test_one_loop_recipes.py``: the semantic and cell recipes' training through the old ``fit``
(their ``train`` up to the score, the card left out), and the few-label runs' phases through the
old ``train_steps``; both old loops are the copies in ``tests/engine/loops_before``.

Not for reuse: a fixed record of the old behaviour, which the shipped checkpoints were trained
with; the recipes on the one loop must reproduce it to the bit.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from segedu.engine import WarmupCosine
from segedu.engine.data_order import mix_seed
from segedu.models.foundation.dino import ema_update
from segedu.semi import mean_teacher_momentum
from segedu.zoo.cells import CellTargets, training_cells
from segedu.zoo.few_labels import methods
from segedu.zoo.few_labels.methods import _index_batches
from segedu.zoo.scores import scene_tensors
from segedu.zoo.semantic import zoo_loss
from tests.engine.loops_before.loop import fit
from tests.engine.loops_before.steps import train_steps


def semantic(model, config, device, *, loss_fn=zoo_loss, checkpoint_every=250):
    """``segedu.zoo.semantic.train`` after ``config.start()``, up to its score (``loss_fn``: the
    zoo's loss, or a spy around it; ``checkpoint_every``: 250 in the recipe)."""
    model = model.to(memory_format=torch.channels_last)
    images, labels = scene_tensors(seed=0, length=config.scenes)  # (L, 3, S, S), (L, S, S)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    scheduler = WarmupCosine(optimizer, config.steps)
    with torch.no_grad():  # does the model have an auxiliary output? (eval: BN on one image)
        model.eval()(images[:1])
    loader = DataLoader(TensorDataset(images, labels), batch_size=config.batch, shuffle=True)
    return fit(model, loader, loss_fn=loss_fn, optimizer=optimizer, scheduler=scheduler,
               max_steps=config.steps, device=device, amp=device.type == "cuda",
               progress=False, live_plot=False, seed=config.seed,
               checkpoint_dir=config.resume_dir,
               checkpoint_every=checkpoint_every if config.resume_dir is not None else None)


def cells(model, config, device, *, loss_fn=None, checkpoint_every=250):
    """``segedu.zoo.cells.train`` after ``config.start()``, up to its score (``loss_fn``: the
    model's own loss by default)."""
    train_images, train_instances = training_cells(config.entry.data, config.images)
    loader = DataLoader(CellTargets(train_images, train_instances, model.targets),
                        batch_size=config.batch, shuffle=True, drop_last=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    scheduler = WarmupCosine(optimizer, config.steps)
    return fit(model, loader, loss_fn=loss_fn or model.loss, optimizer=optimizer,
               scheduler=scheduler, max_steps=config.steps, device=device,
               amp=device.type == "cuda", progress=False, live_plot=False, log_every=100,
               seed=config.seed, checkpoint_dir=config.resume_dir,
               checkpoint_every=checkpoint_every if config.resume_dir is not None else None)


def few_label_phase(config, name, model, compute_loss, *, count, second=None, teacher=None):
    """``segedu.zoo.few_labels.methods._phase``: one network of a few-label run."""
    device = torch.device(config.device or "cpu")
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    scheduler = WarmupCosine(optimizer, config.steps)

    def after_step(step, values):
        if teacher is not None:  # the teacher follows the student (EMA of the weights)
            ema_update(teacher=teacher, student=model,
                       momentum=mean_teacher_momentum(step + 1, maximum=config.ema_max))

    half = config.batch // 2 if second is not None else config.batch

    def batches(start: int) -> Iterator:
        first = _index_batches(count, half, seed=mix_seed(config.seed, 1), start=start)
        other = (_index_batches(second, half, seed=mix_seed(config.seed, 2), start=start)
                 if second is not None else None)
        for step in range(start, config.steps):
            yield step, next(first), (next(other) if other is not None else None)

    model.train()
    result = train_steps(compute_loss, batches, model=model, optimizer=optimizer,
                         steps=config.steps, scheduler=scheduler, device=device,
                         log=None, log_every=50,
                         after_step=after_step, resume_file=config.phase_dir / f"{name}.pt",
                         save_every=100, keep_resume_file=True,
                         state={"teacher": teacher} if teacher is not None else None)
    return result["minutes"]


def few_labels(config):
    """``segedu.zoo.few_labels.train`` up to its score, its phases the old ones
    (:func:`few_label_phase` in the methods' place for the call); returns the model the run
    keeps."""
    images, labels = scene_tensors(seed=0, length=config.scenes)
    labels = labels.to(torch.uint8)
    known = config.scenes if config.method == "full" else config.labelled_count
    config.phase_dir.mkdir(parents=True, exist_ok=True)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(methods, "_phase", few_label_phase)
        model, _, _, _ = methods.TRAIN[config.method](config, images, labels, known)
    return model
