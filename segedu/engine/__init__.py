"""Training and evaluation: the one training loop (:func:`train_steps`, by optimizer steps) and
its front by epochs that every lab uses (:func:`fit`), one resume file that a stopped run goes
on from as if it had never stopped (a Colab disconnect, a job's time limit), one learning-rate
schedule, mixed precision, multi-GPU data parallelism, evaluation and live loss curves.

>>> from segedu.engine import fit, evaluate
>>> history = fit(model, train_loader, loss_fn=loss_fn, optimizer=optimizer,
...               epochs=5)  # doctest: +SKIP
"""

from .batch import check_finite, check_loss, split_batch, to_device
from .checkpoint import (
    CheckpointError,
    copy_atomically,
    load_checkpoint,
    save_atomically,
    save_checkpoint,
)
from .data_order import EpochBatchSampler, replay_batches, replay_loader
from .distributed import Distributed, data_parallel, init_distributed
from .epochs import CHECKPOINT_NAME, fit
from .evaluate import evaluate
from .history import History
from .live_plot import LivePlot, in_notebook
from .loop import cycle, train_steps
from .resume import ResumeFile, kept_state, read_resume_file
from .rng import get_rng_state, preserved_rng, set_rng_state
from .schedule import WarmupCosine
from .update import optimizer_step, train_step

__all__ = [
    "train_steps",
    "fit",
    "evaluate",
    "train_step",
    "optimizer_step",
    "cycle",
    "WarmupCosine",
    "History",
    "LivePlot",
    "in_notebook",
    "ResumeFile",
    "read_resume_file",
    "kept_state",
    "save_checkpoint",
    "load_checkpoint",
    "save_atomically",
    "copy_atomically",
    "CheckpointError",
    "CHECKPOINT_NAME",
    "EpochBatchSampler",
    "replay_loader",
    "replay_batches",
    "Distributed",
    "init_distributed",
    "data_parallel",
    "to_device",
    "split_batch",
    "check_loss",
    "check_finite",
    "get_rng_state",
    "set_rng_state",
    "preserved_rng",
]
