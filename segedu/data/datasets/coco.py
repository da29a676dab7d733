"""COCO instance segmentation: objects as polygons or run-length encoded (RLE) masks.

On disk (the layout of the COCO 2017 archives)::

    <root>/
        train2017/*.jpg, val2017/*.jpg
        annotations/instances_{train,val}2017.json

One JSON file describes a whole split: ``images`` (id, file_name, height, width), ``categories``
(id, name) and ``annotations``, each with its ``image_id``, ``category_id``, ``bbox``
(``[x, y, width, height]``), ``iscrowd`` and ``segmentation``:

- a list of polygons ``[[x1, y1, x2, y2, ...], ...]`` for an ordinary object;
- an RLE ``{"counts": [...], "size": [H, W]}`` (column-major run lengths, starting with a run of
  zeros) for a *crowd* region (``iscrowd = 1``: many objects of one class, e.g. a crowd of people,
  which evaluation neither rewards nor penalises);
- or a compressed RLE (``counts`` as a string).

pycocotools turns all three into binary masks. COCO's 80 category ids run from 1 to 90 with gaps;
``contiguous_labels=True`` renumbers them 1..80 (0 left for background, as torchvision's detection
models expect).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torchvision

from segedu.data.datasets._base import SegmentationDataset
from segedu.data.datasets._io import (
    CorruptFileError,
    DatasetNotFoundError,
    read_image,
    resolve_root,
)
from segedu.data.download import DatasetFile
from segedu.data.sample import SampleError, make_target

__all__ = ["COCOInstances", "COCO_IMAGES", "COCO_ANNOTATIONS"]

COCO_IMAGES = {
    "train": DatasetFile(
        name="train2017.zip",
        url="http://images.cocodataset.org/zips/train2017.zip",
        sha256="69a8bb58ea5f8f99d24875f21416de2e9ded3178e903f1f7603e283b9e06d929",
        extract=True,
    ),
    "val": DatasetFile(
        name="val2017.zip",
        url="http://images.cocodataset.org/zips/val2017.zip",
        sha256="4f7e2ccb2866ec5041993c9cf2a952bbed69647b115d0f74da7ce8f4bef82f05",
        extract=True,
    ),
}
"""COCO 2017 images per split (train 18 GB, val 1 GB); they unpack to ``{split}2017/``."""

COCO_ANNOTATIONS = DatasetFile(
    name="annotations_trainval2017.zip",
    url="http://images.cocodataset.org/annotations/annotations_trainval2017.zip",
    sha256="113a836d90195ee1f884e704da6304dfaaecff1f023f49b6ca93c4aaae470268",
    extract=True,
)
"""COCO 2017 instance (and caption, keypoint) annotations, 241 MB; unpacked to ``annotations/``."""


def _index_annotations(ann_file: Path) -> torchvision.datasets.CocoDetection:
    """torchvision's ``CocoDetection`` over ``ann_file`` (quietly: pycocotools prints progress)."""
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            return torchvision.datasets.CocoDetection(root=str(ann_file.parent),
                                                      annFile=str(ann_file))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CorruptFileError(f"{ann_file} is not valid JSON: {error}") from error
    except (AssertionError, KeyError, TypeError, ValueError, AttributeError) as error:
        raise CorruptFileError(
            f"{ann_file} is not a COCO annotation file ({type(error).__name__}: {error})"
        ) from error


