"""What every zoo recipe shares: its configuration's common fields and its interface.

A recipe (:class:`Recipe`) trains the models of one :class:`~segedu.zoo.Task`: ``train(config)``
builds the entry's model, trains it, scores it on the held-out split, writes its float16
checkpoint and its card into ``config.out`` and returns the model; ``evaluate(model)`` gives the
held-out scores of a model (the card's numbers). Each recipe's configuration is a dataclass
deriving from :class:`TrainConfig`, as nanoGPT's ``GPTConfig``: a small run for a test is
``train(SemanticConfig("unet", steps=2, scenes=16, out=tmp_path))``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch

from ..config import device as best_device
from ..config import seed_everything
from ..engine import load_checkpoint, save_checkpoint
from ..models import get_model
from . import FOLDER, ZOO, Task, ZooEntry

__all__ = ["TrainConfig", "Recipe", "save_resume", "load_resume", "resume_run"]


@dataclass
class TrainConfig:
    """The settings every recipe has; a recipe's own dataclass adds its own.

    Args:
        name: the zoo entry (a key of :data:`segedu.zoo.ZOO`).
        steps, lr, batch: ``None`` takes the entry's.
        out: the folder of the checkpoint and the card (default: the package's own).
        device: ``None`` is :func:`segedu.config.device` (CUDA, then MPS, then CPU).
        command: how the run was started, quoted in the card (``None``: the equivalent
            ``python -m segedu.zoo.train`` command).
        entry: the :class:`~segedu.zoo.ZooEntry` itself, for a model not (yet) in the zoo
            (``None``: ``ZOO[name]``).
        seed: the run's seed: the model's initialisation and the data order (a recipe with more
            random choices draws them from it too); 0 for the shipped single-seed checkpoints.
        resume_dir: where a recipe that can resume inside a run keeps its state (the semantic
            and the cell recipes: :func:`segedu.engine.fit`'s ``last.pt``); a run started again
            with the same configuration goes on from there. ``None``: no resumable state.
    """

    tasks: ClassVar[tuple[Task, ...]] = ()  # the tasks whose entries it trains
    positive: ClassVar[tuple[str, ...]] = ()  # its own fields that must be positive integers

    name: str
    steps: int | None = None
    lr: float | None = None
    batch: int | None = None
    out: Path = FOLDER
    device: str | None = None
    command: str | None = None
    entry: ZooEntry | None = None
    seed: int = 0
    resume_dir: Path | None = None

    def __post_init__(self) -> None:
        if self.entry is None:
            if self.name not in ZOO:
                raise ValueError(f"segedu.zoo has no entry {self.name!r}; "
                                 f"it has: {', '.join(sorted(ZOO))}")
            self.entry = ZOO[self.name]
        if self.tasks and self.entry.task not in self.tasks:
            trains = ", ".join(t.value for t in self.tasks)
            raise ValueError(f"{self.name!r} is a {self.entry.task.value} model: "
                             f"{type(self).__name__} trains {trains}")
        self.steps = self.entry.steps if self.steps is None else self.steps
        self.lr = self.entry.lr if self.lr is None else self.lr
        self.batch = self.entry.batch if self.batch is None else self.batch
        for name in ("steps", "batch", *self.positive):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed!r}")
        self.out = Path(self.out)
        self.resume_dir = None if self.resume_dir is None else Path(self.resume_dir)

    def torch_device(self) -> torch.device:
        """The device to train on."""
        return torch.device(self.device) if self.device is not None else best_device()

    def command_line(self) -> str:
        """``command``, or the ``python -m segedu.zoo.train`` command of this configuration."""
        if self.command is not None:
            return self.command
        seed = f" --seed {self.seed}" if self.seed else ""
        return f"python -m segedu.zoo.train {self.name} --steps {self.steps}{seed}"

    def start(self) -> tuple[torch.device, torch.nn.Module]:
        """Seed every generator with ``seed``, then build the entry's model (its initialisation
        is the run's first random draw, the data order comes after); return the device and the
        model: the first thing each recipe's ``train`` does."""
        seed_everything(self.seed)
        return self.torch_device(), get_model(self.entry.model, **self.model_kwargs())

    def model_kwargs(self) -> dict:
        """The keyword arguments the run builds its model with: the entry's (a recipe whose
        configuration changes the architecture adds its own)."""
        return dict(self.entry.kwargs)

    @property
    def checkpoint_path(self) -> Path:
        """Where the recipe writes the float16 checkpoint: ``out / <entry's checkpoint name>``."""
        return self.out / self.entry.checkpoint.name

    @property
    def resume_path(self) -> Path:
        """``out / <model>_resume.pt``: what a recipe that stops and goes on keeps of an
        unfinished run (:func:`save_resume`: weights, optimizer, schedule, step, random state),
        removed when the run ends."""
        return self.out / f"{self.entry.model}_resume.pt"

    @property
    def card_path(self) -> Path:
        """Where the recipe writes the model card: ``out / <entry's card name>``."""
        return self.out / self.entry.card.name


@dataclass(frozen=True)
class Recipe:
    """One task's recipe: its configuration class, ``train(config) -> model`` (writes checkpoint
    and card), ``evaluate(model, device=...) -> {metric: value}`` (the held-out scores)."""

    task: Task
    config: type[TrainConfig]
    train: Callable[[Any], torch.nn.Module]
    evaluate: Callable[..., dict[str, float]]


def save_resume(path: Path, *, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                scheduler: Any, step: int, minutes: float, **extra: Any) -> None:
    """Write a run's resume file: weights, optimizer, schedule, the number of steps done, the
    minutes they took (over every call of the run), and ``extra`` (e.g. a random state).

    The write is atomic (:func:`segedu.engine.save_checkpoint`): a run stopped while writing,
    hours into its training, keeps its previous resume file whole instead of half a new one."""
    save_checkpoint({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                     "scheduler": scheduler.state_dict(), "step": step, "minutes": minutes,
                     **extra}, path)


def load_resume(path: Path, *, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                scheduler: Any, device: torch.device | str = "cpu") -> dict[str, Any] | None:
    """Restore what :func:`save_resume` wrote into ``model``, ``optimizer`` and ``scheduler``;
    return the file's other entries (``step``, ``minutes``, the extras), or ``None`` when there
    is no file at ``path`` (a run that starts afresh). A file that is not a whole resume file
    raises :class:`segedu.engine.CheckpointError`, naming it."""
    path = Path(path)
    if not path.is_file():
        return None
    state = load_checkpoint(path, map_location=device)
    model.load_state_dict(state.pop("model"))
    optimizer.load_state_dict(state.pop("optimizer"))
    scheduler.load_state_dict(state.pop("scheduler"))
    return state


def resume_run(config: TrainConfig, *, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
               scheduler: Any, device: torch.device | str = "cpu",
               log: Callable[[str], None] | None = print,
               extras: dict[str, Any] | None = None) -> tuple[int, float]:
    """Continue a run where its last call stopped: :func:`load_resume` of
    ``config.resume_path``, torch's random state restored when the file kept it, a line logged;
    ``extras``, when given, receives the file's other entries (a recipe's own state).
    Returns the steps already done and the minutes they took (``0, 0.0`` for a fresh run)."""
    state = load_resume(config.resume_path, model=model, optimizer=optimizer,
                        scheduler=scheduler, device=device)
    if state is None:
        return 0, 0.0
    if extras is not None:
        extras.update(state)
    if "rng" in state:  # dropout and the like continue as in a run that never stopped
        torch.set_rng_state(state["rng"])
    if log is not None:
        log(f"resuming from step {int(state['step'])} ({config.resume_path})")
    return int(state["step"]), float(state["minutes"])
