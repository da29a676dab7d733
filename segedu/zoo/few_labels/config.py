"""The settings of a few-label run and where its files go (:mod:`segedu.zoo.few_labels`).

A :class:`FewLabelConfig` is what :func:`segedu.zoo.recipe.run_recipe` and
:func:`~segedu.zoo.recipe.train_run` read of a recipe's configuration: ``start()`` (the run's
seed, the zoo's U-Net), the checkpoint's and the card's paths, where each phase (one network
trained) keeps its resume file, ``save_every``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ...config import cache_dir, seed_everything
from ...models import get_model
from .. import FOLDER, ZOO
from ..scores import TEST_SCENES

__all__ = ["METHODS", "IGNORE", "RUNS", "UNET", "checkpoint_path", "card_path", "FewLabelConfig"]

METHODS = ("supervised", "pseudo_labels", "mean_teacher", "full", "cam")
IGNORE = 255  # the label of pixels that teach nothing (unsure pseudo-labels)
RUNS = Path("zoo_runs/few_labels")  # where --seeds trains its runs, one folder per seed
UNET = ZOO["unet"]  # the zoo's U-Net: its architecture and build arguments
LABELLED = 0.05  # the share of the training scenes whose masks chapter 19's runs use


def checkpoint_path(method: str, folder: Path = FOLDER) -> Path:
    """``folder / unet_fewlabels_<method>.pt``."""
    return Path(folder) / f"unet_fewlabels_{method}.pt"


def card_path(method: str, folder: Path = FOLDER) -> Path:
    """``folder / unet_fewlabels_<method>.md``."""
    return Path(folder) / f"unet_fewlabels_{method}.md"


@dataclass
class FewLabelConfig:
    """One run's settings (module docstring); a test runs a tiny one, ``steps=2, scenes=40``."""

    method: str
    steps: int = 800
    batch: int = 8
    crop: int = 64  # the U-Nets train on random crops of crop x crop pixels (the scale kept)
    lr: float = 3e-3
    scenes: int = 2000  # training scenes drawn (seed 0)
    labelled: float = LABELLED  # the fraction of them whose masks are used
    test_scenes: int = TEST_SCENES
    rounds: int = 2  # pseudo_labels: rounds of labelling and training
    threshold: float = 0.9  # pseudo_labels: the confidence a pixel's label needs
    cam_threshold: float = 0.3  # cam: the normalised CAM score a pixel's label needs
    consistency: float = 10.0  # mean_teacher: the consistency weight after the ramp-up
    rampup: float = 0.4  # mean_teacher: the ramp-up's share of the steps
    ema_max: float = 0.99  # mean_teacher: the largest EMA decay
    noise: float = 0.1  # mean_teacher: the std of the Gaussian noise added to images in [0, 1]
    suffix: str = ""  # added to the checkpoint's and card's names: a run at another budget
    seed: int = 0  # the networks' initialisation, the data order, the crops and the noise
    out: Path = FOLDER
    work: Path = field(default_factory=lambda: cache_dir() / "few_labels")
    device: str | None = None
    command: str | None = None
    save_every: int = 100  # steps between two writes of a phase's resume file

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; the methods are: "
                             f"{', '.join(METHODS)}")
        for name in ("steps", "batch", "crop", "scenes", "test_scenes", "rounds"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed!r}")
        if self.crop % 16 or self.crop > 128:
            raise ValueError(f"crop must be a multiple of 16 (the U-Net's depth 4) up to 128, "
                             f"got {self.crop}")
        if self.batch % 2:
            raise ValueError(f"batch must be even (half labelled, half not), got {self.batch}")
        if not 0 < self.labelled < 1 or not 2 <= self.labelled_count < self.scenes:
            raise ValueError(f"labelled must be a fraction that keeps 2 to {self.scenes - 1} of "
                             f"the {self.scenes} scenes, got {self.labelled}")
        if not re.fullmatch(r"[a-z0-9_]*", self.suffix):
            raise ValueError(f"suffix must be lower-case letters, digits and _, got "
                             f"{self.suffix!r}")
        self.out, self.work = Path(self.out), Path(self.work)

    @property
    def labelled_count(self) -> int:
        """How many scenes keep their masks: the first ``round(labelled * scenes)``."""
        return round(self.labelled * self.scenes)

    @property
    def phase_dir(self) -> Path:
        """``work/<method><suffix>/seed<k>``: the resumable states of this run's phases."""
        return self.work / self.run_name / f"seed{self.seed}"

    @property
    def run_name(self) -> str:
        """``<method><suffix>``: the run's checkpoint is ``unet_fewlabels_<run_name>.pt``."""
        return self.method + self.suffix

    def torch_device(self) -> torch.device:
        """Where the networks train: ``device``, the CPU by default (the recorded runs)."""
        return torch.device(self.device or "cpu")

    def start(self) -> tuple[torch.device, torch.nn.Module]:
        """Seed every generator with ``seed``, then build the zoo's U-Net (the run's model,
        :meth:`segedu.zoo.recipe.TrainConfig.start`)."""
        seed_everything(self.seed)
        return self.torch_device(), get_model(UNET.model, **UNET.kwargs)

    @property
    def checkpoint_path(self) -> Path:
        """``out / unet_fewlabels_<run_name>.pt``."""
        return checkpoint_path(self.run_name, self.out)

    @property
    def card_path(self) -> Path:
        """``out / unet_fewlabels_<run_name>.md``."""
        return card_path(self.run_name, self.out)

    def phase_path(self, phase: str) -> Path:
        """``phase_dir / <phase>.pt``: the resume file of one network the run trains, kept when
        it is trained (a restarted run loads it instead of training it again)."""
        return self.phase_dir / f"{phase}.pt"

    def command_line(self) -> str:
        suffix = f" --suffix {self.suffix}" if self.suffix else ""
        seed = f" --seed {self.seed}" if self.seed else ""
        labelled = f" --labelled {self.labelled:g}" if self.labelled != LABELLED else ""
        return self.command or (f"python -m segedu.zoo.few_labels {self.method} "
                                f"--steps {self.steps}{suffix}{seed}{labelled}")

    def budget(self) -> str:
        return (f"{self.steps} steps of batch {self.batch} (U-Nets: random {self.crop}x{self.crop} "
                f"crops), Adam {self.lr:g} with cosine decay to 0, seed {self.seed}")
