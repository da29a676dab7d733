"""A run interrupted and resumed ends bitwise equal to the run that was never interrupted.

The set-up has everything that usually breaks this: shuffling, dropout, random augmentations
drawing from torch, NumPy and Python, momentum, a learning-rate schedule, a mid-epoch stop.
Each "session" builds its model and optimizer anew, as a restarted Colab notebook does.
"""

import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from segedu.config import seed_everything
from segedu.engine import CHECKPOINT_NAME, CheckpointError, fit, load_checkpoint

from .tiny_problem import Augmented, TinySegNet, assert_bitwise_equal, make_data, params

EPOCHS = 3  # 20 samples, batches of 4: 5 steps per epoch, 15 in all


class Disconnect(Exception):
    """Stands for the Colab session dying."""


def session(checkpoint_dir=None, *, batch_size=4, crash_at_step=None, with_scheduler=True,
            **kwargs):
    """One notebook session: build everything from scratch, then fit."""
    seed_everything(0)
    model = TinySegNet(dropout=0.3)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.3, momentum=0.9)
    scheduler = None
    if with_scheduler:
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=4, gamma=0.7)
    loader = DataLoader(Augmented(make_data(n=20)), batch_size=batch_size, shuffle=True)
    val_loader = DataLoader(Augmented(make_data(n=8, seed=1)), batch_size=4, shuffle=True)
    steps = 0

    def loss_fn(outputs, targets):
        nonlocal steps
        if torch.is_grad_enabled():  # a training step, not validation
            steps += 1
            if steps == crash_at_step:
                raise Disconnect(f"session lost during step {steps}")
        return F.cross_entropy(outputs, targets)

    history = fit(model, loader, loss_fn=loss_fn, optimizer=optimizer, scheduler=scheduler,
                  epochs=EPOCHS, val_loader=val_loader, checkpoint_dir=checkpoint_dir,
                  log_every=2, progress=False, **kwargs)
    return model, optimizer, history


@pytest.fixture(scope="module")
def uninterrupted():
    model, optimizer, history = session()
    return params(model), optimizer.state_dict(), history


def test_resume_after_max_steps_mid_epoch(tmp_path, uninterrupted):
    weights, _, _ = uninterrupted
    first, _, _ = session(tmp_path, max_steps=7)  # stops in the middle of epoch 2
    assert load_checkpoint(tmp_path / CHECKPOINT_NAME)["step"] == 7  # epoch 2, its batch 3
    assert not all(torch.equal(v, weights[k]) for k, v in params(first).items())
    model, _, history = session(tmp_path)  # a new session picks up at step 7
    assert_bitwise_equal(params(model), weights)
    assert history.steps[-1] == 15


def test_resume_after_a_crash_replays_the_lost_steps(tmp_path, uninterrupted):
    """Checkpoints at steps 3 and 6; the session dies during step 8: steps 7 and 8 are redone."""
    weights, optimizer_state, history_ref = uninterrupted
    with pytest.raises(Disconnect):
        session(tmp_path, checkpoint_every=3, crash_at_step=8)
    assert load_checkpoint(tmp_path / CHECKPOINT_NAME)["step"] == 6
    model, optimizer, history = session(tmp_path, checkpoint_every=3)
    assert_bitwise_equal(params(model), weights)
    # the optimizer's momentum and the history agree as well
    for k, v in optimizer.state_dict()["state"].items():
        assert torch.equal(v["momentum_buffer"], optimizer_state["state"][k]["momentum_buffer"])
    assert history.train == history_ref.train
    assert history.val == history_ref.val


def test_two_interruptions_and_a_crash_at_an_epoch_boundary(tmp_path, uninterrupted):
    weights, _, _ = uninterrupted
    with pytest.raises(Disconnect):
        session(tmp_path, crash_at_step=6)  # default checkpoints: end of each epoch (step 5)
    with pytest.raises(Disconnect):
        session(tmp_path, crash_at_step=6)  # resumed at step 5, dies again at step 11
    assert load_checkpoint(tmp_path / CHECKPOINT_NAME)["step"] == 10
    model, _, _ = session(tmp_path)
    assert_bitwise_equal(params(model), weights)


