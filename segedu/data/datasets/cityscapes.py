"""Cityscapes: street scenes from 50 cities, finely annotated, evaluated on 19 classes.

On disk (the layout of ``leftImg8bit_trainvaltest.zip`` and ``gtFine_trainvaltest.zip``)::

    <root>/
        leftImg8bit/{train,val,test}/<city>/<city>_<seq>_<frame>_leftImg8bit.png
        gtFine/{train,val,test}/<city>/<city>_<seq>_<frame>_gtFine_labelIds.png
        gtFine/{train,val,test}/<city>/<city>_<seq>_<frame>_gtFine_instanceIds.png

The annotation uses 34 *label ids* (0..33), of which 19 are evaluated. Training uses *train ids*:
the 19 evaluated classes numbered 0..18 (:data:`CLASSES`), every other label id mapped to 255
(ignored). The table comes from the official ``cityscapesScripts`` (torchvision's
``Cityscapes.classes``).

``instanceIds`` is a 16-bit PNG: a pixel of a countable object (person, car, ...) holds
``label_id * 1000 + k`` for its ``k``-th instance; any other pixel holds its label id (so also a
crowd of cars drawn as one region, value 26, which has no instance).

The data need a (free) registration, so there is no ``download=True``: see
https://www.cityscapes-dataset.com/downloads/.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torchvision

from segedu.data.archive import extract_archive
from segedu.data.datasets._base import SegmentationDataset
from segedu.data.datasets._io import (
    IGNORE_INDEX,
    DatasetNotFoundError,
    check_same_size,
    read_image,
    read_label_image,
    resolve_root,
)
from segedu.data.sample import make_target

__all__ = ["Cityscapes", "CLASSES", "TRAIN_ID_OF_LABEL_ID", "to_train_ids"]

_TABLE = torchvision.datasets.Cityscapes.classes  # the official label table, one row per label id

CLASSES = tuple(c.name for c in sorted(_TABLE, key=lambda c: c.train_id)
                if 0 <= c.train_id < IGNORE_INDEX)
"""The 19 evaluated classes, in train-id order (``road`` = 0 ... ``bicycle`` = 18)."""

TRAIN_ID_OF_LABEL_ID = np.full(256, IGNORE_INDEX, dtype=np.int64)
"""Look-up table: ``TRAIN_ID_OF_LABEL_ID[label_id]`` is the train id (255 = ignored)."""
for _row in _TABLE:
    if 0 <= _row.id < 256 and 0 <= _row.train_id < IGNORE_INDEX:
        TRAIN_ID_OF_LABEL_ID[_row.id] = _row.train_id

_DOWNLOAD_PAGE = "https://www.cityscapes-dataset.com/downloads/"
_ZIPS = ("leftImg8bit_trainvaltest.zip", "gtFine_trainvaltest.zip")


def to_train_ids(label_ids: np.ndarray) -> np.ndarray:
    """Map an array of Cityscapes label ids (0..33) to train ids (0..18, 255 = ignore)."""
    return TRAIN_ID_OF_LABEL_ID[label_ids]


class Cityscapes(SegmentationDataset):
    """Cityscapes with fine annotations, in train ids.

    Args:
        root: folder with ``leftImg8bit/`` and ``gtFine/`` (default ``$SEGEDU_CACHE/cityscapes``).
            If they are missing but ``leftImg8bit_trainvaltest.zip`` and
            ``gtFine_trainvaltest.zip`` lie in ``root``, they are extracted (safely) first.
        split: ``"train"``, ``"val"`` or ``"test"`` (the test labels are all void).
        transforms: joint transform ``(image, target) -> (image, target)``.

    Each item is ``(image, target)`` with ``target["semantic"]`` int64 ``(H, W)`` in train ids
    (255 = ignore) and, when the ``instanceIds`` PNG exists, one instance per object of an
    evaluated class: ``target["masks"]`` bool ``(N, H, W)``, ``target["labels"]`` int64 ``(N,)``
    (train ids 11..18), ``target["boxes"]`` ``(N, 4)`` and ``target["instances"]`` int64
    ``(H, W)`` (0 background, ``i + 1`` on the pixels of ``masks[i]``). Items are sorted by file
    name.
    """

    CLASSES = CLASSES

    def __init__(
        self,
        *,
        root: str | os.PathLike[str] | None = None,
        split: str = "train",
        transforms: Callable | None = None,
    ) -> None:
        super().__init__(transforms=transforms)
        if split not in ("train", "val", "test"):
            raise ValueError(f"split must be 'train', 'val' or 'test', got {split!r}")
        self.root = resolve_root(root, "cityscapes")
        self.split = split
        self._ensure_extracted()

        # torchvision walks the city folders and derives each annotation's file name
        listing = torchvision.datasets.Cityscapes(
            str(self.root), split=split, mode="fine", target_type=["semantic", "instance"]
        )
        pairs = [
            (Path(image), Path(semantic), Path(instance))
            for image, (semantic, instance) in zip(listing.images, listing.targets, strict=True)
            if image.endswith("_leftImg8bit.png")  # torchvision takes every file, even stray ones
        ]
        self.samples = sorted(pairs)  # torchvision's order is os.listdir's: arbitrary
        if not self.samples:
            raise DatasetNotFoundError(
                f"Cityscapes {split} under {self.root / 'leftImg8bit' / split} holds no "
                f"*_leftImg8bit.png images; get the data from {_DOWNLOAD_PAGE}"
            )

    def _ensure_extracted(self) -> None:
        folders = [self.root / "leftImg8bit" / self.split, self.root / "gtFine" / self.split]
        if all(folder.is_dir() for folder in folders):
            return
        zips = [self.root / name for name in _ZIPS]
        if all(path.is_file() for path in zips):
            for path in zips:
                extract_archive(path, self.root)
            if all(folder.is_dir() for folder in folders):
                return
        missing = next(folder for folder in folders if not folder.is_dir())
        raise DatasetNotFoundError(
            f"Cityscapes not found: {missing} does not exist. Cityscapes needs a free "
            f"registration: log in at {_DOWNLOAD_PAGE}, download {_ZIPS[0]} (11 GB) and {_ZIPS[1]} "
            "(241 MB), and put them (or the leftImg8bit/ and gtFine/ folders they contain) in "
            f"{self.root}."
        )

    def extra_repr(self) -> str:
        return f"root={str(self.root)!r}, split={self.split!r}"

    def load(self, index: int) -> tuple[torch.Tensor, dict[str, Any], str]:
        image_path, semantic_path, instance_path = self.samples[index]
        image = read_image(image_path)
        label_ids = read_label_image(semantic_path, modes=("L", "P"),
                                     referenced_by=f"the image {image_path}")
        check_same_size(image, label_ids, image_path=image_path, label_path=semantic_path)
        semantic = torch.from_numpy(to_train_ids(label_ids))
        if not instance_path.is_file():
            return (image,
                    make_target(canvas_size=label_ids.shape, semantic=semantic,
                                source=str(semantic_path)),
                    str(semantic_path))

        instance_ids = read_label_image(
            instance_path, modes=("I;16", "I", "L"), referenced_by=f"the image {image_path}"
        ).astype(np.int64)
        check_same_size(image, instance_ids, image_path=image_path, label_path=instance_path)
        # objects are the values >= 1000 (label_id * 1000 + k) of an evaluated class
        values = [int(v) for v in np.unique(instance_ids) if v >= 1000]
        kept = [v for v in values if TRAIN_ID_OF_LABEL_ID[v // 1000] != IGNORE_INDEX]
        masks = (np.stack([instance_ids == v for v in kept]) if kept
                 else np.zeros((0, *instance_ids.shape), bool))
        instances = np.zeros(instance_ids.shape, dtype=np.int64)
        for i, mask in enumerate(masks):
            instances[mask] = i + 1
        target = make_target(
            canvas_size=label_ids.shape,
            semantic=semantic,
            masks=torch.from_numpy(masks),
            labels=torch.tensor([int(TRAIN_ID_OF_LABEL_ID[v // 1000]) for v in kept],
                                dtype=torch.int64),
            instances=torch.from_numpy(instances),
            source=str(instance_path),
        )
        return image, target, str(instance_path)
