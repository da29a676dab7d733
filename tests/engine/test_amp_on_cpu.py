"""The mixed-precision path of the one loop, run on the CPU's autocast.

segedu uses mixed precision on CUDA devices only (``segedu.engine.amp.AMP_DEVICE_TYPES``), so on
a machine without a GPU, such as CI's, the loop's float32 path is the one that runs. These tests
add ``"cpu"`` to that list, so that the path a GPU run takes runs here: autocast to float16 with
a loss scaler, or to bfloat16 without one; the scaler's skipped step when float16 gradients
overflow; the scaler kept in the resume file and restored; ``fit(amp=True)`` and
``evaluate(amp=True)``. PyTorch's CPU autocast and ``GradScaler("cpu")`` are the same classes
as CUDA's with another device type. What these tests cannot show is CUDA's own kernels:
``test_cuda_amp.py`` runs where a GPU exists. Budget: about a second on one CPU thread.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from segedu.config import seed_everything
from segedu.engine import CHECKPOINT_NAME, amp, evaluate, fit, load_checkpoint, train_steps
from segedu.metrics import PixelAccuracy

from .tiny_problem import TinySegNet, assert_bitwise_equal, make_data, params

STEPS = 8
OVERFLOW_AT = 3  # the step whose gradients are made infinite


@pytest.fixture
def cpu_amp(monkeypatch):
    """Mixed precision on the CPU too, for one test."""
    monkeypatch.setattr(amp, "AMP_DEVICE_TYPES", ("cuda", "cpu"))


class _Stop(Exception):
    """Stands for the process dying."""


def _run(path=None, *, amp_dtype=torch.float16, overflow_at=None, stop_at=None):
    """``STEPS`` steps of a tiny segmentation net on the CPU; returns (weights, the dtype of the
    logits at each step, the weights after each step, the resume file's saved scaler or None)."""
    seed_everything(0)
    model = TinySegNet(hidden=8)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
    images, labels = make_data(n=32).tensors
    dtypes, after = [], []

    def batches(first):  # one data order, which a resumed run enters at its step
        generator = torch.Generator().manual_seed(0)
        for _ in range(first):
            torch.randint(32, (8,), generator=generator)
        while True:
            idx = torch.randint(32, (8,), generator=generator)
            yield images[idx], labels[idx]

    def compute_loss(batch):
        step = len(dtypes)
        if step == stop_at:
            raise _Stop
        logits = model(batch[0])
        dtypes.append(logits.dtype)
        if step == overflow_at:  # a finite loss whose gradients overflow
            logits.register_hook(lambda grad: grad * float("inf"))
        return F.cross_entropy(logits, batch[1])

    def after_step(step, values):
        after.append(params(model))

    train_steps(compute_loss, batches, model=model, optimizer=optimizer, steps=STEPS,
                amp_dtype=amp_dtype, log=None, after_step=after_step, resume_file=path,
                save_every=2, keep_resume_file=path is not None)
    saved = None if path is None else torch.load(path, weights_only=False)["scaler"]
    return params(model), dtypes, after, saved


def test_without_the_cpu_in_the_list_the_cpu_trains_in_float32(tmp_path):
    # the zoo's recipes ask for mixed precision and rely on this on a CPU: float32, no scaler
    assert amp.AMP_DEVICE_TYPES == ("cuda",)
    _, dtypes, _, saved = _run(tmp_path / "run.pt")
    assert set(dtypes) == {torch.float32} and saved is None
    with pytest.raises(ValueError, match="amp=True needs a CUDA device"):
        amp.resolve_amp(True, torch.device("cpu"))


def test_float16_autocast_with_a_loss_scaler_kept_in_the_resume_file(cpu_amp, tmp_path):
    _, dtypes, _, saved = _run(tmp_path / "run.pt")
    assert set(dtypes) == {torch.float16}  # the convolutions ran in float16
    # every step succeeded: the scale is still the first (it grows after 2000 good steps)
    assert saved["scale"] == 2.0 ** 16 and saved["_growth_tracker"] == STEPS


def test_an_overflow_skips_its_step_and_halves_the_scale(cpu_amp, tmp_path):
    _, _, after, saved = _run(tmp_path / "run.pt", overflow_at=OVERFLOW_AT)
    # the skipped step left every weight as it was; the steps around it moved them
    assert_bitwise_equal(after[OVERFLOW_AT], after[OVERFLOW_AT - 1])
    assert not torch.equal(after[OVERFLOW_AT + 1]["body.0.weight"],
                           after[OVERFLOW_AT]["body.0.weight"])
    assert all(torch.isfinite(w).all() for w in after[-1].values())
    assert saved["scale"] == 2.0 ** 15  # halved once
    assert saved["_growth_tracker"] == STEPS - OVERFLOW_AT - 1  # good steps since the overflow


def test_a_float16_run_stopped_and_resumed_equals_one_that_was_not(cpu_amp, tmp_path):
    whole, _, _, whole_scaler = _run(tmp_path / "whole.pt", overflow_at=OVERFLOW_AT)
    path = tmp_path / "stopped.pt"
    with pytest.raises(_Stop):  # stopped after step 6 was saved, past the overflow
        _run(path, overflow_at=OVERFLOW_AT, stop_at=6)
    # the new session counts its steps from the resumed one: no second overflow is injected
    resumed, dtypes, _, resumed_scaler = _run(path)
    assert len(dtypes) == STEPS - 6
    assert_bitwise_equal(resumed, whole)
    assert resumed_scaler == whole_scaler  # the halved scale came back from the file


def test_bfloat16_autocast_needs_no_scaler(cpu_amp, tmp_path):
    weights, dtypes, after, saved = _run(tmp_path / "run.pt", amp_dtype=torch.bfloat16)
    assert set(dtypes) == {torch.bfloat16} and saved is None
    assert all(w.dtype == torch.float32 for w in weights.values())  # the weights stay float32


def test_fit_and_evaluate_with_amp_on_the_cpu(cpu_amp, tmp_path):
    seed_everything(0)
    model = TinySegNet(hidden=16)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
    loader = DataLoader(make_data(n=32), batch_size=8, shuffle=True)
    history = fit(model, loader, loss_fn=F.cross_entropy, optimizer=optimizer, epochs=10,
                  checkpoint_dir=tmp_path, progress=False, live_plot=False, amp=None)
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert history.losses[-1] < 0.5 * history.losses[0]
    state = load_checkpoint(tmp_path / CHECKPOINT_NAME)
    assert state["scaler"]["scale"] > 0  # amp=None meant on: the scaler was used and saved
    results = evaluate(model, DataLoader(make_data(n=8, seed=1), batch_size=4),
                       metrics={"acc": PixelAccuracy()}, loss_fn=F.cross_entropy, amp=True)
    assert results["acc"] > 0.8