def test_without_restoring_the_generators_the_weights_would_differ(tmp_path, uninterrupted,
                                                                   monkeypatch):
    """The bitwise test above is not vacuous: skipping the RNG restore breaks it."""
    import segedu.engine.loop as loop

    weights, _, _ = uninterrupted
    session(tmp_path, max_steps=7)
    monkeypatch.setattr(loop, "set_rng_state", lambda state: None)
    model, _, _ = session(tmp_path)
    assert not all(torch.equal(v, weights[k]) for k, v in params(model).items())


def test_resume_false_starts_afresh(tmp_path, uninterrupted):
    weights, _, _ = uninterrupted
    session(tmp_path, max_steps=7)
    model, _, history = session(tmp_path, resume=False)
    assert_bitwise_equal(params(model), weights)
    assert history.steps[0] == 2


def test_a_finished_run_is_not_trained_again(tmp_path, uninterrupted):
    weights, _, _ = uninterrupted
    session(tmp_path)
    with pytest.warns(UserWarning, match="nothing left to train"):
        model, _, history = session(tmp_path)
    assert_bitwise_equal(params(model), weights)  # the finished weights are loaded
    assert history.steps[-1] == 15


def test_a_different_data_setup_cannot_resume(tmp_path):
    session(tmp_path, max_steps=3)
    with pytest.raises(CheckpointError, match="batch_size: 4 then, 5 now"):
        session(tmp_path, batch_size=5)
    with pytest.raises(CheckpointError, match="seed: 0 then, 1 now"):
        session(tmp_path, seed=1)


def test_a_different_model_or_scheduler_cannot_resume(tmp_path):
    session(tmp_path, max_steps=3)
    with pytest.raises(CheckpointError, match="has scheduler state"):
        session(tmp_path, with_scheduler=False)

    seed_everything(0)
    wider = TinySegNet(hidden=16)
    optimizer = torch.optim.SGD(wider.parameters(), lr=0.3, momentum=0.9)
    loader = DataLoader(make_data(n=20), batch_size=4, shuffle=True)
    with pytest.raises(CheckpointError, match=r"(?s)not a resume file of this run.*size mismatch"):
        fit(wider, loader, loss_fn=F.cross_entropy, optimizer=optimizer, epochs=1,
            checkpoint_dir=tmp_path, progress=False)


def test_the_training_time_adds_up_over_the_calls_of_a_resumed_run(tmp_path, monkeypatch):
    """history.seconds is the time of the steps that made the weights: a crashed call's time up
    to its last checkpoint plus the resumed call's (the redone steps count once), so a resumed
    run reports what the uninterrupted one does. A fake clock makes every step take 1 s; a
    checkpoint written before the time was recorded resumes to None (unknown), not to a guess."""
    import types

    import segedu.engine.loop as loop
    from segedu.engine import save_checkpoint

    now = [0.0]
    real_step = loop.optimizer_step

    def one_second_step(*args, **kwargs):
        now[0] += 1.0
        return real_step(*args, **kwargs)

    monkeypatch.setattr(loop, "optimizer_step", one_second_step)
    monkeypatch.setattr(loop, "time", types.SimpleNamespace(perf_counter=lambda: now[0]))
    _, _, uninterrupted = session()
    assert uninterrupted.seconds == 15  # 15 steps
    with pytest.raises(Disconnect):
        session(tmp_path, checkpoint_every=3, crash_at_step=8)
    state = load_checkpoint(tmp_path / CHECKPOINT_NAME)
    assert state["seconds"] == 6
    state["seconds"] = None  # the same checkpoint, as a run that did not know its time wrote it
    save_checkpoint(state, tmp_path / "older" / CHECKPOINT_NAME)
    _, _, resumed = session(tmp_path, checkpoint_every=3)
    assert resumed.seconds == 15  # 6 before the crash + steps 7 to 15; steps 7 and 8 once
    _, _, resumed_older = session(tmp_path / "older")
    assert resumed_older.seconds is None