class COCOInstances(SegmentationDataset):
    """COCO-format instance segmentation (COCO 2017, or any file in the same format).

    Args:
        root: folder with ``{split}2017/`` and ``annotations/`` (default ``$SEGEDU_CACHE/coco``).
        split: ``"train"`` or ``"val"``.
        ann_file: annotation JSON (default ``<root>/annotations/instances_{split}2017.json``); set
            it and ``image_dir`` to read any COCO-format dataset, e.g. one written by
            :func:`segedu.data.export_coco_instances`.
        image_dir: folder that ``file_name`` is relative to (default ``<root>/{split}2017``).
        contiguous_labels: number the categories 1..K in id order instead of using their ids.
        transforms: joint transform ``(image, target) -> (image, target)``.
        download: download and unpack the COCO 2017 images of ``split`` and
            :data:`COCO_ANNOTATIONS` into ``root`` first (skipped when already done).

    Every image of the JSON is an item, including images without annotations (``N = 0``):

    - ``image``: float32 ``(3, H, W)`` in ``[0, 1]``;
    - ``target["masks"]`` bool ``(N, H, W)``, ``target["boxes"]`` float32 ``(N, 4)`` XYXY (from
      the JSON ``bbox``), ``target["labels"]`` int64 ``(N,)`` (category ids, or 1..K),
      ``target["iscrowd"]`` bool ``(N,)``.

    ``classes[label]`` is the name of a label (``"__background__"`` at 0, ``"N/A"`` for unused
    ids); ``categories`` maps category id to name.
    """

    def __init__(
        self,
        *,
        root: str | os.PathLike[str] | None = None,
        split: str = "val",
        ann_file: str | os.PathLike[str] | None = None,
        image_dir: str | os.PathLike[str] | None = None,
        contiguous_labels: bool = False,
        transforms: Callable | None = None,
        download: bool = False,
    ) -> None:
        super().__init__(transforms=transforms)
        if split not in COCO_IMAGES:
            raise ValueError(f"split must be one of {tuple(COCO_IMAGES)}, got {split!r}")
        self.root = resolve_root(root, "coco")
        self.split = split
        self.ann_file = (Path(ann_file).expanduser() if ann_file
                         else self.root / "annotations" / f"instances_{split}2017.json")
        self.image_dir = Path(image_dir).expanduser() if image_dir else self.root / f"{split}2017"
        self.contiguous_labels = contiguous_labels
        if download:
            COCO_ANNOTATIONS.fetch(self.root)
            COCO_IMAGES[split].fetch(self.root)
        how = (
            f"Pass download=True to download {COCO_ANNOTATIONS.name} and {COCO_IMAGES[split].name} "
            "from http://images.cocodataset.org, or download them by hand and extract them into "
            f"{self.root}."
        )
        if not self.ann_file.is_file():
            raise DatasetNotFoundError(f"COCO annotation file {self.ann_file} does not exist. "
                                       f"{how}")
        if not self.image_dir.is_dir():
            raise DatasetNotFoundError(f"COCO image folder {self.image_dir} does not exist. {how}")

        # torchvision's CocoDetection parses the JSON with pycocotools and lists the image ids
        self._coco_dataset = _index_annotations(self.ann_file)
        self.coco = self._coco_dataset.coco
        self.samples = list(self._coco_dataset.ids)  # every image id, sorted

        category_ids = sorted(self.coco.cats)
        self.categories = {cid: self.coco.cats[cid]["name"] for cid in category_ids}
        if contiguous_labels:
            self.label_of_category = {cid: i + 1 for i, cid in enumerate(category_ids)}
            self.classes = ["__background__"] + [self.categories[cid] for cid in category_ids]
        else:
            self.label_of_category = {cid: cid for cid in category_ids}
            top = max(category_ids, default=0)
            self.classes = ["__background__"] + [self.categories.get(i, "N/A")
                                                 for i in range(1, top + 1)]

    def extra_repr(self) -> str:
        return f"ann_file={str(self.ann_file)!r}"

    def load(self, index: int) -> tuple[torch.Tensor, dict[str, Any], str]:
        image_id = self.samples[index]
        info = self.coco.imgs[image_id]
        where = f"image id {image_id} of {self.ann_file}"
        image = read_image(self.image_dir / info["file_name"], referenced_by=where)
        h, w = image.shape[-2:]
        if (info.get("height"), info.get("width")) != (h, w):
            raise SampleError(
                f"{where} is declared {info.get('width')}x{info.get('height')} pixels, but its "
                f"file {self.image_dir / info['file_name']} is {w}x{h}"
            )
        annotations = self.coco.loadAnns(self.coco.getAnnIds(imgIds=image_id))
        masks, boxes, labels, crowd = [], [], [], []
        for ann in annotations:
            about = f"annotation id {ann.get('id')} of {where}"
            if ann.get("category_id") not in self.categories:
                raise SampleError(f"{about} has category_id {ann.get('category_id')!r}, which is "
                                  "not among the categories")
            try:
                # pycocotools' decoder predates NumPy 2's copy keyword
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", DeprecationWarning)
                    masks.append(self.coco.annToMask(ann).astype(bool))  # polygons or RLE -> (H, W)
                x, y, bw, bh = (float(v) for v in ann["bbox"])
            except (KeyError, TypeError, ValueError, IndexError) as error:
                raise SampleError(f"{about} has a malformed segmentation or bbox: "
                                  f"{error!r}") from error
            boxes.append([x, y, x + bw, y + bh])  # XYWH -> XYXY
            labels.append(self.label_of_category[ann["category_id"]])
            crowd.append(bool(ann.get("iscrowd", 0)))
        ids = [ann.get("id") for ann in annotations]
        source = f"{self.ann_file} (image id {image_id}, annotation ids {ids})"
        target = make_target(
            canvas_size=(h, w),
            masks=torch.from_numpy(np.stack(masks)) if masks
            else torch.zeros((0, h, w), dtype=torch.bool),
            boxes=torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
            labels=torch.tensor(labels, dtype=torch.int64),
            iscrowd=torch.tensor(crowd, dtype=torch.bool),
            source=source,
        )
        return image, target, source
