"""segedu's own small checkpoints, trained on its synthetic data: real predictions offline.

Each entry names a registered model, the keyword arguments it was built with, its checkpoint (a
float16 state dict shipped inside the package) and its model card (how it was trained, with the
command that reproduces it, and its score on a held-out synthetic split). ``get_model(name,
weights="zoo")`` builds the model with those arguments and loads the checkpoint.

Reproduce a checkpoint with ``python -m segedu.zoo.train <name>``: :mod:`segedu.zoo.train` looks
up the recipe of the entry's :class:`Task` (one module or package each: :mod:`~segedu.zoo.semantic`,
:mod:`~segedu.zoo.instances`, :mod:`~segedu.zoo.detection`,
:mod:`~segedu.zoo.panoptic`, :mod:`~segedu.zoo.oneformer`, :mod:`~segedu.zoo.sam`,
:mod:`~segedu.zoo.dino`, :mod:`~segedu.zoo.cells`, :mod:`~segedu.zoo.clipseg`,
:mod:`~segedu.zoo.sam2`), each with a configuration dataclass, ``train(config)`` and
``evaluate(model)``; :mod:`segedu.zoo.float16` writes and reads the checkpoints,
:mod:`segedu.zoo.cards` the cards. Measurements made after training, each a recorded command that
writes a section of the cards: :mod:`segedu.zoo.calibration` (calibration and test-time
augmentation of the semantic models), :mod:`segedu.zoo.query_diagnosis` (why a query model misses
things), :mod:`segedu.zoo.seeds` (a family retrained with several seeds, the spread, the median
seed shipped). :mod:`segedu.zoo.few_labels` trains the U-Nets of chapter 19 from few or weak
labels, and :mod:`segedu.zoo.linear_probe` a linear probe on frozen features.
:mod:`segedu.zoo.scores` holds the held-out split and scores every semantic zoo model on it
(``compare()``: mIoU, parameters, images per second), as the book's comparison table does. How
each checkpoint came to be (runs, pilots) is in the cards and in ``segedu/zoo/README.md``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..data.statistics import IMAGENET_MEAN, IMAGENET_STD
from ..models.registry import get_model, register_weights
from ..models.top_down.detection import (
    SSD300_ASPECT_RATIOS,
    SSD300_SCALES,
    SSD300_STEPS,
    retinanet_anchor_sizes,
)
from .float16 import load_float32

__all__ = ["Task", "ZooEntry", "DATA", "ZOO", "TO_TRAIN", "zoo_state_dict", "serve", "zoo_model",
           "FOLDER"]

FOLDER = Path(__file__).parent / "checkpoints"


class Task(enum.Enum):
    """What a zoo model does, which decides its recipe (data, loss, score).

    - ``SEMANTIC``: a class per pixel of the synthetic scenes; cross-entropy + Dice; per-class IoU
      (:mod:`segedu.zoo.semantic`).
    - ``INSTANCES``: detection-API instance models (Mask R-CNN, YOLACT, SOLOv2); their own
      losses; mask and box mAP (:mod:`segedu.zoo.instances`).
    - ``DETECTION``: one-stage box detectors (RetinaNet, SSD) on the same scenes and targets,
      without the masks; their own losses; box mAP (:mod:`segedu.zoo.detection`).
    - ``PANOPTIC``: Panoptic FPN, trained as the instance models on its own targets; PQ
      (:mod:`segedu.zoo.panoptic`).
    - ``SET_PREDICTION``: Mask2Former and EoMT, one mask and class per segment with their set
      criterion; PQ (:mod:`segedu.zoo.panoptic`); OneFormer, the same trained for the three tasks
      at once, told the task by a token; PQ, mIoU and mask mAP (:mod:`segedu.zoo.oneformer`;
      :mod:`segedu.zoo.set_prediction` sends each model to its recipe).
    - ``PROMPTABLE``: SAM, trained on point and box prompts; mean IoU of its answers
      (:mod:`segedu.zoo.sam`).
    - ``FEATURES``: a self-supervised ViT (DINO + iBOT), no labels; k-means and linear probe of
      its patch features (:mod:`segedu.zoo.dino`).
    - ``CELLS``: bottom-up cell models on synthetic nuclei, rods or noisy nuclei (the entry's
      ``data``, :mod:`segedu.zoo.cell_data`); object matching (:mod:`segedu.zoo.cells`).
    - ``VIDEO``: SAM 2, prompted on the first frame of synthetic clips and propagated with its
      memory; J&F of the propagated masks (:mod:`segedu.zoo.sam2`).
    - ``TEXT_PROMPTS``: CLIPSeg, a mask for each class named by a text prompt in a toy
      vocabulary; IoU of the prompted masks (:mod:`segedu.zoo.clipseg`).
    """

    SEMANTIC = "semantic"
    INSTANCES = "instances"
    DETECTION = "detection"
    PANOPTIC = "panoptic"
    SET_PREDICTION = "set_prediction"
    PROMPTABLE = "promptable"
    FEATURES = "features"
    CELLS = "cells"
    VIDEO = "video"
    TEXT_PROMPTS = "text_prompts"


# What each task's entries can be trained on (``ZooEntry.data``), the first being the default; a
# task not listed trains on the synthetic scenes. The cell kinds are those of
# ``segedu.zoo.cell_data.CELL_DATA`` (a test keeps the two lists equal).
DATA: dict[Task, tuple[str, ...]] = {
    Task.CELLS: ("cells", "rods", "noisy_cells", "noisy_cells_labelled"),
    Task.VIDEO: ("videos",),
}


@dataclass(frozen=True)
class ZooEntry:
    """A zoo checkpoint: the model's registered name, its build arguments, its recipe's settings.

    Args:
        model: the registered name (:func:`segedu.models.get_model`).
        kwargs: the keyword arguments it is built with.
        lr: the optimizer's initial (peak) learning rate.
        steps: optimizer steps of training.
        task: a :class:`Task` (or its value, e.g. ``"cells"``), which picks the recipe.
        batch: images per step.
        data: what it is trained and scored on, one of :data:`DATA` for its task (``None``: the
            task's default: ``"cells"`` for a cell model, ``"videos"`` for a video model,
            ``"scenes"`` otherwise).

    The checkpoint is ``checkpoints/<model>_<data>.pt`` and the card ``.md`` beside it, so that
    one model can have an entry per kind of data (``cellpose`` on nuclei, ``cellpose_rods`` on
    rods). An entry whose key is not its model's name is loaded with :func:`zoo_model`.
    """

    model: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    lr: float = 3e-3
    steps: int = 5000
    task: Task = Task.SEMANTIC
    batch: int = 16
    data: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.task, Task):
            try:
                object.__setattr__(self, "task", Task(self.task))
            except ValueError:
                known = ", ".join(t.value for t in Task)
                raise ValueError(f"unknown zoo task {self.task!r}; "
                                 f"the tasks are: {known}") from None
        for name in ("steps", "batch"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"ZooEntry {self.model!r}: {name} must be a positive integer, "
                                 f"got {value!r}")
        if not self.lr > 0:
            raise ValueError(f"ZooEntry {self.model!r}: lr must be positive, got {self.lr!r}")
        kinds = DATA.get(self.task, ("scenes",))
        if self.data is None:
            object.__setattr__(self, "data", kinds[0])
        elif self.data not in kinds:
            raise ValueError(f"ZooEntry {self.model!r}: a {self.task.value} model trains on "
                             f"{', '.join(map(repr, kinds))}, not {self.data!r}")

    @property
    def checkpoint(self) -> Path:
        return FOLDER / f"{self.model}_{self.data}.pt"

    @property
    def card(self) -> Path:
        return FOLDER / f"{self.model}_{self.data}.md"


# Slim versions of each family, of about the same size (0.5 to 0.9 M parameters), small enough to
# train on a CPU: the ResNet-based ones at width 16 instead of 64, U-Net and SegNet (whose full-
# resolution layers cost the most) at width 8. The FCN is torchvision's (dilated ResNet, FCN
# head): FCN-8s's 100-pixel padding costs a slim one about 10 times the multiply-adds on a
# 128 x 128 scene (chapter 7 counts them). The ASPP rates suit the 16 x 16 feature maps of
# 128 x 128 scenes at output stride 8 (the paper's 6/12/18 suit 33 x 33). The semantic family's
# budget is 5000 steps (the ZooEntry default), three seeds each, the median seed shipped
# (segedu.zoo.seeds). Each card says how its checkpoint was trained.

# RoIs sampled per image for the R-CNN heads' losses (Mask R-CNN and Panoptic FPN), not the FPN
# paper's 512: a 128 x 128 scene holds about five objects among 4,092 anchors, so 128 RoIs still
# see every object, at a fraction of RoI-align's backward cost (the zoo README, "Mask R-CNN's RoI
# sampling", has the measurement); training only, inference samples nothing
ROIS_PER_IMAGE = 128
# the detection family's budget (RetinaNet, SSD): steps of DETECTION_BATCH scenes
DETECTION_STEPS, DETECTION_BATCH = 2000, 32
ZOO: dict[str, ZooEntry] = {
    "unet": ZooEntry("unet", dict(num_classes=6, width=8, depth=4)),
    "segnet": ZooEntry("segnet", dict(num_classes=6, width=8)),
    "fcn_resnet": ZooEntry("fcn_resnet", dict(num_classes=6, backbone="resnet18",
                                              backbone_width=16)),
    "pspnet": ZooEntry("pspnet", dict(num_classes=6, backbone="resnet18", backbone_width=16,
                                      head_channels=64)),
    "deeplabv3plus": ZooEntry("deeplabv3plus", dict(num_classes=6, backbone="resnet18",
                                                    backbone_width=16, output_stride=8,
                                                    rates=(3, 6, 9), decoder_channels=64)),
    # SegFormer's slim Mix Transformer (widths 16-128, decoder 64), from scratch, the same recipe
    "segformer_tiny": ZooEntry("segformer_tiny", dict(num_classes=6)),
    # one U-Net decoder on three encoders of the same stage widths (16, 32, 64, 128) and depths
    # (2, 2, 2, 2): a ResNet-18, a Swin (window 4: the 32, 16, 8, 4 grids of 128 px scenes) and a
    # ConvNeXt, stochastic depth 0.1 for both (ConvNeXt-T's); the semantic recipe and budget
    "unet_resnet": ZooEntry("unet_resnet", dict(num_classes=6, backbone="resnet18",
                                                backbone_width=16,
                                                decoder_channels=(64, 32, 16, 16, 16))),
    "unet_swin_t": ZooEntry("unet_swin_t", dict(
        num_classes=6, decoder_channels=(64, 32, 16, 16),
        backbone_config=dict(embed_dim=16, depths=(2, 2, 2, 2), num_heads=(1, 2, 4, 8),
                             window_size=4, drop_path_rate=0.1))),
    "unet_convnext_tiny": ZooEntry("unet_convnext_tiny", dict(
        num_classes=6, decoder_channels=(64, 32, 16, 16),
        backbone_config=dict(dims=(16, 32, 64, 128), depths=(2, 2, 2, 2), drop_path_rate=0.1))),
    # instance segmentation (segedu.zoo.instances)
    "yolact": ZooEntry("yolact", dict(num_classes=4), lr=1e-3, steps=2000, task=Task.INSTANCES,
                       batch=32),
    "maskrcnn_resnet_fpn": ZooEntry("maskrcnn_resnet_fpn",
                                    dict(num_classes=4, box_batch_size_per_image=ROIS_PER_IMAGE),
                                    lr=2e-3, steps=2000, task=Task.INSTANCES, batch=32),
    # SOLOv2 (segedu.zoo.instances): ResNet-18 of width 16 (the builder's default is 32)
    "solov2": ZooEntry("solov2", dict(num_classes=4, backbone_width=16), lr=1e-3, steps=2000,
                       task=Task.INSTANCES, batch=32),
    # one-stage box detectors (segedu.zoo.detection), sized for 128 x 128 scenes: RetinaNet on a
    # ResNet-50 of width 16 with a 64-wide FPN, anchors of 8 to 128 pixels (the paper's three
    # sizes an octave and three ratios); SSD on a VGG-16 of width 16 that keeps two of its four
    # extra blocks (maps of 16, 8, 4 and 2 cells: the last two blocks' unpadded convolutions
    # need at least 3), the first four of SSD300's aspect-ratio sets, five scales and steps,
    # inputs normalised as ImageNet's (SSD300's 0..255 Caffe input suits VGG's Caffe weights,
    # not a network trained from scratch)
    "retinanet_resnet50_fpn": ZooEntry(
        "retinanet_resnet50_fpn",
        dict(num_classes=4, backbone_width=16, fpn_channels=64, min_size=128, max_size=128,
             anchor_sizes=retinanet_anchor_sizes((8, 16, 32, 64, 128))),
        lr=1e-3, steps=DETECTION_STEPS, task=Task.DETECTION, batch=DETECTION_BATCH),
    "ssd300_vgg16": ZooEntry(
        "ssd300_vgg16",
        dict(num_classes=4, backbone_width=16, extra_blocks=2, size=128,
             aspect_ratios=SSD300_ASPECT_RATIOS[:4], scales=SSD300_SCALES[:5],
             steps=SSD300_STEPS[:4], image_mean=IMAGENET_MEAN, image_std=IMAGENET_STD),
        lr=1e-3, steps=DETECTION_STEPS, task=Task.DETECTION, batch=DETECTION_BATCH),
    # bottom-up cell models (segedu.zoo.cells)
    "unet_weight_map": ZooEntry("unet_weight_map", dict(), steps=2000, task=Task.CELLS, batch=8),
    "spatial_embedding": ZooEntry("spatial_embedding", dict(), steps=2000, task=Task.CELLS,
                                  batch=8),
    "stardist": ZooEntry("stardist", dict(), steps=2000, task=Task.CELLS, batch=8),
    "cellpose": ZooEntry("cellpose", dict(), steps=2000, task=Task.CELLS, batch=8),
    # thin, bent, touching rods (segedu.data.SyntheticRods): Omnipose, and Cellpose trained on
    # the same rods with the same budget (the comparison of the Omnipose paper)
    "omnipose": ZooEntry("omnipose", dict(), steps=2000, task=Task.CELLS, batch=8, data="rods"),
    "cellpose_rods": ZooEntry("cellpose", dict(), steps=2000, task=Task.CELLS, batch=8,
                              data="rods"),
    # noisy nuclei, 10 % labelled (segedu.zoo.cell_data): DenoiSeg, and its baseline, the same
    # network without the denoising term (alpha 0) on the labelled images alone
    "denoiseg": ZooEntry("denoiseg", dict(), steps=2000, task=Task.CELLS, batch=8,
                         data="noisy_cells"),
    "denoiseg_labels_only": ZooEntry("denoiseg", dict(alpha=0.0), steps=2000, task=Task.CELLS,
                                     batch=8, data="noisy_cells_labelled"),
    # panoptic (segedu.zoo.panoptic): Panoptic FPN from the zoo's Mask R-CNN (`--init-from`),
    # Mask2Former from scratch with its set criterion and 16 queries (about eight segments a
    # scene; 50 left duplicates on every thing: its card's "Why things are missed")
    "panoptic_fpn": ZooEntry("panoptic_fpn", dict(box_batch_size_per_image=ROIS_PER_IMAGE),
                             lr=1e-3, steps=600, task=Task.PANOPTIC, batch=8),
    "mask2former": ZooEntry("mask2former", dict(num_queries=16), lr=3e-4, steps=6000,
                            task=Task.SET_PREDICTION, batch=8),
    # EoMT: a small ViT from scratch, the same recipe plus the model's own mask annealing
    "eomt": ZooEntry("eomt", dict(), lr=5e-4, steps=6000, task=Task.SET_PREDICTION, batch=8),
    # OneFormer: one model for the three tasks (a task drawn per image, its targets from the
    # panoptic map, the task token, the contrastive loss with a training-only text mapper:
    # segedu.zoo.oneformer); a Swin of the widths of Mask2Former's ResNet-18 at width 16, 16
    # queries (the task token one of them); the checkpoint is the inference network
    "oneformer": ZooEntry("oneformer", dict(
        num_queries=16, text_mapper=None,
        backbone=dict(embed_dim=16, depths=(2, 2, 2, 2), num_heads=(1, 2, 4, 8), window_size=4,
                      drop_path_rate=0.1)), lr=3e-4, steps=6000, task=Task.SET_PREDICTION,
                          batch=8),
    # promptable segmentation (segedu.zoo.sam): a small SAM from scratch
    "sam_tiny": ZooEntry("sam_tiny", dict(), lr=8e-4, steps=2000, task=Task.PROMPTABLE, batch=4),
    # video (segedu.zoo.sam2): a slim SAM 2 from scratch, clicked on frame 0, propagated
    "sam2_slim": ZooEntry("sam2_slim", dict(), lr=8e-4, steps=1200, task=Task.VIDEO, batch=4),
    # text prompts (segedu.zoo.clipseg): a tiny CLIPSeg from scratch, a toy vocabulary
    "clipseg_tiny": ZooEntry("clipseg_tiny", dict(vocab_size=13), lr=1e-3, steps=2000,
                             task=Task.TEXT_PROMPTS, batch=8),
    # self-supervised features (segedu.zoo.dino): DINO + iBOT on a tiny ViT, no labels
    "dino_vit_tiny": ZooEntry("dino_vit_tiny", dict(), lr=1e-3, steps=400, task=Task.FEATURES,
                              batch=32),
}

# Entries whose recipe is ready and tested on a CPU but whose three seeds are not trained yet.
# `python -m segedu.zoo.seeds <task> --names <name>` trains them on a CPU, resumably (hours at
# their families' budgets); `scripts/train_zoo_on_one_gpu.sh` trains them all at once on one GPU
# (the runs: `scripts/zoo_gpu_runs.txt`). `get_model(name, weights="zoo")` names the command; an
# entry leaves this set when its checkpoint and card are shipped (tests/test_zoo.py).
TO_TRAIN: frozenset[str] = frozenset()  # every entry is trained and shipped


def zoo_state_dict(name: str) -> dict[str, torch.Tensor]:
    """The float32 state dict of zoo model ``name`` (stored in float16)."""
    if name not in ZOO:
        raise ValueError(f"segedu.zoo has no checkpoint for {name!r}; "
                         f"it has: {', '.join(sorted(ZOO))}")
    path = ZOO[name].checkpoint
    if name in TO_TRAIN and not path.is_file():
        entry = ZOO[name]
        raise FileNotFoundError(
            f"segedu.zoo's {name!r} is not trained yet: its recipe is ready; train its three seeds "
            f"with `python -m segedu.zoo.seeds {entry.task.value} --names {name}` (on a GPU, "
            f"`scripts/train_zoo_on_one_gpu.sh` trains every waiting entry at once), then record "
            f"its check scores with `python -m segedu.zoo.check_scores {name}`")
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: reproduce it with "
                                f"`python -m segedu.zoo.train {name}`")
    return load_float32(path)


def serve(name: str) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """The build arguments and float32 state dict of zoo model ``name``: what
    ``get_model(name, weights="zoo")`` loads (the zoo registers itself as the registry's
    ``"zoo"`` source when it is imported; ``pyproject.toml`` declares it as a ``segedu.weights``
    entry point so that the registry imports it by that name)."""
    state = zoo_state_dict(name)
    return dict(ZOO[name].kwargs), state


def zoo_model(name: str) -> torch.nn.Module:
    """Zoo entry ``name`` built with its arguments, its trained weights loaded (float32), in eval
    mode: ``get_model(name, weights="zoo")`` for an entry named by its model, and the way to load
    an entry that is not (``zoo_model("cellpose_rods")``: Cellpose trained on rods)."""
    kwargs, state = serve(name)
    model = get_model(ZOO[name].model, **kwargs)
    model.load_state_dict(state)
    return model.eval()


register_weights("zoo", serve)
