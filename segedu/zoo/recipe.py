"""What every zoo recipe shares: its configuration's common fields, its interface, its runner.

A recipe (:class:`Recipe`) trains the models of one :class:`~segedu.zoo.Task`: ``train(config)``
builds the entry's model, trains it, scores it on the held-out split, writes its float16
checkpoint and its card into ``config.out`` and returns the model; ``evaluate(model)`` gives the
held-out scores of a model (the card's numbers). Each recipe's configuration is a dataclass
deriving from :class:`TrainConfig`, as nanoGPT's ``GPTConfig``: a small run for a test is
``train(SemanticConfig("unet", steps=2, scenes=16, out=tmp_path))``.

One runner trains every recipe (:func:`run_recipe`): a recipe says only what is its own, as a
:class:`Training` (its data as batches, its loss, its optimiser: most use :func:`adamw_cosine`),
its score and its card; the runner seeds the run and builds the model
(:meth:`TrainConfig.start`), trains through :func:`segedu.engine.train_steps`, the one loop, with
the resume file :attr:`TrainConfig.resume_path` written every ``save_every`` steps (a stopped
run, started again with the same configuration, goes on from it as if it had never stopped),
scores the model and writes its float16 checkpoint and its card. A recipe of several networks
trained one after the other (the few-label runs) trains each as a phase of its own
(:func:`train_run` with ``phase``).
"""

from __future__ import annotations

import dataclasses
import functools
import shutil
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch

from ..config import device as best_device
from ..config import seed_everything
from ..engine import WarmupCosine, train_steps
from ..models import get_model
from . import FOLDER, ZOO, Task, ZooEntry
from .cards import CardText, model_card, trained_line, write_card
from .float16 import load_float32, save_float16

