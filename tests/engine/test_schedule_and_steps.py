"""segedu.engine.WarmupCosine against the formulas the zoo's recipes were trained with, and
segedu.engine.train_steps against the hand-written loop it replaced."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from segedu.engine import WarmupCosine, cycle, train_steps
from segedu.engine.schedule import warmup_cosine_factor


def _rates(scheduler: WarmupCosine, optimizer: torch.optim.Optimizer, steps: int) -> list[float]:
    """The rate each of ``steps`` optimizer steps runs with (read before the step)."""
    rates = []
    for _ in range(steps):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return rates


def _optimizer(lr: float) -> torch.optim.Optimizer:
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)


def _instances_formula(step: int, steps: int, warmup: int) -> float:
    """The zoo's detection recipes' factor, as written before (warm-up from 1 %, cosine to 0)."""
    if step < warmup:
        return 0.01 + 0.99 * step / warmup
    return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup)))


@pytest.mark.parametrize(("steps", "warmup"),
                         [(10, 0), (10, 3), (600, 300), (7, 7), (1, 0), (2, 300)])
def test_warm_up_from_one_percent_is_the_detection_recipes_formula(steps, warmup):
    optimizer = _optimizer(2e-3)
    scheduler = WarmupCosine(optimizer, steps, warmup_steps=warmup, warmup_start=0.01)
    expected = [2e-3 * _instances_formula(t, steps, warmup) for t in range(steps)]
    np.testing.assert_allclose(_rates(scheduler, optimizer, steps), expected, rtol=1e-13, atol=0)
    # after the last step the rate is the end of the cosine: min_lr (0)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-18) or warmup >= steps


def _dino_cosine_scheduler(base: float, final: float, total: int, warmup: int) -> np.ndarray:
    """DINO's ``utils.cosine_scheduler`` (one iteration per epoch), written out with numpy."""
    warm = np.linspace(0, base, warmup)
    iters = np.arange(total - warmup)
    decay = final + 0.5 * (base - final) * (1 + np.cos(np.pi * iters / len(iters)))
    return np.concatenate((warm, decay))


@pytest.mark.parametrize(("steps", "warmup"), [(20, 2), (100, 10), (37, 3)])
def test_dino_warm_up_is_dinos_cosine_scheduler(steps, warmup):
    optimizer = _optimizer(5e-4)
    scheduler = WarmupCosine(optimizer, steps, warmup_steps=warmup, warmup_ramp=warmup - 1,
                             min_lr=1e-6)
    np.testing.assert_allclose(_rates(scheduler, optimizer, steps),
                               _dino_cosine_scheduler(5e-4, 1e-6, steps, warmup), rtol=1e-12,
                               atol=0)


@pytest.mark.parametrize("steps", [1, 5, 300])
def test_without_warm_up_it_is_cosine_annealing(steps):
    ours, theirs = _optimizer(3e-3), _optimizer(3e-3)
    expected = _rates(torch.optim.lr_scheduler.CosineAnnealingLR(theirs, T_max=steps), theirs,
                      steps + 1)
    got = _rates(WarmupCosine(ours, steps), ours, steps + 1)
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-15)
    assert got[-1] == 0.0  # the last step's rate: the end of the decay


def test_total_steps_may_be_set_during_the_warm_up_and_state_round_trips():
    optimizer = _optimizer(1.0)
    scheduler = WarmupCosine(optimizer, None, warmup_steps=4, warmup_start=0.01)
    _rates(scheduler, optimizer, 4)
    assert optimizer.param_groups[0]["lr"] == 1.0  # step 4 = W: the base rate, whatever T
    with pytest.raises(RuntimeError, match="total_steps"):
        scheduler.step()
    optimizer = _optimizer(1.0)
    scheduler = WarmupCosine(optimizer, None, warmup_steps=4, warmup_start=0.01)
    first = _rates(scheduler, optimizer, 3)
    scheduler.total_steps = 10
    rest = _rates(scheduler, optimizer, 7)
    expected = [_instances_formula(t, 10, 4) for t in range(10)]
    np.testing.assert_allclose(first + rest, expected, rtol=1e-13)
    again = WarmupCosine(_optimizer(1.0), 10, warmup_steps=4, warmup_start=0.01)
    again.load_state_dict(scheduler.state_dict())
    assert again.get_last_lr() == scheduler.get_last_lr()


@pytest.mark.parametrize("kwargs",
                         [dict(total_steps=0), dict(total_steps=5, warmup_start=1.5),
                          dict(total_steps=5, min_lr=-1),
                                    dict(total_steps=5, warmup_steps=-1)])
def test_bad_settings_are_refused(kwargs):
    with pytest.raises(ValueError):
        WarmupCosine(_optimizer(1.0), **kwargs)


def _problem(seed: int = 0):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
    data = torch.utils.data.TensorDataset(torch.randn(24, 4), torch.randn(24, 1))
    loader = torch.utils.data.DataLoader(data, batch_size=5, shuffle=True, drop_last=True,
                                         generator=torch.Generator().manual_seed(0))
    return model, loader


