"""Run by ``test_ddp.py`` as ``torchrun --nproc_per_node 2 -m tests.engine.ddp_worker OUT``.

Each of the two CPU processes (gloo backend) trains, evaluates, and resumes an interrupted run;
every process saves what it ends with to ``OUT/rank<r>.pt`` for the test to compare.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from segedu.config import seed_everything
from segedu.engine import evaluate, fit
from segedu.metrics import PixelAccuracy

from .tiny_problem import Augmented, TinySegNet, make_data, params

# the recipe, shared with the single-process reference in test_ddp.py
GLOBAL_BATCH = 8
EPOCHS = 4
DATA_SEED = 7


def train(*, batch_size: int, checkpoint_dir=None, dropout=0.0, augment=False, **kwargs):
    """Train the tiny net; ``batch_size`` is per process. Returns (model, history)."""
    seed_everything(0)
    model = TinySegNet(dropout=dropout)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.3, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=4, gamma=0.5)
    data = make_data(n=24)  # 3 global batches of 8 per epoch
    loader = DataLoader(Augmented(data) if augment else data, batch_size=batch_size, shuffle=True)
    val_loader = DataLoader(make_data(n=13, seed=1), batch_size=4)  # 13: ranks get 7 and 6
    history = fit(model, loader, loss_fn=F.cross_entropy, optimizer=optimizer, scheduler=scheduler,
                  epochs=EPOCHS, device="cpu", seed=DATA_SEED, log_every=1, progress=False,
                  val_loader=val_loader, metrics={"acc": PixelAccuracy()},
                  checkpoint_dir=checkpoint_dir, **kwargs)
    return model, history


def evaluate_fixed_model() -> dict[str, float]:
    """Evaluate fixed weights on 13 samples: the metric states must be summed over the ranks."""
    seed_everything(123)
    model = TinySegNet()
    loader = DataLoader(make_data(n=13, seed=3), batch_size=4)
    return evaluate(model, loader, metrics={"acc": PixelAccuracy()}, loss_fn=F.cross_entropy,
                    device="cpu")


def main(out: Path) -> None:
    torch.set_num_threads(1)
    rank, world_size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    assert world_size == 2, world_size
    # A. data-parallel training with the same global batch as one process
    model, history = train(batch_size=GLOBAL_BATCH // world_size)
    # B. evaluation split over the processes
    results = evaluate_fixed_model()
    # C. an interrupted data-parallel run (dropout, augmentation), resumed, against an
    # uninterrupted one
    recipe = dict(batch_size=GLOBAL_BATCH // world_size, dropout=0.3, augment=True)
    uninterrupted, _ = train(**recipe)
    train(**recipe, checkpoint_dir=out / "checkpoints", max_steps=5)
    checkpoint_files = sorted(os.listdir(out / "checkpoints"))
    resumed, _ = train(**recipe, checkpoint_dir=out / "checkpoints")
    torch.save(
        {
            "weights": params(model),
            "history": history.state_dict(),
            "evaluate": results,
            "uninterrupted": params(uninterrupted),
            "resumed": params(resumed),
            "checkpoint_files": checkpoint_files,
        },
        out / f"rank{rank}.pt",
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]))
