"""The zoo's semantic segmentation recipe (U-Net, SegNet, FCN, PSPNet, DeepLabv3+).

- data: ``scenes`` (8000) ``SyntheticScenes`` of 128 x 128 pixels from seed 0, drawn once and
  kept in memory (an epoch is 500 steps of 16); the held-out split (:mod:`segedu.zoo.scores`,
  500 scenes from seed 1) is never seen in training;
- the entry's ``steps`` of batch 16 by epochs of the scenes in an order replayed from the run's
  seed (:func:`segedu.engine.replay_batches`, as :func:`segedu.engine.fit` draws them), Adam from
  the entry's ``lr`` with a cosine decay to 0 (:class:`segedu.engine.WarmupCosine` without
  warm-up), float16 autocast with a loss scaler on a GPU; through
  :func:`segedu.zoo.recipe.run_recipe`, resumable;
- loss (:func:`zoo_loss`): cross-entropy plus soft Dice; a model that returns a dict with an
  auxiliary output (FCN, PSPNet) adds 0.4 times the same loss on ``"aux"``, the PSPNet paper's
  weight (Zhao et al., CVPR 2017);
- score (:func:`evaluate`): per-class IoU and mIoU on the held-out split.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass

import torch
from torch.utils.data import DataLoader, TensorDataset

from ..data import SyntheticScenes
from ..engine import WarmupCosine, replay_batches, to_device
from ..losses import ce_dice_loss
from . import Task
from .cards import model_card, trained_line
from .recipe import Recipe, TrainConfig, Training, run_recipe, train_run
from .scores import SIZE, TEST_SCENES, scene_tensors
from .scores import evaluate as class_iou

__all__ = ["SemanticConfig", "zoo_loss", "train_semantic", "semantic_card", "train", "evaluate",
           "RECIPE"]


@dataclass
class SemanticConfig(TrainConfig):
    """:class:`~segedu.zoo.recipe.TrainConfig` plus ``scenes`` (training scenes drawn, seed 0)
    and ``test_scenes`` (held-out scenes scored); the resume file every 250 steps."""

    tasks = (Task.SEMANTIC,)
    positive = ("scenes", "test_scenes")

    scenes: int = 8000
    test_scenes: int = TEST_SCENES
    save_every: int = 250


def zoo_loss(outputs: dict[str, torch.Tensor], target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy + soft Dice of a semantic model's ``outputs["out"]`` ``(N, K, H, W)`` against
    the classes ``(N, H, W)``, plus 0.4 times it on ``outputs["aux"]`` when there is one."""
    loss = ce_dice_loss(outputs["out"].float(), target)
    if "aux" in outputs:
        loss = loss + 0.4 * ce_dice_loss(outputs["aux"].float(), target)
    return loss


def evaluate(model: torch.nn.Module, device: torch.device | str = "cpu", *,
             length: int = TEST_SCENES) -> dict[str, float]:
    """IoU of each scene class (``"sky"``, ...) and ``"miou"`` on the first ``length`` held-out
    scenes (:func:`segedu.zoo.scores.evaluate`)."""
    iou = class_iou(model, device, length=length)
    return {**dict(zip(SyntheticScenes.classes, iou.tolist(), strict=True)),
            "miou": float(iou.nanmean())}


def train_semantic(model: torch.nn.Module, config: SemanticConfig,
                   device: torch.device) -> dict:
    """Train ``model`` with the recipe above through :func:`~segedu.zoo.recipe.train_run`
    (resumable from ``config.resume_path``); return the run's record (``steps``, ``minutes``,
    ``data_minutes``, ``auxiliary``)."""
    # channels-last (NHWC) activations: the same weights, and convolutions about 1.1 to 1.4 times
    # faster on a CPU (oneDNN; segedu/zoo/README.md); save_float16 stores them contiguous
    model = model.to(memory_format=torch.channels_last)
    start = time.perf_counter()
    images, labels = scene_tensors(seed=0, length=config.scenes)  # (L, 3, S, S), (L, S, S)
    data_minutes = (time.perf_counter() - start) / 60
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    scheduler = WarmupCosine(optimizer, config.steps)
    with torch.no_grad():  # does the model have an auxiliary output? (eval: BN on one image)
        outputs = model.eval()(images[:1])
        auxiliary = "aux" in outputs
    loader = DataLoader(TensorDataset(images, labels), batch_size=config.batch, shuffle=True)
    batches, order = replay_batches(loader, seed=config.seed)  # by epochs, from the seed
    model.to(device).train()

    def compute_loss(batch):
        inputs, targets = to_device(batch, device, non_blocking=True)
        return zoo_loss(model(inputs), targets)

    return train_run(config, model, device, Training(
        compute_loss, batches, optimizer, scheduler, amp=torch.float16, data=order.signature(),
        facts={"data_minutes": data_minutes, "auxiliary": auxiliary}))


def semantic_card(config: SemanticConfig, model: torch.nn.Module, device: torch.device,
                  run: dict, score: dict[str, float]) -> list[str]:
    """The card of a semantic run: how it was trained, per-class IoU and mIoU."""
    table = ["| class | IoU |", "| --- | ---: |",
             *[f"| {name} | {score[name]:.3f} |" for name in SyntheticScenes.classes],
             f"| **mIoU** | **{score['miou']:.3f}** |", ""]
    aux = ", plus 0.4 x the same on the auxiliary output" if run["auxiliary"] else ""
    recipe = (f"batch {config.batch} from {config.scenes} scenes of {SIZE}x{SIZE} (seed 0, drawn "
              f"once), Adam {config.lr:g} with cosine decay, cross-entropy + soft Dice{aux}")
    return model_card(config, model, title=f"Zoo model `{config.name}` on synthetic scenes",
                      trained=trained_line(config, device, run["steps"], run["minutes"])
                      + f" (and {run['data_minutes']:.1f} min to draw the data)",
                      recipe=recipe, table=table,
                      held_out=f"{config.test_scenes} scenes from seed 1, never seen in training")


def train(config: SemanticConfig) -> torch.nn.Module:
    """Train ``config.name`` with the recipe above (:func:`train_semantic`), score it, write its
    checkpoint and card to ``config.out`` (:func:`~segedu.zoo.recipe.run_recipe`); return the
    trained model."""
    return run_recipe(config, train=train_semantic, card=semantic_card,
                      score=functools.partial(evaluate, length=config.test_scenes))


RECIPE = Recipe(Task.SEMANTIC, SemanticConfig, train, evaluate)