def test_train_steps_is_the_hand_written_loop():
    """The loop the detection recipe used to write (lr set from the formula before each step,
    zero_grad, backward, clip, step), epoch after epoch: the same weights, bit for bit."""
    steps, warmup, lr = 11, 3, 0.05
    model, loader = _problem()
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    step = 0
    while step < steps:
        for x, y in loader:
            if step >= steps:
                break
            for group in optimizer.param_groups:
                group["lr"] = lr * _instances_formula(step, steps, warmup)
            loss = torch.nn.functional.mse_loss(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 0.5)
            optimizer.step()
            step += 1
    expected = [p.detach().clone() for p in model.parameters()]

    model, loader = _problem()
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    scheduler = WarmupCosine(optimizer, steps, warmup_steps=warmup, warmup_start=0.01)
    lines = []
    run = train_steps(lambda batch: torch.nn.functional.mse_loss(model(batch[0]), batch[1]),
                      cycle(loader), model=model, optimizer=optimizer, steps=steps,
                      scheduler=scheduler, grad_clip=0.5, log=lines.append, log_every=5)
    for got, want in zip(model.parameters(), expected, strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=0)
    assert run["steps"] == steps and math.isfinite(run["loss"])
    assert [line.split(":")[0] for line in lines] == ["step 5/11", "step 10/11", "step 11/11"]


def test_train_steps_in_two_calls_is_one_run_and_logs_the_parts():
    model, loader = _problem()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)

    def loss_and_parts(batch):
        error = torch.nn.functional.mse_loss(model(batch[0]), batch[1])
        return error, {"mse": error}

    batches = cycle(loader)
    train_steps(loss_and_parts, batches, model=model, optimizer=optimizer, steps=7, start=0,
                log=None)
    lines = []
    run = train_steps(loss_and_parts, batches, model=model, optimizer=optimizer, steps=9, start=7,
                      log=lines.append)
    half = [p.detach().clone() for p in model.parameters()]
    model, loader = _problem()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    train_steps(loss_and_parts, cycle(loader), model=model, optimizer=optimizer, steps=9, log=None)
    for got, want in zip(model.parameters(), half, strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=0)
    assert run["mse"] == run["loss"] and lines[0].startswith("step 9/9: loss")


def test_a_diverged_loss_stops_at_its_step_with_its_parts():
    model, loader = _problem()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    calls = []

    def loss_fn(batch):
        calls.append(1)
        value = model(batch[0]).mean() * (float("nan") if len(calls) == 3 else 1.0)
        return value, {"mask": value}

    with pytest.raises(FloatingPointError, match=r"nan \(mask nan\) at step 2"):
        train_steps(loss_fn, cycle(loader), model=model, optimizer=optimizer, steps=5, log=None)


def test_train_steps_refuses_a_bad_range_and_a_non_scalar_loss():
    model, loader = _problem()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="start <= steps"):
        train_steps(lambda b: model(b[0]).mean(), cycle(loader), model=model, optimizer=optimizer,
                    steps=3, start=4)
    with pytest.raises(ValueError, match="scalar"):
        train_steps(lambda b: model(b[0]), cycle(loader), model=model, optimizer=optimizer, steps=1)


def test_a_custom_update_replaces_the_default_and_after_step_sees_every_step():
    """DINO's way in: ``update(loss, step)`` instead of the default update, the scheduler still
    stepped after it, and ``after_step(step, values)`` called after every update. The default
    update written as a custom one gives the same weights, bit for bit."""
    steps = 6
    model, loader = _problem()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = WarmupCosine(optimizer, steps, warmup_steps=2)
    train_steps(lambda b: torch.nn.functional.mse_loss(model(b[0]), b[1]), cycle(loader),
                model=model, optimizer=optimizer, steps=steps, scheduler=scheduler, log=None)
    expected = [p.detach().clone() for p in model.parameters()]

    model, loader = _problem()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = WarmupCosine(optimizer, steps, warmup_steps=2)
    calls, seen, rates = [], [], []

    def update(loss, step):
        calls.append(step)
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    def loss_and_parts(batch):
        error = torch.nn.functional.mse_loss(model(batch[0]), batch[1])
        return error, {"mse": error}

    train_steps(loss_and_parts, cycle(loader), model=model, optimizer=optimizer, steps=steps,
                scheduler=scheduler, log=None, update=update,
                after_step=lambda step, values: seen.append((step, values)))
    for got, want in zip(model.parameters(), expected, strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=0)
    assert calls == list(range(steps)) and [s for s, _ in seen] == list(range(steps))
    assert all(set(v) == {"loss", "mse"} and v["loss"] == v["mse"] for _, v in seen)
    # the scheduler stepped after each custom update: the warm-up rates, then the cosine
    assert rates == pytest.approx(
        [0.1 * warmup_cosine_factor(s, steps, warmup_steps=2) for s in range(steps)], rel=1e-12
    )
    assert rates[0] == 0 and rates[2] == pytest.approx(0.1)


def test_a_custom_update_refuses_grad_clip():
    model, loader = _problem()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="grad_clip"):
        train_steps(lambda b: model(b[0]).sum(), cycle(loader), model=model,
                    optimizer=optimizer, steps=1, grad_clip=1.0, update=lambda loss, step: None)
