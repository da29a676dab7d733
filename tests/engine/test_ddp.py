"""Data-parallel training under torchrun: two CPU processes (gloo) against one process.

Two processes with batches of 4 see, at every step, exactly the 8 samples that one process with
batches of 8 sees (same seed, same order), and DDP averages their gradients. The results are
equal up to float32 rounding: the mean over 8 samples is summed in a different order (two means
of 4, then all-reduced and halved), which changes the last bit or so of each gradient. Over the
12 steps of the run (SGD with momentum, lr 0.3) the weights drift apart by at most ~3e-8
(measured on an x86 CPU); the test allows 1e-6, a 30-fold margin, while any real error (a wrong
data order, gradients not averaged, a missed step) moves the weights by more than 1e-3.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from segedu.config import seed_everything
from segedu.engine import init_distributed

from .ddp_worker import GLOBAL_BATCH, evaluate_fixed_model, train
from .tiny_problem import TinySegNet, assert_bitwise_equal, params

ROOT = Path(__file__).resolve().parents[2]
TOLERANCE = 1e-6


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    """Run the worker under torchrun once; return what each of the two processes saved."""
    out = tmp_path_factory.mktemp("ddp")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc_per_node", "2", "-m", "tests.engine.ddp_worker", str(out)]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, f"torchrun failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return [torch.load(out / f"rank{r}.pt", weights_only=True) for r in range(2)]


@pytest.fixture(scope="module")
def single():
    """The same recipe in one process with the global batch."""
    model, history = train(batch_size=GLOBAL_BATCH)
    return params(model), history


def test_the_two_processes_hold_identical_weights(ranks):
    assert_bitwise_equal(ranks[0]["weights"], ranks[1]["weights"])


def test_ddp_equals_one_process_with_the_global_batch(ranks, single):
    weights, history = single
    for name, value in weights.items():
        difference = (value - ranks[0]["weights"][name]).abs().max().item()
        assert difference < TOLERANCE, f"{name}: max |difference| {difference:.3g}"
    # the tolerance is far below the distance the weights travelled during training
    seed_everything(0)
    initial = params(TinySegNet())
    assert max((weights[k] - initial[k]).abs().max().item() for k in weights) > 1e-2
    ddp_train = ranks[0]["history"]["train"]
    assert [r["step"] for r in ddp_train] == history.steps == list(range(1, 13))
    assert [r["loss"] for r in ddp_train] == pytest.approx(history.losses, abs=1e-5)
    # validation: each process saw its share, the counts were summed
    ddp_val = ranks[0]["history"]["val"]
    assert [(r["step"], r["acc"]) for r in ddp_val] == [(r["step"], r["acc"]) for r in history.val]
    assert [r["loss"] for r in ddp_val] == pytest.approx([r["loss"] for r in history.val], abs=1e-5)


def test_the_tolerance_tells_a_wrong_recipe_apart(ranks):
    """One process with the per-process batch (a wrong global batch) is far outside it."""
    model, _ = train(batch_size=GLOBAL_BATCH // 2)
    wrong = params(model)
    assert max((wrong[k] - ranks[0]["weights"][k]).abs().max().item() for k in wrong) > 1e-3


def test_evaluate_sums_the_metric_states_over_processes(ranks):
    expected = evaluate_fixed_model()
    for r in range(2):
        assert ranks[r]["evaluate"]["acc"] == expected["acc"]  # integer counts: exact
        assert ranks[r]["evaluate"]["loss"] == pytest.approx(expected["loss"], rel=1e-6)


def test_an_interrupted_ddp_run_resumes_exactly(ranks):
    for r in range(2):  # each process restored its own random generators (dropout, augmentation)
        assert_bitwise_equal(ranks[r]["resumed"], ranks[r]["uninterrupted"])
    assert ranks[0]["checkpoint_files"] == ["last.pt"]


def test_environment_is_read_and_checked(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert not init_distributed(device_type="cpu").enabled  # a plain run: one process of one
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "2")
    with pytest.raises(ValueError, match="RANK=2, WORLD_SIZE=2"):
        init_distributed(device_type="cpu")
    monkeypatch.setenv("WORLD_SIZE", "two")
    with pytest.raises(ValueError, match="WORLD_SIZE='two' must be an integer"):
        init_distributed(device_type="cpu")
