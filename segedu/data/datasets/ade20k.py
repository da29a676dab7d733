"""ADE20K scene parsing (the SceneParsing benchmark, ``ADEChallengeData2016``): 150 classes.

On disk (the layout of ``ADEChallengeData2016.zip``)::

    <root>/ADEChallengeData2016/
        images/training/ADE_train_00000001.jpg ...       20 210 images
        images/validation/ADE_val_00000001.jpg ...       2 000 images
        annotations/training/ADE_train_00000001.png ...  8-bit PNGs of class indices
        annotations/validation/...

In the PNGs, ``0`` means "other" (an object outside the 150 classes, or unlabelled) and ``1..150``
are the classes. Like the benchmark's own evaluation, the loader shifts them down by one
(``1..150`` -> ``0..149``) and turns ``0`` into the ignore label 255 ("reduce zero label").
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from segedu.data.datasets._base import SegmentationDataset
from segedu.data.datasets._io import (
    IGNORE_INDEX,
    DatasetNotFoundError,
    check_same_size,
    read_image,
    read_label_image,
    resolve_root,
)
from segedu.data.download import DatasetFile
from segedu.data.sample import SampleError, make_target

__all__ = ["ADE20K", "CLASSES", "ADE_CHALLENGE_2016"]

ADE_CHALLENGE_2016 = DatasetFile(
    name="ADEChallengeData2016.zip",
    url="http://data.csail.mit.edu/places/ADEchallenge/ADEChallengeData2016.zip",
    sha256="7ff1be44964418441f542a7cc1e1a650e7dc0fc275f5d23252bc9bbdbc977b29",
    extract=True,
)
"""The SceneParsing train/val archive (923 MB); it unpacks to ``ADEChallengeData2016/``."""

# The first name of each class in the benchmark's objectInfo150 table, in label order (label 0
# here is file value 1).
CLASSES = (
    "wall", "building", "sky", "floor", "tree", "ceiling", "road", "bed", "windowpane", "grass",
    "cabinet", "sidewalk", "person", "earth", "door", "table", "mountain", "plant", "curtain",
    "chair", "car", "water", "painting", "sofa", "shelf", "house", "sea", "mirror", "rug", "field",
    "armchair", "seat", "fence", "desk", "rock", "wardrobe", "lamp", "bathtub", "railing",
    "cushion", "base", "box", "column", "signboard", "chest of drawers", "counter", "sand", "sink",
    "skyscraper", "fireplace", "refrigerator", "grandstand", "path", "stairs", "runway", "case",
    "pool table", "pillow", "screen door", "stairway", "river", "bridge", "bookcase", "blind",
    "coffee table", "toilet", "flower", "book", "hill", "bench", "countertop", "stove", "palm",
    "kitchen island", "computer", "swivel chair", "boat", "bar", "arcade machine", "hovel", "bus",
    "towel", "light", "truck", "tower", "chandelier", "awning", "streetlight", "booth",
    "television receiver", "airplane", "dirt track", "apparel", "pole", "land", "bannister",
    "escalator", "ottoman", "bottle", "buffet", "poster", "stage", "van", "ship", "fountain",
    "conveyer belt", "canopy", "washer", "plaything", "swimming pool", "stool", "barrel", "basket",
    "waterfall", "tent", "bag", "minibike", "cradle", "oven", "ball", "food", "step", "tank",
    "trade name", "microwave", "pot", "animal", "bicycle", "lake", "dishwasher", "screen",
    "blanket", "sculpture", "hood", "sconce", "vase", "traffic light", "tray", "ashcan", "fan",
    "pier", "crt screen", "plate", "monitor", "bulletin board", "shower", "radiator", "glass",
    "clock", "flag",
)  # fmt: skip
"""The 150 classes in label order (``CLASSES[0]`` is ``"wall"``, file value 1)."""

_FOLDERS = {"train": "training", "val": "validation"}


class ADE20K(SegmentationDataset):
    """ADE20K SceneParsing semantic segmentation.

    Args:
        root: folder that contains ``ADEChallengeData2016`` (default ``$SEGEDU_CACHE/ade20k``);
            the ``ADEChallengeData2016`` folder itself is accepted too.
        split: ``"train"`` (``training``) or ``"val"`` (``validation``).
        transforms: joint transform ``(image, target) -> (image, target)``.
        download: download and unpack :data:`ADE_CHALLENGE_2016` into ``root`` first.

    Each item is ``(image, target)`` with ``target["semantic"]`` int64 ``(H, W)``: class 0..149,
    255 where the annotation says "other". Items are sorted by file name.
    """

    CLASSES = CLASSES

    def __init__(
        self,
        *,
        root: str | os.PathLike[str] | None = None,
        split: str = "train",
        transforms: Callable | None = None,
        download: bool = False,
    ) -> None:
        super().__init__(transforms=transforms)
        if split not in _FOLDERS:
            raise ValueError(f"split must be 'train' or 'val', got {split!r}")
        self.root = resolve_root(root, "ade20k")
        self.split = split
        if download:
            ADE_CHALLENGE_2016.fetch(self.root)
        # accept both <root>/ADEChallengeData2016/images and <root>/images
        base = self.root if (self.root / "images").is_dir() else self.root / "ADEChallengeData2016"
        self.image_dir = base / "images" / _FOLDERS[split]
        self.annotation_dir = base / "annotations" / _FOLDERS[split]
        how = (
            f"Pass download=True to download {ADE_CHALLENGE_2016.name} (923 MB) from "
            f"{ADE_CHALLENGE_2016.url}, or download it by hand and extract it into {self.root}."
        )
        for folder in (self.image_dir, self.annotation_dir):
            if not folder.is_dir():
                raise DatasetNotFoundError(f"ADE20K not found: {folder} does not exist. {how}")
        images = sorted(self.image_dir.glob("*.jpg"))
        if not images:
            raise DatasetNotFoundError(f"ADE20K under {self.image_dir} holds no .jpg images. {how}")
        self.samples = [(path, self.annotation_dir / f"{path.stem}.png") for path in images]

    def extra_repr(self) -> str:
        return f"root={str(self.root)!r}, split={self.split!r}"

    def load(self, index: int) -> tuple[torch.Tensor, dict[str, Any], str]:
        image_path, annotation_path = self.samples[index]
        image = read_image(image_path)
        values = read_label_image(annotation_path, modes=("L", "P"),
                                  referenced_by=f"the image {image_path}")
        check_same_size(image, values, image_path=image_path, label_path=annotation_path)
        if values.max(initial=0) > len(CLASSES):
            raise SampleError(
                f"{annotation_path} contains the value {int(values.max())}; ADE20K uses 0 (other) "
                f"and 1..{len(CLASSES)}"
            )
        semantic = values.astype(np.int64) - 1  # 1..150 -> 0..149
        semantic[values == 0] = IGNORE_INDEX  # "other" is ignored
        target = make_target(canvas_size=values.shape, semantic=torch.from_numpy(semantic),
                             source=str(annotation_path))
        return image, target, str(annotation_path)
