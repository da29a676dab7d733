"""The zoo recipes' resume file (segedu.zoo.recipe.save_resume / load_resume): a run stopped while
writing it keeps its previous file whole, and a damaged file is refused with its name.

A zoo run on a CPU goes on for hours over several calls; the resume file is all it has of them.
"""

import pytest
import torch

from segedu.engine import CheckpointError
from segedu.zoo.recipe import load_resume, save_resume


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
    save_resume(path, model=model, optimizer=optimizer, scheduler=scheduler, step=step,
                minutes=1.5 * step, rng=torch.get_rng_state())
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
    state = load_resume(path, model=model, optimizer=optimizer, scheduler=scheduler)
    assert state["step"] == 100 and state["minutes"] == 150.0
    for key, value in kept.state_dict().items():
        torch.testing.assert_close(model.state_dict()[key], value, rtol=0, atol=0)


def test_a_truncated_resume_file_is_refused_naming_it(tmp_path):
    path = tmp_path / "yolact_resume.pt"
    _save(path, seed=0, step=100)
    path.write_bytes(path.read_bytes()[:200])
    model, optimizer, scheduler = _run(seed=0)
    with pytest.raises(CheckpointError, match="yolact_resume.pt.*truncated or corrupt"):
        load_resume(path, model=model, optimizer=optimizer, scheduler=scheduler)


def test_no_resume_file_is_a_fresh_run(tmp_path):
    model, optimizer, scheduler = _run(seed=0)
    assert load_resume(tmp_path / "none.pt", model=model, optimizer=optimizer,
                       scheduler=scheduler) is None
