"""segedu's own small checkpoints, trained on its synthetic data: real predictions offline.

Each entry names a registered model, the keyword arguments it was built with, its checkpoint (a
float16 state dict shipped inside the package) and its model card (how it was trained, with the
command that reproduces it, and its score on a held-out synthetic split). ``get_model(name,
weights="zoo")`` builds the model with those arguments and loads the checkpoint.

Reproduce a checkpoint with ``python -m segedu.zoo.train <name>`` (see :mod:`segedu.zoo.train`);
:mod:`segedu.zoo.scores` holds the held-out split and scores every zoo model on it
(``compare()``: mIoU, parameters, images per second), as the book's comparison table does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

__all__ = ["ZooEntry", "ZOO", "zoo_state_dict", "FOLDER"]

FOLDER = Path(__file__).parent / "checkpoints"


@dataclass(frozen=True)
class ZooEntry:
    """A zoo checkpoint: the model's registered name, its build arguments, its files.

    The recipe (:mod:`segedu.zoo.train`) is the same for every entry but for two settings:
    ``lr``, Adam's initial learning rate, for a network that would not train from scratch at the
    default (one without batch norm, say; every model shipped so far uses 3e-3), and ``steps``,
    the length of training: 5000 for the two models the course relies on (U-Net, DeepLabv3+),
    3000 for the three shown only for comparison, to keep the zoo's CPU training time in hand.

    ``task="instances"`` marks an instance segmentation model (Mask R-CNN, YOLACT), trained and
    scored by :mod:`segedu.zoo.instances` instead (AdamW from ``lr``, mask mAP on the held-out
    scenes), in batches of ``batch``.
    ``task="panoptic"`` marks a panoptic model, scored by PQ by :mod:`segedu.zoo.panoptic`: Panoptic
    FPN, trained as the instance models on its own targets, and Mask2Former, trained with its set
    criterion (:func:`segedu.zoo.panoptic.train_mask2former`).
    ``task="promptable"`` marks the small SAM, trained on point and box prompts and scored by the
    mean IoU of its answers by :mod:`segedu.zoo.sam`.
    ``task="features"`` marks a self-supervised backbone (the ViT of DINO + iBOT), trained without
    labels and scored by k-means and a linear probe of its patch features by :mod:`segedu.zoo.dino`
    (no such checkpoint is shipped yet: see that module).
    ``task="cells"`` marks a bottom-up cell model (StarDist, Cellpose, the U-Net with the weight
    map), trained on synthetic nuclei and scored by object matching by :mod:`segedu.zoo.cells`
    (Adam from ``lr``, batches of ``batch``); its files are ``<model>_cells.pt`` and ``.md``.
    """

    model: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    lr: float = 3e-3
    steps: int = 5000
    task: str = "semantic"  # or "instances", "panoptic", "promptable", "features", "cells" (see above)
    batch: int = 16

    @property
    def data(self) -> str:
        """What it was trained on: ``"cells"`` (synthetic nuclei) or ``"scenes"``."""
        return "cells" if self.task == "cells" else "scenes"

    @property
    def checkpoint(self) -> Path:
        return FOLDER / f"{self.model}_{self.data}.pt"

    @property
    def card(self) -> Path:
        return FOLDER / f"{self.model}_{self.data}.md"


# Slim versions of each family, of about the same size (0.5 to 0.9 M parameters), small enough to
# train on a CPU: the ResNet-based ones at width 16 instead of 64, U-Net and SegNet (whose full-
# resolution layers cost the most) at width 8. The FCN is torchvision's (dilated ResNet, FCN head):
# FCN-8s's 100-pixel padding costs a slim one about 10 times the multiply-adds on a 128 x 128
# scene (chapter 7 counts them). The ASPP rates suit the 16 x 16 feature maps of 128 x 128 scenes
# at output stride 8 (the paper's 6/12/18 suit 33 x 33).
ZOO: dict[str, ZooEntry] = {
    "unet": ZooEntry("unet", dict(num_classes=6, width=8, depth=4)),
    "segnet": ZooEntry("segnet", dict(num_classes=6, width=8), steps=3000),
    "fcn_resnet": ZooEntry("fcn_resnet", dict(num_classes=6, backbone="resnet18", backbone_width=16), steps=3000),
    "pspnet": ZooEntry("pspnet", dict(num_classes=6, backbone="resnet18", backbone_width=16, head_channels=64),
                       steps=3000),
    "deeplabv3plus": ZooEntry("deeplabv3plus", dict(num_classes=6, backbone="resnet18", backbone_width=16,
                                                    output_stride=8, rates=(3, 6, 9), decoder_channels=64)),
    # instance segmentation (segedu.zoo.instances), trained on an H100:
    # YOLACT in two runs (`--steps 2300 --batch 16 --lr 1e-3`, then `--steps 800 --lr 1e-3
    # --init-from` the first run's checkpoint), Mask R-CNN in one; their cards say so
    "yolact": ZooEntry("yolact", dict(num_classes=4), lr=1e-3, steps=800, task="instances", batch=32),
    "maskrcnn_resnet_fpn": ZooEntry("maskrcnn_resnet_fpn", dict(num_classes=4), lr=2e-3, steps=600,
                                    task="instances", batch=32),
    # bottom-up cell models (segedu.zoo.cells), trained on a CPU (one thread each, several at a time):
    # 2000 steps of 8 images, StarDist 1200 (its 128-channel feature layer at full resolution costs
    # the most per step, and it was trained last, within the session's time)
    "unet_weight_map": ZooEntry("unet_weight_map", dict(), steps=2000, task="cells", batch=8),
    "spatial_embedding": ZooEntry("spatial_embedding", dict(), steps=2000, task="cells", batch=8),
    "stardist": ZooEntry("stardist", dict(), steps=1200, task="cells", batch=8),
    "cellpose": ZooEntry("cellpose", dict(), steps=2000, task="cells", batch=8),
    # panoptic (segedu.zoo.panoptic), trained on a CPU from the zoo's Mask R-CNN
    # (`--init-from` its checkpoint): the semantic branch is new, the instance branch fine-tuned
    "panoptic_fpn": ZooEntry("panoptic_fpn", dict(), lr=1e-3, steps=600, task="panoptic", batch=8),
    # Mask2Former from scratch with its set criterion (segedu.zoo.panoptic.train_mask2former), on a CPU
    "mask2former": ZooEntry("mask2former", dict(), lr=3e-4, steps=2000, task="panoptic", batch=8),
    # promptable segmentation (segedu.zoo.sam): a small SAM from scratch, prompted by points and
    # boxes of the scenes' segments, with one correction click; scored by mIoU per prompt
    "sam_tiny": ZooEntry("sam_tiny", dict(), lr=8e-4, steps=2000, task="promptable", batch=4),
}


def zoo_state_dict(name: str) -> dict[str, torch.Tensor]:
    """The float32 state dict of zoo model ``name`` (stored in float16)."""
    if name not in ZOO:
        raise ValueError(f"segedu.zoo has no checkpoint for {name!r}; it has: {', '.join(sorted(ZOO))}")
    path = ZOO[name].checkpoint
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: reproduce it with `python -m segedu.zoo.train {name}`")
    state = torch.load(path, map_location="cpu", weights_only=True)
    return {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
