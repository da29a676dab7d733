"""The resume file of a run (segedu.engine.ResumeFile, written by segedu.engine.train_steps, the
one loop): a run stopped while writing it keeps its previous file whole, a damaged file or one of
another run is refused with its name, and a run stopped anywhere goes on from it to the same
weights as a run that never stopped, whatever keeps its data order.

A zoo run on a CPU goes on for hours over several calls; the resume file is all it has of them.
Budget: under 2 s for the file.
"""

import numpy as np
import pytest
import torch

from segedu.engine import CheckpointError, ResumeFile, WarmupCosine, cycle, train_steps


def _run(seed: int):
    torch.manual_seed(seed)
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model(torch.randn(4, 3)).sum().backward()
    optimizer.step()
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    return model, optimizer, scheduler


def _save(path, seed: int, step: int) -> torch.nn.Module:
    model, optimizer, scheduler = _run(seed)
    ResumeFile(path, model=model, optimizer=optimizer, scheduler=scheduler).save(step, 90 * step)
    return model


def test_a_write_stopped_halfway_keeps_the_previous_resume_file(tmp_path, monkeypatch):
    path = tmp_path / "unet_resume.pt"
    kept = _save(path, seed=0, step=100)

    def half_then_stop(obj, file, *args, **kwargs):
        file.write(b"PK\x03\x04 half a file")
        raise KeyboardInterrupt  # the session ends in the middle of the write

    monkeypatch.setattr(torch, "save", half_then_stop)
    with pytest.raises(KeyboardInterrupt):
        _save(path, seed=1, step=200)
    monkeypatch.undo()

    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # no temporary left
    model, optimizer, scheduler = _run(seed=2)
    resumed = ResumeFile(path, model=model, optimizer=optimizer, scheduler=scheduler).load()
    assert resumed.step == 100 and resumed.seconds == 9000.0
    for key, value in kept.state_dict().items():
        torch.testing.assert_close(model.state_dict()[key], value, rtol=0, atol=0)


def test_a_truncated_or_foreign_resume_file_is_refused_naming_it(tmp_path):
    path = tmp_path / "yolact_resume.pt"
    _save(path, seed=0, step=100)
    model, optimizer, scheduler = _run(seed=0)
    with pytest.raises(CheckpointError, match="yolact_resume.pt is not a resume file of this run"):
        ResumeFile(path, model=torch.nn.Linear(5, 2), optimizer=optimizer,
                   scheduler=scheduler).load()
    with pytest.raises(CheckpointError, match="kept objects differ: .'teacher'."):
        ResumeFile(path, model=model, optimizer=optimizer, scheduler=scheduler,
                   state={"teacher": torch.nn.Linear(3, 2)}).load()
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(CheckpointError, match="yolact_resume.pt.*truncated or corrupt"):
        ResumeFile(path, model=model, optimizer=optimizer, scheduler=scheduler).load()


def test_no_resume_file_is_a_fresh_run_and_an_object_it_cannot_keep_is_refused(tmp_path):
    model, optimizer, scheduler = _run(seed=0)
    assert ResumeFile(tmp_path / "none.pt", model=model, optimizer=optimizer).load() is None
    with pytest.raises(TypeError, match=r"cannot keep state\['count'\], a int"):
        ResumeFile(tmp_path / "none.pt", model=model, optimizer=optimizer, state={"count": 3})


class _Stop(Exception):
    pass


def _train(path, *, stop_at=None, as_function=True, steps=6, save_every=2, keep=False):
    """A run of ``steps`` whose data order and dropout live in every kind of state the file
    keeps (a torch generator, a NumPy generator, a dict, a list, a module); ``stop_at``: the
    step whose loss raises (the process dies there)."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Dropout(0.3), torch.nn.Linear(8, 1))
    ema = torch.nn.Linear(4, 1)  # another module the run updates: a teacher
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    scheduler = WarmupCosine(optimizer, steps, warmup_steps=2)
    order, noise = torch.Generator().manual_seed(1), np.random.default_rng(2)
    progress, seen = {"drawn": 0}, []
    data = torch.randn(10, 4), torch.randn(10, 1)

    def batches(first):
        while True:
            idx = torch.randint(10, (3,), generator=order)
            progress["drawn"] += 1
            yield data[0][idx] + float(noise.normal()), data[1][idx]

    def loss(batch):
        if len(seen) == stop_at:
            raise _Stop
        value = torch.nn.functional.mse_loss(model(batch[0]), batch[1])
        return value

    def after(step, values):
        seen.append(step)
        with torch.no_grad():
            ema.weight.mul_(0.5).add_(0.5 * model[0].weight[:1])

    source = batches if as_function else cycle(
        [(data[0][i:i + 3], data[1][i:i + 3]) for i in range(0, 9, 3)])
    run = train_steps(loss, source, model=model, optimizer=optimizer, steps=steps,
                      scheduler=scheduler, log=None, after_step=after, resume_file=path,
                      save_every=save_every, keep_resume_file=keep,
                      state={"order": order, "noise": noise, "progress": progress, "seen": seen,
                             "ema": ema})
    return model, ema, run, progress, seen


@pytest.mark.parametrize("as_function", [True, False])
def test_a_stopped_run_goes_on_to_the_same_weights(tmp_path, as_function):
    whole, whole_ema, run, progress, seen = _train(tmp_path / "whole.pt", as_function=as_function)
    assert not (tmp_path / "whole.pt").exists()  # removed once the run is complete
    assert seen == list(range(6)) and run["steps"] == 6
    with pytest.raises(_Stop):
        _train(tmp_path / "split.pt", stop_at=5, as_function=as_function)
    assert torch.load(tmp_path / "split.pt", weights_only=True)["step"] == 4
    torch.manual_seed(123)  # another process: the file gives the random state back
    resumed, resumed_ema, _, resumed_progress, resumed_seen = _train(
        tmp_path / "split.pt", as_function=as_function)
    assert resumed_seen == seen and resumed_progress == progress
    for a, b in ((whole, resumed), (whole_ema, resumed_ema)):
        assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(),
                                                     b.state_dict().values(), strict=True))


def test_a_kept_file_makes_a_finished_run_train_nothing(tmp_path):
    path = tmp_path / "phase.pt"
    model, _, _, _, seen = _train(path, keep=True, save_every=4)
    assert torch.load(path, weights_only=True)["step"] == 6  # written at the end too
    again, _, run, _, seen_again = _train(path, keep=True, save_every=4)
    assert seen_again == seen and "loss" not in run  # loaded, not trained
    assert all(torch.equal(x, y) for x, y in zip(model.state_dict().values(),
                                                 again.state_dict().values(), strict=True))
