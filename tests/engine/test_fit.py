"""fit trains: the loss falls, the counts of steps and records are right, options take effect."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from segedu.config import seed_everything
from segedu.engine import fit
from segedu.metrics import PixelAccuracy

from .tiny_problem import DictTargets, TinySegNet, make_data, params


def _setup(*, lr=0.5, dropout=0.0, n=32, batch_size=8, shuffle=True):
    seed_everything(0)
    model = TinySegNet(dropout=dropout)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    loader = DataLoader(make_data(n=n), batch_size=batch_size, shuffle=shuffle)
    return model, optimizer, loader


def test_training_reduces_the_loss_and_learns_the_task():
    model, optimizer, loader = _setup()
    val = DataLoader(make_data(n=16, seed=1), batch_size=8)
    history = fit(model, loader, loss_fn=F.cross_entropy, optimizer=optimizer, epochs=15,
                  val_loader=val, metrics={"acc": PixelAccuracy()}, log_every=4, progress=False)
    assert history.losses[-1] < 0.5 * history.losses[0]
    steps, acc = history.metric("acc")
    assert acc[-1] > 0.9 > acc[0]
    _, val_loss = history.metric("loss")
    assert val_loss[-1] < val_loss[0]


def test_counts_of_steps_records_and_validations():
    model, optimizer, loader = _setup()  # 32 samples / 8 = 4 steps per epoch
    val = DataLoader(make_data(n=8, seed=1), batch_size=4)
    history = fit(model, loader, loss_fn=F.cross_entropy, optimizer=optimizer, epochs=3,
                  val_loader=val, log_every=5, progress=False)
    assert history.steps == [5, 10, 12]  # every 5 steps, and the last one
    assert [r["epoch"] for r in history.train] == [2, 3, 3]
    assert [(r["step"], r["epoch"]) for r in history.val] == [(4, 1), (8, 2), (12, 3)]
    assert all(math.isfinite(r["loss"]) for r in history.val)


def test_max_steps_alone_crosses_epochs_and_stops_mid_epoch():
    model, optimizer, loader = _setup()
    val = DataLoader(make_data(n=8, seed=1), batch_size=4)
    history = fit(model, loader, loss_fn=F.cross_entropy, optimizer=optimizer, max_steps=6,
                  val_loader=val, log_every=1, progress=True)
    assert history.steps == [1, 2, 3, 4, 5, 6]
    assert [r["epoch"] for r in history.train] == [1, 1, 1, 1, 2, 2]
    # validation after the complete epoch 1 and at the end (mid-epoch 2)
    assert [r["step"] for r in history.val] == [4, 6]


def test_the_first_limit_reached_wins():
    model, optimizer, loader = _setup()
    history = fit(model, loader, loss_fn=F.cross_entropy, optimizer=optimizer, epochs=2,
                  max_steps=100, log_every=1, progress=False)
    assert history.steps[-1] == 8


def test_scheduler_steps_once_per_optimizer_step():
    model, optimizer, loader = _setup()
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=3, gamma=0.1)
    history = fit(model, loader, loss_fn=F.cross_entropy, optimizer=optimizer, max_steps=7,
                  scheduler=scheduler, log_every=1, progress=False)
    # lr recorded after the step-th scheduler step: 0.5 for steps 1-2, 0.05 for 3-5, 0.005 for 6-7
    expected = [0.5, 0.5, 0.05, 0.05, 0.05, 0.005, 0.005]
    assert [r["lr"] for r in history.train] == pytest.approx(expected)


def test_grad_clip_bounds_the_update():
    def one_step(grad_clip):
        seed_everything(0)
        model = TinySegNet()
        optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
        loader = DataLoader(make_data(n=8), batch_size=8)
        before = torch.nn.utils.parameters_to_vector(model.parameters()).detach().clone()
        fit(model, loader, loss_fn=F.cross_entropy, optimizer=optimizer, max_steps=1,
            grad_clip=grad_clip, progress=False)
        after = torch.nn.utils.parameters_to_vector(model.parameters()).detach()
        return float((after - before).norm())

    # plain SGD with lr 1 moves the weights by exactly the (clipped) gradient norm
    assert one_step(None) > 0.05
    assert one_step(0.01) == pytest.approx(0.01, rel=1e-4)


def test_dict_and_list_targets_reach_the_loss_function():
    seed_everything(0)
    model = TinySegNet()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    loader = DataLoader(DictTargets(make_data(n=16)), batch_size=8, shuffle=True)
    seen = []

    def loss_fn(outputs, targets):
        seen.append((type(targets), type(targets["extra"]), targets["semantic"].shape))
        return F.cross_entropy(outputs, targets["semantic"]) + 0 * outputs.sum()

    fit(model, loader, loss_fn=loss_fn, optimizer=optimizer, epochs=1, progress=False)
    assert seen == [(dict, list, torch.Size([8, 8, 8]))] * 2


def test_validation_never_changes_the_trained_weights():
    """With dropout and a shuffled, augmenting val loader: validation restores the generators."""

    def run(with_validation):
        model, optimizer, loader = _setup(dropout=0.3)
        val = DataLoader(make_data(n=8, seed=1), batch_size=4, shuffle=True)
        fit(model, loader, loss_fn=F.cross_entropy, optimizer=optimizer, epochs=3,
            val_loader=val if with_validation else None, progress=False)
        return params(model), torch.rand(())  # the global generator after training, too

    (a, rand_a), (b, rand_b) = run(True), run(False)
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert torch.equal(rand_a, rand_b)


def test_the_data_seed_decides_the_order():
    def run(seed):
        model, optimizer, loader = _setup()
        fit(model, loader, loss_fn=F.cross_entropy, optimizer=optimizer, epochs=1, seed=seed,
            progress=False)
        return params(model)

    a, b, c = run(0), run(0), run(1)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_diverging_training_stops_with_a_clear_error():
    model, optimizer, loader = _setup()

    def loss_fn(outputs, targets):
        return F.cross_entropy(outputs, targets) * float("nan")

    with pytest.raises(FloatingPointError, match="diverged.*learning rate"):
        fit(model, loader, loss_fn=loss_fn, optimizer=optimizer, epochs=1, log_every=1,
            progress=False)


def test_model_ends_in_training_mode_and_on_the_device():
    model, optimizer, loader = _setup()
    val = DataLoader(make_data(n=8, seed=1), batch_size=4)
    fit(model, loader, loss_fn=F.cross_entropy, optimizer=optimizer, epochs=1, val_loader=val,
        device="cpu", progress=False)
    assert model.training
    assert all(p.device.type == "cpu" for p in model.parameters())


def test_worker_processes_give_the_same_run():
    def run(num_workers):
        seed_everything(0)
        model = TinySegNet(dropout=0.3)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
        loader = DataLoader(make_data(n=16), batch_size=4, shuffle=True, num_workers=num_workers,
                            persistent_workers=num_workers > 0)
        fit(model, loader, loss_fn=F.cross_entropy, optimizer=optimizer, epochs=2, progress=False)
        return params(model)

    a, b = run(0), run(2)
    assert all(torch.equal(a[k], b[k]) for k in a)
