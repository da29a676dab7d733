"""Mixed precision on a CUDA GPU (skipped without one, such as in CI): CUDA's own kernels.

The same path of the loop (autocast, the loss scaler, its skipped steps, its place in the resume
file) runs on every machine in test_amp_on_cpu.py, on the CPU's autocast."""

import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from segedu.config import seed_everything
from segedu.engine import CHECKPOINT_NAME, evaluate, fit, load_checkpoint
from segedu.metrics import PixelAccuracy

from .tiny_problem import TinySegNet, make_data

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def _run(checkpoint_dir, **kwargs):
    seed_everything(0)
    model = TinySegNet(hidden=16)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
    loader = DataLoader(make_data(n=32), batch_size=8, shuffle=True)
    history = fit(model, loader, loss_fn=F.cross_entropy, optimizer=optimizer, epochs=10,
                  checkpoint_dir=checkpoint_dir, progress=False, **kwargs)
    return model, history


def test_amp_is_on_by_default_on_cuda_and_training_works(tmp_path):
    model, history = _run(tmp_path)
    assert all(p.device.type == "cuda" and p.dtype == torch.float32 for p in model.parameters())
    assert history.losses[-1] < 0.5 * history.losses[0]
    state = load_checkpoint(tmp_path / CHECKPOINT_NAME)
    assert state["scaler"]["scale"] > 0  # the GradScaler was on and saved
    assert state["rng"][0]["cuda"] is not None
    results = evaluate(model, DataLoader(make_data(n=8, seed=1), batch_size=4),
                       metrics={"acc": PixelAccuracy()}, loss_fn=F.cross_entropy)
    assert results["acc"] > 0.8


def test_amp_off_on_cuda_and_resume(tmp_path):
    _run(tmp_path, amp=False, max_steps=13)
    assert load_checkpoint(tmp_path / CHECKPOINT_NAME)["scaler"] is None  # no scaler without AMP
    model, history = _run(tmp_path, amp=False)
    assert history.steps[-1] == 40
    assert load_checkpoint(tmp_path / CHECKPOINT_NAME)["step"] == 40
