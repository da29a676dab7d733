"""Checkpoint files: atomic writes, a crash while saving keeps the old file, clear read errors."""

import os

import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from segedu.engine import CHECKPOINT_NAME, CheckpointError, fit, load_checkpoint, save_checkpoint

from .tiny_problem import TinySegNet, make_data


def _state(value: float) -> dict:
    return {"weights": torch.full((3,), value), "step": int(value), "nested": {"lr": [0.1, 0.2]}}


def test_roundtrip_and_no_temporary_file_left(tmp_path):
    path = tmp_path / "sub" / "last.pt"
    assert save_checkpoint(_state(1.0), path) == path
    state = load_checkpoint(path)
    assert torch.equal(state["weights"], torch.ones(3))
    assert state["step"] == 1 and state["nested"] == {"lr": [0.1, 0.2]}
    assert state["format"] == "segedu-checkpoint"
    assert os.listdir(path.parent) == ["last.pt"]


@pytest.mark.parametrize("interruption", [RuntimeError("disk full"), KeyboardInterrupt()])
def test_a_crash_while_saving_keeps_the_previous_checkpoint(tmp_path, monkeypatch, interruption):
    path = tmp_path / "last.pt"
    save_checkpoint(_state(1.0), path)
    real_save = torch.save

    def crash_halfway(obj, file, *args, **kwargs):
        real_save(obj, file, *args, **kwargs)
        file.seek(file.tell() // 2)
        file.truncate()  # half a file is on disk ...
        raise interruption  # ... when the session dies

    monkeypatch.setattr(torch, "save", crash_halfway)
    with pytest.raises(type(interruption)):
        save_checkpoint(_state(2.0), path)
    monkeypatch.undo()
    # the previous checkpoint is intact and the half-written temporary file is gone
    assert torch.equal(load_checkpoint(path)["weights"], torch.ones(3))
    assert os.listdir(tmp_path) == ["last.pt"]


def test_the_new_checkpoint_replaces_the_old_one(tmp_path):
    path = tmp_path / "last.pt"
    save_checkpoint(_state(1.0), path)
    save_checkpoint(_state(2.0), path)
    assert load_checkpoint(path)["step"] == 2


def test_truncated_checkpoint_gives_a_clear_error(tmp_path):
    path = tmp_path / "last.pt"
    save_checkpoint(_state(1.0), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError,
                       match=f"cannot read the checkpoint {path}.*truncated or corrupt"):
        load_checkpoint(path)


def test_garbage_and_foreign_files_give_clear_errors(tmp_path):
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"this is not a checkpoint")
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_checkpoint(garbage)
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_checkpoint(empty)
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": {}}, foreign)
    with pytest.raises(CheckpointError, match="not a segedu checkpoint"):
        load_checkpoint(foreign)
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "missing.pt")


def test_a_newer_format_is_refused(tmp_path):
    path = tmp_path / "last.pt"
    torch.save({"format": "segedu-checkpoint", "version": 99}, path)
    with pytest.raises(CheckpointError, match="newer segedu"):
        load_checkpoint(path)


def _fit(tmp_path, **kwargs):
    torch.manual_seed(0)
    model = TinySegNet()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    loader = DataLoader(make_data(n=16), batch_size=4, shuffle=True)  # 4 steps per epoch
    fit(model, loader, loss_fn=F.cross_entropy, optimizer=optimizer, progress=False,
        checkpoint_dir=tmp_path, **kwargs)
    return model


def test_fit_checkpoints_every_n_steps_and_at_the_end(tmp_path, monkeypatch):
    import segedu.engine.resume as resume

    saved_steps = []
    real = resume.save_checkpoint

    def spy(state, path):
        saved_steps.append(state["step"])
        return real(state, path)

    monkeypatch.setattr(resume, "save_checkpoint", spy)
    model = _fit(tmp_path, epochs=2, checkpoint_every=3)
    assert saved_steps == [3, 6, 8]
    state = load_checkpoint(tmp_path / CHECKPOINT_NAME)
    assert state["step"] == 8
    for k, v in model.state_dict().items():
        assert torch.equal(state["model"][k], v)
    # by default: at the end of each epoch
    saved_steps.clear()
    _fit(tmp_path / "b", epochs=2)
    assert saved_steps == [4, 8]


def test_fit_with_a_corrupt_checkpoint_says_so(tmp_path):
    (tmp_path / CHECKPOINT_NAME).write_bytes(b"\x80\x02 half a pickle")
    with pytest.raises(CheckpointError, match="last.pt.*truncated or corrupt.*resume=False"):
        _fit(tmp_path, epochs=1)
    # resume=False starts afresh and overwrites the broken file
    _fit(tmp_path, epochs=1, resume=False)
    assert load_checkpoint(tmp_path / CHECKPOINT_NAME)["step"] == 4
