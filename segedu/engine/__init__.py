"""Training and evaluation: the loop every lab uses (and the step-based one of the zoo's
recipes), one learning-rate schedule, checkpoints that survive a Colab disconnect (``fit``'s
``last.pt``, ``train_steps``' resume file: either run, stopped, goes on from it), mixed
precision, multi-GPU data parallelism and live loss curves.

>>> from segedu.engine import fit, evaluate
>>> history = fit(model, train_loader, loss_fn=loss_fn, optimizer=optimizer,
...               epochs=5)  # doctest: +SKIP
"""

from .batch import check_finite, check_loss, split_batch, to_device
from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .data_order import EpochBatchSampler, replay_loader
from .distributed import Distributed, init_distributed
from .evaluate import evaluate
from .history import History
from .live_plot import LivePlot, in_notebook
from .loop import CHECKPOINT_NAME, fit
from .rng import get_rng_state, preserved_rng, set_rng_state
from .schedule import WarmupCosine
from .step import optimizer_step, train_step
from .steps import cycle, train_steps

__all__ = [
    "fit",
    "evaluate",
    "train_step",
    "optimizer_step",
    "train_steps",
    "cycle",
    "WarmupCosine",
    "History",
    "LivePlot",
    "in_notebook",
    "save_checkpoint",
    "load_checkpoint",
    "CheckpointError",
    "CHECKPOINT_NAME",
    "EpochBatchSampler",
    "replay_loader",
    "Distributed",
    "init_distributed",
    "to_device",
    "split_batch",
    "check_loss",
    "check_finite",
    "get_rng_state",
    "set_rng_state",
    "preserved_rng",
]
