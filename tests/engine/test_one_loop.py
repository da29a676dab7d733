"""The one loop (segedu.engine.train_steps, with fit its front by epochs) against the two loops it
replaced, kept for this test in ``loops_before/``: the same loss at every step, the same history
and the same weights, bit for bit (both run here, on the same machine); and a run that one of the
old loops stopped, its resume file in the old layout, goes on in the new loop to the weights of a
run that never stopped (runs under way when the one loop came keep going).

The set-up has what usually breaks this: shuffling, dropout, augmentations drawing from torch,
NumPy and Python, momentum, a schedule, clipping, validation that shuffles, a stop mid-epoch.
Budget: about 2 s for the file on one CPU thread.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from segedu.config import seed_everything
from segedu.engine import CHECKPOINT_NAME, WarmupCosine, fit, load_checkpoint, train_steps

from .loops_before.loop import fit as fit_before
from .loops_before.steps import train_steps as train_steps_before
from .tiny_problem import Augmented, TinySegNet, assert_bitwise_equal, make_data, params


class _Stop(Exception):
    """Stands for the process dying."""


def _fit_session(loop, checkpoint_dir=None, *, stop_at=None, max_steps=13, **kwargs):
    """One notebook session of ``loop`` (``fit`` or the copy of the old one), built from scratch;
    returns (weights, optimizer state, history, the training loss of every step)."""
    seed_everything(0)
    model = TinySegNet(dropout=0.3)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.3, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=4, gamma=0.7)
    loader = DataLoader(Augmented(make_data(n=20)), batch_size=4, shuffle=True)  # 5 a epoch
    val_loader = DataLoader(Augmented(make_data(n=8, seed=1)), batch_size=4, shuffle=True)
    losses = []

    def loss_fn(outputs, targets):
        loss = F.cross_entropy(outputs, targets)
        if torch.is_grad_enabled():  # a training step, not validation
            if len(losses) == stop_at:
                raise _Stop
            losses.append(float(loss.detach()))
        return loss

    history = loop(model, loader, loss_fn=loss_fn, optimizer=optimizer, scheduler=scheduler,
                   max_steps=max_steps, grad_clip=0.5, val_loader=val_loader, log_every=2,
                   checkpoint_dir=checkpoint_dir, progress=False, live_plot=False, **kwargs)
    return params(model), optimizer.state_dict(), history, losses


def _same_optimizer(a, b):
    for k, v in a["state"].items():
        assert torch.equal(v["momentum_buffer"], b["state"][k]["momentum_buffer"])


def test_fit_is_the_loop_before_it(tmp_path):
    weights, optimizer, history, losses = _fit_session(fit, tmp_path / "new", checkpoint_every=3)
    old_weights, old_optimizer, old_history, old_losses = _fit_session(
        fit_before, tmp_path / "old", checkpoint_every=3)
    assert len(losses) == 13 and losses == old_losses  # every step's loss, exactly
    assert_bitwise_equal(weights, old_weights)
    _same_optimizer(optimizer, old_optimizer)
    assert history.train == old_history.train  # the records: step, epoch, mean loss, rate
    assert history.val == old_history.val and len(history.val) == 3  # epochs 1, 2, the end


def _steps_session(loop, path=None, *, stop_at=None, custom=False):
    """A step-based run of ``loop`` whose data order, noise and teacher live in every kind of
    state the resume file keeps; ``custom``: a family's own update (DINO's way in). Returns
    (weights, teacher weights, the loss of every step, what the loop returned)."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Dropout(0.3), torch.nn.Linear(8, 1))
    teacher = torch.nn.Linear(4, 1)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    scheduler = WarmupCosine(optimizer, 7, warmup_steps=2, warmup_start=0.01)
    order, noise, progress = torch.Generator().manual_seed(1), np.random.default_rng(2), {"n": 0}
    data, losses = (torch.randn(10, 4), torch.randn(10, 1)), []

    def batches(first):
        while True:
            idx = torch.randint(10, (3,), generator=order)
            progress["n"] += 1
            yield data[0][idx] + float(noise.normal()), data[1][idx]

    def compute_loss(batch):
        if len(losses) == stop_at:
            raise _Stop
        loss = F.mse_loss(model(batch[0]), batch[1])
        losses.append(float(loss.detach()))
        return loss, {"mse": loss}

    def after_step(step, values):
        with torch.no_grad():
            teacher.weight.mul_(0.5).add_(0.5 * model[0].weight[:1])

    def update(loss, step):
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 0.5 + step)
        optimizer.step()

    run = loop(compute_loss, batches, model=model, optimizer=optimizer, steps=7,
               scheduler=scheduler, grad_clip=None if custom else 0.5, log=None, log_every=3,
               update=update if custom else None, after_step=after_step, resume_file=path,
               save_every=2, state={"order": order, "noise": noise, "progress": progress,
                                    "teacher": teacher})
    return params(model), params(teacher), losses, run