__all__ = ["TrainConfig", "Recipe", "Training", "adamw_cosine", "train_run", "run_recipe",
           "step_recipe"]


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
        resume_dir: where the semantic and the cell recipes of an older segedu kept their run
            (``fit``'s ``last.pt``): a run that finds one there goes on from it
            (:func:`train_run`); ``None``: nowhere.
        save_every: steps between two writes of the resume file :attr:`resume_path`
            (:func:`train_run`).
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
    save_every: int = 100

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
        for name in ("steps", "batch", "save_every", *self.positive):
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
        """``out / <model>_resume.pt``: what a recipe keeps of an unfinished run
        (:func:`train_run`: :mod:`segedu.engine.resume`'s file), removed when the run ends."""
        return self.out / f"{self.entry.model}_resume.pt"

    def phase_path(self, phase: str) -> Path:
        """``out / <model>_<phase>_resume.pt``: the resume file of one network of a recipe that
        trains several in turn (:func:`train_run` with ``phase``), kept when it ends."""
        return self.out / f"{self.entry.model}_{phase}_resume.pt"

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
    by_data: bool = False  # evaluate scores on the entry's data (a keyword ``data``)

    def for_entry(self, entry: ZooEntry) -> Recipe:
        """The recipe of ``entry``: this one, whose ``evaluate`` scores on the entry's held-out
        data (:attr:`ZooEntry.data`) when the recipe trains on several kinds (``by_data``)."""
        if not self.by_data:
            return self
        return dataclasses.replace(self, evaluate=functools.partial(self.evaluate,
                                                                    data=entry.data))


@dataclass
class Training:
    """What a step-based recipe trains with, all of it its own; :func:`train_run` runs it.

    Args:
        loss: ``batch -> loss`` or ``(loss, parts)`` (:func:`segedu.engine.train_steps`'s
            ``compute_loss``).
        batches: ``first_step -> iterator of batches`` (the data order from a step on: a resumed
            run starts there), or an iterator (the batches already trained on are drawn again
            and skipped).
        optimizer, scheduler: built on the trained parameters (:func:`adamw_cosine`).
        grad_clip: the gradient norm's limit (``None`` with a recipe's own ``update``).
        amp: mixed precision on a GPU: ``True`` is bfloat16 autocast, ``torch.float16`` float16
            autocast with a loss scaler (the semantic and cell recipes), ``False`` none.
        model: the module whose parameters are trained, when it is not the recipe's model
            (DINO's student around the backbone).
        log_every: steps between two lines of the log (``None``: the recipe logs itself).
        update, after_step: :func:`~segedu.engine.train_steps`'s (a family's own update; what
            runs after every step).
        state: the recipe's own objects the resume file keeps (generators, a teacher, ...).
        facts: what the run's record says beside its steps and minutes (the warm-up steps).
        finish: ``run -> run``, after the last step (DINO: the teacher becomes the model).
        data: the data order's signature, which the resume file keeps and a resumed run must
            match (``None``: the configuration's ``seed`` and ``batch``).
    """

    loss: Callable[[object], object]
    batches: Callable[[int], Iterator] | Iterator
    optimizer: torch.optim.Optimizer
    scheduler: object
    grad_clip: float | None = None
    amp: bool | torch.dtype = False
    model: torch.nn.Module | None = None
    log_every: int | None = 200
    update: Callable[[torch.Tensor, int], None] | None = None
    after_step: Callable[[int, dict[str, float]], None] | None = None
    state: dict[str, object] = field(default_factory=dict)
    facts: dict[str, object] = field(default_factory=dict)
    finish: Callable[[dict], dict] | None = None
    data: dict[str, object] | None = None


def adamw_cosine(model: torch.nn.Module, lr: float, steps: int | None, *, weight_decay: float,
                 warmup: int, warmup_start: float = 0.01
                 ) -> tuple[torch.optim.AdamW, WarmupCosine]:
    """The zoo's optimiser: AdamW on ``model``'s parameters from ``lr`` with ``weight_decay``,
    a linear warm-up over ``warmup`` steps from ``warmup_start * lr``, then a cosine decay to 0
    at ``steps`` (:class:`segedu.engine.WarmupCosine`; ``None``: set later)."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    return optimizer, WarmupCosine(optimizer, steps, warmup_steps=warmup, warmup_start=warmup_start)


def train_run(config: TrainConfig, model: torch.nn.Module, device: torch.device,
              training: Training, *, log: Callable[[str], None] | None = print,
              steps: int | None = None, start: int = 0, resume: bool = True,
              phase: str | None = None) -> dict:
    """Train ``model`` with ``training`` for ``steps`` (default ``config.steps``) through
    :func:`segedu.engine.train_steps`, keeping the run in :attr:`TrainConfig.resume_path` every
    ``config.save_every`` steps (``resume=False``: no file) and going on from it when a run
    finds one. ``phase``: one network of several that a recipe trains in turn, kept in
    ``config.phase_path(phase)``, which stays when the phase ends (a later phase's restart loads
    it instead of training it again). Returns the engine's record (``steps``, ``minutes`` of
    every call of the run, the last loss and its parts) with ``training.facts``, through
    ``training.finish``."""
    config.out.mkdir(parents=True, exist_ok=True)
    path = config.resume_path if phase is None else config.phase_path(phase)
    if resume and phase is None:
        _take_over_last_pt(config)
    amp = training.amp
    run = train_steps(
        training.loss, training.batches, model=training.model or model,
        optimizer=training.optimizer, scheduler=training.scheduler,
        steps=config.steps if steps is None else steps, start=start,
        grad_clip=training.grad_clip, device=device,
        amp_dtype=amp if isinstance(amp, torch.dtype) else torch.bfloat16 if amp else None,
        log=log, log_every=training.log_every,
        update=training.update, after_step=training.after_step,
        resume_file=path if resume else None, save_every=config.save_every,
        keep_resume_file=phase is not None, state=training.state,
        data=training.data or {"seed": config.seed, "batch": config.batch})
    run = {**run, **training.facts}
    return training.finish(run) if training.finish is not None else run


def _take_over_last_pt(config: TrainConfig) -> None:
    """An older segedu's semantic and cell recipes kept their run in ``resume_dir/last.pt``
    (``fit``'s file): moved to :attr:`TrainConfig.resume_path`, the run goes on from it."""
    older = None if config.resume_dir is None else config.resume_dir / "last.pt"
    if older is not None and older.is_file() and not config.resume_path.is_file():
        shutil.move(older, config.resume_path)


def run_recipe(config: TrainConfig, *,
               train: Callable[[torch.nn.Module, TrainConfig, torch.device], dict],
               score: Callable[[torch.nn.Module, torch.device], Mapping[str, float]],
               card: Callable[[TrainConfig, torch.nn.Module, torch.device, dict,
                               Mapping[str, float]], CardText | Sequence[str]],
               score_shipped: bool = False) -> torch.nn.Module:
    """Run a recipe from start to end; return the trained model (in eval mode).

    1. seed every generator with ``config.seed`` and build the entry's model
       (:meth:`TrainConfig.start`);
    2. ``train(model, config, device) -> run``, the recipe's training (:func:`train_run` of its
       :class:`Training`, which resumes a stopped run);
    3. ``score(model, device) -> {metric: value}`` on the held-out split; ``score_shipped``: on
       the float16 checkpoint as shipped, loaded back (the card's numbers are then exactly what
       re-scoring the shipped file gives);
    4. the float16 checkpoint :attr:`TrainConfig.checkpoint_path`
       (:func:`~segedu.zoo.float16.save_float16`) and the card :attr:`TrainConfig.card_path`,
       whose lines ``card(config, model, device, run, scores)`` gives, or whose words it gives
       as a :class:`~segedu.zoo.cards.CardText` (then :func:`~segedu.zoo.cards.model_card`
       with the run's ``trained`` line).
    """
    device, model = config.start()
    run = train(model, config, device)
    model.eval()
    if score_shipped:
        path = save_float16(model, config.checkpoint_path)
        model.load_state_dict(load_float32(path))
        scores = score(model, device)
    else:
        scores = score(model, device)
        save_float16(model, config.checkpoint_path)
    lines = card(config, model, device, run, scores)
    if isinstance(lines, CardText):
        lines = model_card(config, model, title=lines.title, recipe=lines.recipe,
                           held_out=lines.held_out, table=lines.table,
                           trained=trained_line(config, device, run["steps"], run["minutes"]))
    write_card(config.card_path, lines)
    return model


def step_recipe(task: Task, config: type[TrainConfig], *,
                train: Callable[[torch.nn.Module, TrainConfig, torch.device], dict],
                evaluate: Callable[..., dict[str, float]],
                card: Callable[..., CardText | Sequence[str]], test_length: str) -> Recipe:
    """The :class:`Recipe` of a step-based recipe whose ``train(config)`` is
    :func:`run_recipe` of ``train`` (``model, config, device -> run``), scored by
    ``evaluate(model, device, length=config.<test_length>)`` (the held-out items scored), its
    card from ``card``."""
    def train_config(settings: TrainConfig) -> torch.nn.Module:
        score = functools.partial(evaluate, length=getattr(settings, test_length))
        return run_recipe(settings, train=train, score=score, card=card)

    train_config.__doc__ = (f"Train a {task.value} model with :func:`{train.__name__}`, score it "
                            f"on ``config.{test_length}`` held-out items, write its checkpoint "
                            "and card (:func:`segedu.zoo.recipe.run_recipe`); return it.")
    return Recipe(task, config, train_config, evaluate)
