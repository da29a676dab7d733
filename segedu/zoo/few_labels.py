"""Learning with fewer labels, measured: five U-Nets at one budget (chapter 19).

``python -m segedu.zoo.few_labels <method> [--steps N] [--seed K] [--out DIR] [--work DIR]``
trains one of

- ``supervised``: the zoo's U-Net on the labelled 5 % alone (the first 100 of 2000 training
  scenes of 128 x 128, seed 0, as :mod:`segedu.zoo.semantic` draws them);
- ``pseudo_labels``: self-training (:mod:`segedu.semi.pseudo_labels`) in ``rounds`` rounds: the
  ``supervised`` run's model (its shipped checkpoint: train it first) labels the other 1900
  scenes, keeping the pixels where it is at least ``threshold`` sure; a new U-Net trains on
  labelled and pseudo-labelled scenes, then labels them again for the next round;
- ``mean_teacher``: the mean teacher (:mod:`segedu.semi.mean_teacher`) on the 100 labelled and the
  1900 unlabelled scenes; the student sees Gaussian noise, the teacher other noise and the image
  flipped left-right (its prediction flipped back); the teacher is the model kept;
- ``full``: all 2000 scenes labelled, the ceiling;
- ``cam``: image-level labels only (which classes each of the 2000 scenes shows): a
  :class:`~segedu.semi.CAMClassifier` trained on them, its CAMs turned into pseudo-masks
  (:func:`~segedu.semi.cam_pseudo_masks`), a U-Net trained on those.

**One budget for all**: every network (U-Net or classifier) trains ``steps`` optimizer steps of
``batch`` images (800 of 8 by default, small enough for a shared CPU; the U-Nets see random 64 x 64
crops, the scale of the held-out scenes kept), Adam from ``lr`` with a
cosine decay to 0, one thread on the CPU, with the zoo's loss (cross-entropy + soft Dice;
pseudo-labelled pixels that are not sure are left out). The steps of the semi-supervised runs
take half their batch from the labelled scenes and half from the others. What each method costs
beyond that (the teacher run that ``pseudo_labels`` starts from, its rounds, the classifier of
``cam``) is in its card.

Each run writes ``unet_fewlabels_<method>.pt`` (float16) and its card ``.md`` into ``--out``
(default the zoo's ``checkpoints/``), scored on the zoo's held-out split
(:func:`segedu.zoo.scores.evaluate`), and keeps a resumable state of every phase in ``--work``
(default ``<segedu cache>/few_labels``): a run that stops continues where it stopped.

**Seeds.** ``--seed K`` (default 0) sets what is random in training: the networks'
initialisation, the data order, the crops and the noise; the scenes and which of them are
labelled stay the same. ``--seeds 0 1 2 [--runs DIR]`` trains the method once per seed into
``DIR/seed<k>/`` (default ``zoo_runs/few_labels``; a finished seed is skipped, an interrupted one
resumes), ships the median seed's files into ``--out`` and adds the ``## Seeds`` section (each
seed's IoUs, mean ± sd) to its card. ``pseudo_labels`` of seed k starts from ``supervised`` of
seed k, so the supervised seeds come first.
"""

from __future__ import annotations

import argparse
import datetime
import re
import shutil
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from dataclasses import replace as dataclass_replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..config import cache_dir, seed_everything
from ..data import SyntheticScenes
from ..engine import EpochBatchSampler, WarmupCosine, train_steps
from ..engine.data_order import mix_seed
from ..losses import ce_dice_loss
from ..models import get_model
from ..models.foundation.dino import ema_update, make_teacher
from ..semi import (
    CAMClassifier,
    cam_pseudo_masks,
    consistency_loss,
    image_level_labels,
    label_images,
    mean_teacher_momentum,
    pseudo_label_quality,
    sigmoid_rampup,
)
from . import FOLDER, ZOO
from .cards import card_head, replace_card_section, where, write_card
from .float16 import load_float32, save_float16
from .scores import TEST_SCENES, scene_tensors
from .scores import evaluate as class_iou
from .seeds import Spread, read_spread, summarise

__all__ = ["METHODS", "IGNORE", "FewLabelConfig", "train", "checkpoint_path", "card_path",
           "card_scores", "run_seeds", "card_spread", "load_few_label_model",
           "load_cam_classifier", "main"]