@pytest.mark.parametrize("custom", [False, True])
def test_train_steps_is_the_loop_before_it(tmp_path, custom):
    weights, teacher, losses, run = _steps_session(train_steps, tmp_path / "new.pt",
                                                   custom=custom)
    old_weights, old_teacher, old_losses, old_run = _steps_session(
        train_steps_before, tmp_path / "old.pt", custom=custom)
    assert len(losses) == 7 and losses == old_losses
    assert_bitwise_equal(weights, old_weights)
    assert_bitwise_equal(teacher, old_teacher)
    assert {k: run[k] for k in ("steps", "loss", "mse")} == {
        k: old_run[k] for k in ("steps", "loss", "mse")}


def test_a_last_pt_of_the_fit_before_goes_on_in_the_new_fit(tmp_path):
    """The old fit stops (a crash during step 9, its last.pt of step 6 in the old layout); the new
    fit goes on from that file to the weights, optimizer and history of a run that never
    stopped. A last.pt of a still older fit, which did not record its time, goes on too."""
    weights, optimizer, history, losses = _fit_session(fit, tmp_path / "whole", checkpoint_every=3)
    with pytest.raises(_Stop):
        _fit_session(fit_before, tmp_path, checkpoint_every=3, stop_at=8)
    old = load_checkpoint(tmp_path / CHECKPOINT_NAME)
    assert old["position"] == {"step": 6, "epoch": 1, "batch": 1}  # the old layout
    resumed, resumed_optimizer, resumed_history, resumed_losses = _fit_session(
        fit, tmp_path, checkpoint_every=3)
    assert_bitwise_equal(resumed, weights)
    _same_optimizer(resumed_optimizer, optimizer)
    assert resumed_losses == losses[6:]
    assert resumed_history.train == history.train and resumed_history.val == history.val
    assert load_checkpoint(tmp_path / CHECKPOINT_NAME)["layout"] == 2  # rewritten in the new one

    older = tmp_path / "older"
    _fit_session(fit_before, older, max_steps=7)
    state = load_checkpoint(older / CHECKPOINT_NAME)
    del state["history"]["seconds"]
    torch.save(state, older / CHECKPOINT_NAME)
    resumed, _, resumed_history, _ = _fit_session(fit, older)
    assert_bitwise_equal(resumed, weights)
    assert resumed_history.seconds is None  # unknown, not a guess


@pytest.mark.parametrize("custom", [False, True])
def test_a_resume_file_of_the_train_steps_before_goes_on_in_the_new_one(tmp_path, custom):
    weights, teacher, losses, _ = _steps_session(train_steps, custom=custom)
    path = tmp_path / "yolact_resume.pt"
    with pytest.raises(_Stop):
        _steps_session(train_steps_before, path, stop_at=5, custom=custom)
    assert torch.load(path, weights_only=True)["minutes"] >= 0  # the old layout, at step 4
    torch.manual_seed(123)  # another process: the file gives the random state back
    resumed, resumed_teacher, resumed_losses, run = _steps_session(train_steps, path,
                                                                   custom=custom)
    assert run["first_step"] == 4 and resumed_losses == losses[4:]
    assert_bitwise_equal(resumed, weights)
    assert_bitwise_equal(resumed_teacher, teacher)
    assert not path.exists()  # the run is complete