METHODS = ("supervised", "pseudo_labels", "mean_teacher", "full", "cam")
IGNORE = 255  # the label of pixels that teach nothing (unsure pseudo-labels)
RUNS = Path("zoo_runs/few_labels")  # where --seeds trains its runs, one folder per seed
UNET = ZOO["unet"]  # the zoo's U-Net: its architecture and build arguments


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
    labelled: float = 0.05  # the fraction of them whose masks are used
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

    def command_line(self) -> str:
        suffix = f" --suffix {self.suffix}" if self.suffix else ""
        seed = f" --seed {self.seed}" if self.seed else ""
        return self.command or (f"python -m segedu.zoo.few_labels {self.method} "
                                f"--steps {self.steps}{suffix}{seed}")

    def budget(self) -> str:
        return (f"{self.steps} steps of batch {self.batch} (U-Nets: random {self.crop}x{self.crop} "
                f"crops), Adam {self.lr:g} with cosine decay to 0, seed {self.seed}")


# ---------------------------------------------------------------------------------------------
# data order and one resumable training phase


def _index_batches(count: int, batch: int, *, seed: int, start: int) -> Iterator[list[int]]:
    """The index batches of steps ``start, start + 1, ...``: epochs of a shuffled order that is
    a function of ``(seed, epoch)`` (:class:`segedu.engine.EpochBatchSampler`), so a resumed
    run sees the batches it would have seen."""
    sampler = EpochBatchSampler(num_samples=count, batch_size=min(batch, count), shuffle=True,
                                drop_last=True, seed=seed)
    epoch, skip = divmod(start, len(sampler))
    while True:
        sampler.set_epoch(epoch, skip=skip)
        yield from sampler
        epoch, skip = epoch + 1, 0


def _phase(config: FewLabelConfig, name: str, model: nn.Module, compute_loss, *,
           count: int, second: int | None = None, teacher: nn.Module | None = None) -> float:
    """Train ``model`` for ``config.steps`` steps with ``compute_loss((step, indices,
    second_indices))`` through :func:`segedu.engine.train_steps`, which keeps the phase in
    ``work/<name>.pt`` (every 100 steps and at the end; a restarted phase goes on from it, a
    finished one is only loaded). ``count`` (and ``second``) are the sizes of the index sets
    batches are drawn from (half a batch each when there are two); ``teacher``: an EMA of
    ``model`` after every step (the mean teacher), kept in the file too. Returns the phase's
    minutes (of every call)."""
    device = torch.device(config.device or "cpu")
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    scheduler = WarmupCosine(optimizer, config.steps)

    def after_step(step: int, values: dict[str, float]) -> None:
        if teacher is not None:  # the teacher follows the student (EMA of the weights)
            ema_update(teacher=teacher, student=model,
                       momentum=mean_teacher_momentum(step + 1, maximum=config.ema_max))

    half = config.batch // 2 if second is not None else config.batch

    def batches(start: int) -> Iterator:
        # the index batches of each step are a function of (seed, step): none drawn twice
        first = _index_batches(count, half, seed=mix_seed(config.seed, 1), start=start)
        other = (_index_batches(second, half, seed=mix_seed(config.seed, 2), start=start)
                 if second is not None else None)
        for step in range(start, config.steps):
            yield step, next(first), (next(other) if other is not None else None)

    model.train()
    result = train_steps(compute_loss, batches, model=model, optimizer=optimizer,
                         steps=config.steps, scheduler=scheduler, device=device,
                         log=lambda line: print(f"{name}: {line}", flush=True), log_every=50,
                         after_step=after_step, resume_file=config.phase_dir / f"{name}.pt",
                         save_every=100, keep_resume_file=True,
                         state={"teacher": teacher} if teacher is not None else None)
    return result["minutes"]


def _unet(seed: int) -> nn.Module:
    """The zoo's U-Net, initialised from ``seed`` (the same start for every round of a run)."""
    seed_everything(seed)
    return get_model(UNET.model, **UNET.kwargs)


def _crops(images: torch.Tensor, labels: torch.Tensor, *, size: int, step: int,
           seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A random ``size x size`` crop of each image ``(B, 3, S, S)`` and of its labels ``(B, S,
    S)``, the same window for both; the windows are a function of the run's seed and the step
    (exact resume)."""
    full = images.shape[-1]
    if size >= full:
        return images, labels
    generator = torch.Generator().manual_seed(mix_seed(seed, 4, step))
    corners = torch.randint(0, full - size + 1, (len(images), 2), generator=generator).tolist()
    windows = [(slice(y, y + size), slice(x, x + size)) for y, x in corners]
    return (torch.stack([im[:, rows, cols] for im, (rows, cols) in zip(images, windows,
                                                                         strict=True)]),
            torch.stack([lab[rows, cols] for lab, (rows, cols) in zip(labels, windows,
                                                                        strict=True)]))


def _loss(outputs: dict[str, torch.Tensor], target: torch.Tensor) -> torch.Tensor:
    """The zoo's cross-entropy + soft Dice, unsure pseudo-labels (``IGNORE``) left out."""
    return ce_dice_loss(outputs["out"].float(), target.long(), ignore_index=IGNORE)


# ---------------------------------------------------------------------------------------------
# the five methods; each returns (model, minutes, card lines, card tables)


def _supervised(config, images, labels, count):
    model = _unet(config.seed)

    def compute_loss(batch):
        step, idx, _ = batch
        x, y = _crops(images[idx], labels[idx], size=config.crop, step=step,
                      seed=config.seed)
        return _loss(model(x), y)

    minutes = _phase(config, "unet", model, compute_loss, count=count)
    return model, minutes, [], []


def _pseudo_labels(config, images, labels, known):
    teacher_path = checkpoint_path("supervised" + config.suffix, config.out)  # same budget
    if not teacher_path.is_file():
        suffix = f" --suffix {config.suffix}" if config.suffix else ""
        raise FileNotFoundError(f"{teacher_path} is missing: pseudo_labels starts from the "
                                "supervised run's model; run `python -m segedu.zoo.few_labels "
                                f"supervised --steps {config.steps}{suffix}` first")
    teacher = get_model(UNET.model, **UNET.kwargs)
    teacher.load_state_dict(load_float32(teacher_path))
    # the run keeps the teacher it started from: shipped alone, its median seed's supervised
    # model need not be this seed's
    shutil.copyfile(teacher_path,
                    config.out / f"unet_fewlabels_pseudo_labels{config.suffix}_round0.pt")
    unlabelled = torch.arange(known, len(images))
    truth = labels[unlabelled].long()
    table = ["| round | teacher | pixels labelled | of them right |", "| --- | --- | ---: | ---: |"]
    minutes = 0.0
    for round_ in range(1, config.rounds + 1):
        # label the unlabelled scenes with the current teacher, keep the sure pixels
        pseudo = label_images(teacher, images[unlabelled], threshold=config.threshold,
                              ignore_index=IGNORE).to(torch.uint8)
        quality = pseudo_label_quality(pseudo.long(), truth, ignore_index=IGNORE)
        source = "supervised" if round_ == 1 else f"round {round_ - 1}'s student"
        table.append(f"| {round_} | {source} | {quality['coverage']:.3f} | "
                     f"{quality['accuracy']:.3f} |")
        targets = torch.cat([labels[:known], pseudo])  # true masks, then pseudo-labels
        student = _unet(config.seed)

        def compute_loss(batch, student=student, targets=targets):
            step, idx, other = batch
            idx = torch.cat([torch.as_tensor(idx), known + torch.as_tensor(other)])
            x, y = _crops(images[idx], targets[idx], size=config.crop, step=step,
                          seed=config.seed)
            return _loss(student(x), y)

        minutes += _phase(config, f"round{round_}", student, compute_loss, count=known,
                          second=len(images) - known)
        if round_ < config.rounds:
            save_float16(student, config.out / f"unet_fewlabels_pseudo_labels{config.suffix}"
                                           f"_round{round_}.pt")
        teacher = student
    notes = [f"- pseudo-labels on the {len(unlabelled)} unlabelled training scenes, a pixel kept "
             f"when the teacher's probability is at least {config.threshold:g} (each round a new "
             f"U-Net from the same initialisation; the teacher of round 1 is "
             f"`{teacher_path.name}` (kept as round 0), whose {config.steps} steps are not "
             "counted below; the "
             f"models of rounds before the last are kept as "
             f"`unet_fewlabels_pseudo_labels{config.suffix}_round<r>.pt`); the pseudo-labels of "
             "each round "
             "are in the second table"]
    return teacher, minutes, notes, [*table, ""]


def _noisy(x: torch.Tensor, std: float, generator: torch.Generator) -> torch.Tensor:
    return x + std * torch.randn(x.shape, generator=generator)


def _mean_teacher(config, images, labels, known):
    student = _unet(config.seed)
    teacher = make_teacher(student)  # the EMA, a copy at step 0, no gradients
    rampup_steps = round(config.rampup * config.steps)

    def compute_loss(batch):
        step, idx, other = batch
        idx = torch.cat([torch.as_tensor(idx), known + torch.as_tensor(other)])
        # (B, 3, c, c): half labelled, half not (the unlabelled half's labels are never read)
        x, y = _crops(images[idx], labels[idx], size=config.crop, step=step,
                      seed=config.seed)
        generator = torch.Generator().manual_seed(mix_seed(config.seed, 3, step))
        out = student(_noisy(x, config.noise, generator))["out"]
        with torch.no_grad():  # the teacher: other noise, flipped left-right, flipped back
            teacher.train()  # batch statistics, as the paper's code (its BN buffers its own)
            seen = torch.flip(_noisy(x, config.noise, generator), dims=(-1,))
            target = torch.flip(teacher(seen)["out"], dims=(-1,))
        half = len(idx) // 2
        supervised = _loss({"out": out[:half]}, y[:half])
        weight = config.consistency * sigmoid_rampup(step, rampup_steps)
        consistency = consistency_loss(out, target)
        return supervised + weight * consistency, {"supervised": supervised,
                                                   "consistency": consistency}

    minutes = _phase(config, "student", student, compute_loss, count=known,
                     second=len(images) - known, teacher=teacher)
    student_iou = class_iou(student, "cpu", length=config.test_scenes)
    notes = [f"- consistency: squared distance of the class probabilities, weight "
             f"{config.consistency:g} after a sigmoid ramp-up exp(-5(1-t)^2) over the first "
             f"{rampup_steps} steps; teacher = EMA of the student, decay min(1 - 1/(t+1), "
             f"{config.ema_max:g}); noise: Gaussian, std {config.noise:g}, the teacher's input "
             "also flipped left-right (its output flipped back)",
             f"- the student (not kept) scores mIoU {float(student_iou.nanmean()):.3f} on the "
             "held-out split; the card's table is the teacher's"]
    return teacher, minutes, notes, []


def _cam(config, images, labels, known):
    num_classes = len(SyntheticScenes.classes)
    tags = image_level_labels(labels.long(), num_classes)  # (L, K): which classes each shows
    seed_everything(config.seed)
    classifier = CAMClassifier(num_classes=num_classes)

    def classifier_loss(batch):
        _, idx, _ = batch
        return F.binary_cross_entropy_with_logits(classifier(images[idx]), tags[idx])

    minutes = _phase(config, "classifier", classifier, classifier_loss, count=len(images))
    kept = f"unet_fewlabels_{config.run_name}_classifier.pt"  # for the figures
    save_float16(classifier, config.out / kept)
    classifier.eval()
    with torch.no_grad():
        masks = torch.cat([
            cam_pseudo_masks(classifier.upsampled_cams(images[i:i + 50]), tags[i:i + 50],
                             threshold=config.cam_threshold, ignore_index=IGNORE)
            for i in range(0, len(images), 50)]).to(torch.uint8)
    quality = pseudo_label_quality(masks.long(), labels.long(), ignore_index=IGNORE)
    model = _unet(config.seed)

    def compute_loss(batch):
        step, idx, _ = batch
        x, y = _crops(images[idx], masks[idx], size=config.crop, step=step,
                      seed=config.seed)
        return _loss(model(x), y)

    minutes += _phase(config, "unet", model, compute_loss, count=len(images))
    notes = [f"- image-level labels of all {len(images)} training scenes (which of the "
             f"{num_classes} classes each shows), no mask: a `CAMClassifier` (ResNet-18 width 16, "
             f"output stride 8, GAP, linear; binary cross-entropy per class) trained with the "
             f"same budget on whole scenes (their labels are the whole scene's), its CAMs "
             f"normalised, absent classes removed, a pixel kept when its "
             f"best score is at least {config.cam_threshold:g}: the pseudo-masks label "
             f"{quality['coverage']:.3f} of the pixels, {quality['accuracy']:.3f} of those "
             "right; then the U-Net trained on them (the minutes count both networks); the "
             f"classifier is kept as `{kept}`"]
    return model, minutes, notes, []


TRAIN = {"supervised": _supervised, "pseudo_labels": _pseudo_labels,
         "mean_teacher": _mean_teacher, "full": _supervised, "cam": _cam}
LABELS = {
    "supervised": "masks of {known} scenes ({percent:g} %)",
    "pseudo_labels": "masks of {known} scenes ({percent:g} %) + {rest} unlabelled scenes",
    "mean_teacher": "masks of {known} scenes ({percent:g} %) + {rest} unlabelled scenes",
    "full": "masks of all {total} scenes (100 %)",
    "cam": "image-level labels of {total} scenes, no mask",
}


def train(config: FewLabelConfig) -> nn.Module:
    """Run ``config.method``; write its float16 checkpoint and card to ``config.out``; return
    the model."""
    if config.device in (None, "cpu"):
        torch.set_num_threads(1)  # the recorded runs: one thread
    start = time.perf_counter()
    images, labels = scene_tensors(seed=0, length=config.scenes)  # (L, 3, S, S), (L, S, S)
    labels = labels.to(torch.uint8)  # 8 times less memory than int64
    data_minutes = (time.perf_counter() - start) / 60
    known = config.labelled_count
    if config.method == "full":
        known = config.scenes
    config.phase_dir.mkdir(parents=True, exist_ok=True)
    model, minutes, notes, tables = TRAIN[config.method](config, images, labels, known)
    iou = class_iou(model, "cpu", length=config.test_scenes)
    path = save_float16(model, checkpoint_path(config.run_name, config.out))
    names = SyntheticScenes.classes
    labels_used = LABELS[config.method].format(known=config.labelled_count,
                                               rest=config.scenes - config.labelled_count,
                                               total=config.scenes,
                                               percent=100 * config.labelled)
    card = [*card_head(f"Few labels: `{config.method}` U-Net on synthetic scenes", UNET, model),
            f"- trained {datetime.date.today()} with `{config.command_line()}` on "
            f"{where('cpu')}: {minutes:.1f} min of training (and {data_minutes:.1f} min to draw "
            "the data)",
            f"- labels used: {labels_used}",
            f"- budget (each network): {config.budget()}; cross-entropy + soft Dice",
            *notes,
            f"- held-out split: {config.test_scenes} scenes from seed 1, never seen in training",
            "", "| class | IoU |", "| --- | ---: |",
            *[f"| {n} | {v:.3f} |" for n, v in zip(names, iou.tolist(), strict=True)],
            f"| **mIoU** | **{float(iou.nanmean()):.3f}** |", "", *tables]
    write_card(card_path(config.run_name, config.out), card)
    print(f"wrote {path}")
    return model


def card_scores(method: str, folder: Path = FOLDER) -> dict[str, float]:
    """The held-out IoU per class and ``"miou"`` that a run's card records."""
    text = card_path(method, folder).read_text()
    scores = {name: float(re.search(rf"^\| {name} \| ([0-9.]+) \|$", text, re.M).group(1))
              for name in SyntheticScenes.classes}
    scores["miou"] = float(re.search(r"\*\*mIoU\*\* \| \*\*([0-9.]+)\*\*", text).group(1))
    return scores


def _run_files(config: FewLabelConfig) -> list[str]:
    """The files a run writes into ``config.out``: checkpoint, card, and the ``cam`` run's
    classifier or the ``pseudo_labels`` run's teacher (round 0) and models of the rounds before
    the last."""
    base = f"unet_fewlabels_{config.run_name}"
    extra = {"cam": ["_classifier.pt"],
             "pseudo_labels": [f"_round{r}.pt" for r in range(config.rounds)]}
    return [f"{base}.pt", f"{base}.md", *(base + e for e in extra.get(config.method, []))]


def run_seeds(config: FewLabelConfig, seeds: list[int], runs: Path, *,
              folder: Path = FOLDER) -> int:
    """Train ``config``'s run once per seed of ``seeds`` into ``runs/seed<k>/`` (a seed whose
    card is there is done; an interrupted one resumes from its work folder), then ship the
    median seed's files (by held-out mIoU) into ``folder`` and add the ``## Seeds`` section
    (:func:`segedu.zoo.seeds.summarise`) to its card; return that seed. ``pseudo_labels`` of
    seed k starts from ``supervised`` of seed k, in the same run folder."""
    scores = {}
    for seed in seeds:
        run = dataclass_replace(config, seed=seed, out=Path(runs) / f"seed{seed}")
        if not card_path(run.run_name, run.out).is_file():
            train(run)
        scores[seed] = card_scores(run.run_name, run.out)
        print(f"{run.run_name} seed {seed}: mIoU {scores[seed]['miou']:.4f}", flush=True)
    median, section = summarise(scores, "miou")
    shipped = dataclass_replace(config, seed=median, out=Path(runs) / f"seed{median}")
    Path(folder).mkdir(parents=True, exist_ok=True)
    for name in _run_files(shipped):
        shutil.copyfile(shipped.out / name, Path(folder) / name)
    replace_card_section(card_path(shipped.run_name, folder), section)
    return median


def card_spread(run_name: str, folder: Path = FOLDER) -> Spread:
    """The shipped run's scores over its seeds (its card's ``## Seeds`` section): one mIoU and
    one IoU per class per seed, for chapter 19's comparison with error bars."""
    method = next(m for m in METHODS if run_name.startswith(m))  # no method begins another
    suffix = run_name[len(method):]
    return read_spread(card_path(run_name, folder), retrain=(
        f"python -m segedu.zoo.few_labels {method} --seeds 0 1 2 --runs {RUNS}"
        + (f" --suffix {suffix}" if suffix else "")))


def load_few_label_model(name: str, folder: Path = FOLDER) -> nn.Module:
    """The U-Net of checkpoint ``unet_fewlabels_<name>.pt`` (a method, or
    ``pseudo_labels_round1``), in eval mode."""
    path = Path(folder) / f"unet_fewlabels_{name}.pt"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: reproduce it with "
                                f"`python -m segedu.zoo.few_labels {name.split('_round')[0]}`")
    model = get_model(UNET.model, **UNET.kwargs)
    model.load_state_dict(load_float32(path))
    return model.eval()


def load_cam_classifier(folder: Path = FOLDER) -> CAMClassifier:
    """The ``cam`` run's classifier (``unet_fewlabels_cam_classifier.pt``), in eval mode."""
    path = Path(folder) / "unet_fewlabels_cam_classifier.pt"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: reproduce it with "
                                "`python -m segedu.zoo.few_labels cam`")
    classifier = CAMClassifier(num_classes=len(SyntheticScenes.classes))
    classifier.load_state_dict(load_float32(path))
    return classifier.eval()


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m segedu.zoo.few_labels",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("method", choices=METHODS)
    parser.add_argument("--steps", type=int, default=800, help="steps of each network")
    parser.add_argument("--out", type=Path, default=FOLDER, help="folder of checkpoint and card")
    parser.add_argument("--work", type=Path, help="folder of the resumable states")
    parser.add_argument("--suffix", default="", help="added to the names of checkpoint and card "
                        "(a run at another budget: --steps 2400 --suffix _long)")
    parser.add_argument("--seed", type=int, default=0, help="the training seed of one run")
    parser.add_argument("--seeds", type=int, nargs="+", help="train once per seed into "
                        "--runs/seed<k>/ and ship the median seed to --out, with the spread")
    parser.add_argument("--runs", type=Path, default=RUNS,
                        help="with --seeds: the folder of the runs")
    args = parser.parse_args(argv)
    if args.seeds is not None and (len(set(args.seeds)) < 2 or "--seed" in argv):
        parser.error("--seeds takes two or more different seeds, and replaces --seed")
    extra = {"work": args.work} if args.work is not None else {}
    config = FewLabelConfig(args.method, steps=args.steps, out=args.out, device="cpu",
                            suffix=args.suffix, seed=args.seed,
                            command="python -m segedu.zoo.few_labels " + " ".join(argv), **extra)
    if args.seeds is None:
        train(config)
    else:
        median = run_seeds(config, args.seeds, args.runs, folder=args.out)
        print(f"{config.run_name}: shipped seed {median} to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
