"""COCO panoptic segmentation: every pixel is one *thing* instance, one *stuff* region, or void.

On disk (the layout of ``panoptic_annotations_trainval2017.zip`` once its inner zips are unpacked)::

    <root>/
        {train,val}2017/*.jpg                              the photographs (as for instances)
        annotations/panoptic_{train,val}2017.json          one entry per image
        annotations/panoptic_{train,val}2017/*.png         one RGB PNG of segment ids per image

Each pixel of the PNG encodes a *segment id* in its colour: ``id = R + 256 * G + 256**2 * B``;
``0`` is void (unlabelled). The JSON entry of an image lists its segments (``segments_info``):
``id``, ``category_id``, ``iscrowd``, ``bbox`` (``[x, y, width, height]``) and ``area``. A
category is a *thing* (countable: person, car) or *stuff* (amorphous: sky, grass) according to its
``isthing`` flag.

The loader turns this into the common format:

- ``target["panoptic"]``: ``Mask`` int64 ``(2, H, W)``: channel 0 the category id (255 on void),
  channel 1 the instance id (1, 2, ... for the thing segments of the image in JSON order; 0 for
  stuff and void);
- ``target["semantic"]``: ``Mask`` int64 ``(H, W)``: category id, 255 on void;
- ``target["masks"]``, ``["boxes"]``, ``["labels"]``, ``["iscrowd"]``: the thing segments
  (crowd regions included, flagged), with boxes from the JSON ``bbox``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from segedu.data.archive import extract_archive
from segedu.data.datasets._base import SegmentationDataset
from segedu.data.datasets._io import (
    IGNORE_INDEX,
    CorruptFileError,
    DatasetNotFoundError,
    MissingFileError,
    check_same_size,
    read_image,
    read_label_image,
    resolve_root,
)
from segedu.data.datasets.coco import COCO_IMAGES
from segedu.data.download import DatasetFile
from segedu.data.sample import SampleError, make_target
from segedu.ops import masks_to_boxes

__all__ = ["COCOPanoptic", "COCO_PANOPTIC_ANNOTATIONS", "rgb_to_segment_ids"]

COCO_PANOPTIC_ANNOTATIONS = DatasetFile(
    name="panoptic_annotations_trainval2017.zip",
    url="http://images.cocodataset.org/annotations/panoptic_annotations_trainval2017.zip",
    sha256="c05f76d2129b6b561eb70efe16e7006df62f73fb92889132d373b9d90e31a370",
    extract=True,
)
"""COCO 2017 panoptic annotations (821 MB): JSON files plus one inner zip of PNGs per split."""


def rgb_to_segment_ids(rgb: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` uint8 panoptic PNG -> ``(H, W)`` int64 segment ids, ``R + 256 G + 256^2 B``."""
    rgb = rgb.astype(np.int64)
    return rgb[..., 0] + 256 * rgb[..., 1] + 256 * 256 * rgb[..., 2]


class COCOPanoptic(SegmentationDataset):
    """COCO-format panoptic segmentation (COCO 2017, or any file in the same format).

    Args:
        root: folder with ``{split}2017/`` and ``annotations/`` (default ``$SEGEDU_CACHE/coco``).
        split: ``"train"`` or ``"val"``.
        ann_file: panoptic JSON (default ``<root>/annotations/panoptic_{split}2017.json``).
        image_dir: folder of the photographs (default ``<root>/{split}2017``).
        mask_dir: folder of the segment-id PNGs (default
            ``<root>/annotations/panoptic_{split}2017``).
        transforms: joint transform ``(image, target) -> (image, target)``.
        download: download and unpack the COCO 2017 images of ``split`` and
            :data:`COCO_PANOPTIC_ANNOTATIONS` (and its inner PNG zip) into ``root`` first.

    Attributes:
        categories: category id -> name.
        things, stuffs: the sets of thing and stuff category ids, as
            :func:`segedu.metrics.panoptic_quality` takes them.
    """

    def __init__(
        self,
        *,
        root: str | os.PathLike[str] | None = None,
        split: str = "val",
        ann_file: str | os.PathLike[str] | None = None,
        image_dir: str | os.PathLike[str] | None = None,
        mask_dir: str | os.PathLike[str] | None = None,
        transforms: Callable | None = None,
        download: bool = False,
    ) -> None:
        super().__init__(transforms=transforms)
        if split not in COCO_IMAGES:
            raise ValueError(f"split must be one of {tuple(COCO_IMAGES)}, got {split!r}")
        self.root = resolve_root(root, "coco")
        self.split = split
        annotations = self.root / "annotations"
        self.ann_file = (Path(ann_file).expanduser() if ann_file
                         else annotations / f"panoptic_{split}2017.json")
        self.image_dir = Path(image_dir).expanduser() if image_dir else self.root / f"{split}2017"
        self.mask_dir = (Path(mask_dir).expanduser() if mask_dir
                         else annotations / f"panoptic_{split}2017")
        if download:
            self._download()
        how = (
            f"Pass download=True to download {COCO_PANOPTIC_ANNOTATIONS.name} and "
            f"{COCO_IMAGES[split].name} from http://images.cocodataset.org, or download them by "
            f"hand, extract them into {self.root} and extract annotations/panoptic_{split}2017.zip "
            f"into {annotations}."
        )
        for needed, what in ((self.ann_file, "annotation file"), (self.mask_dir, "PNG folder"),
                             (self.image_dir, "image folder")):
            if not needed.exists():
                raise DatasetNotFoundError(f"COCO panoptic {what} {needed} does not exist. {how}")

        data = self._read_json()
        try:
            self.images = {image["id"]: image for image in data["images"]}
            self.categories = {c["id"]: c["name"] for c in data["categories"]}
            self.things = {c["id"] for c in data["categories"] if c.get("isthing")}
            self.samples = sorted(data["annotations"], key=lambda ann: ann["image_id"])
        except (KeyError, TypeError, AttributeError) as error:
            raise CorruptFileError(f"{self.ann_file} has an entry without {error} (or of the wrong "
                                   "type)") from error
        self.stuffs = set(self.categories) - self.things
        if IGNORE_INDEX in self.categories:
            raise CorruptFileError(
                f"{self.ann_file} has a category with id {IGNORE_INDEX}, which collides with the "
                f"void label {IGNORE_INDEX} of target['semantic']; renumber it"
            )

    def _download(self) -> None:
        COCO_PANOPTIC_ANNOTATIONS.fetch(self.root)
        COCO_IMAGES[self.split].fetch(self.root)
        inner = self.root / "annotations" / f"panoptic_{self.split}2017.zip"
        if not self.mask_dir.is_dir():  # the PNGs ship as a zip inside the zip
            extract_archive(inner, inner.parent)

    def _read_json(self) -> dict[str, Any]:
        try:
            with open(self.ann_file, encoding="utf-8") as file:
                data = json.load(file)
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise CorruptFileError(f"{self.ann_file} is not valid JSON: {error}") from error
        if not isinstance(data, dict) or not all(
            isinstance(data.get(key), list) for key in ("images", "annotations", "categories")
        ):
            raise CorruptFileError(
                f"{self.ann_file} is not a COCO panoptic file: it needs lists 'images', "
                f"'annotations' and 'categories'"
            )
        return data

    @staticmethod
    def _box(segment: dict[str, Any], region: np.ndarray, where: str) -> list[float]:
        """The segment's JSON ``bbox`` as XYXY, or the tight box of its pixels when it has none."""
        if "bbox" not in segment:
            # x2, y2 on the last pixel's edge, as the bbox's
            return masks_to_boxes(torch.from_numpy(region[None]), pixel_edges=True)[0].tolist()
        try:
            x, y, bw, bh = (float(v) for v in segment["bbox"])
        except (TypeError, ValueError) as error:
            raise SampleError(f"segment {segment['id']} of {where} has a malformed bbox "
                              f"{segment['bbox']!r}") from error
        return [x, y, x + bw, y + bh]  # XYWH -> XYXY

    def extra_repr(self) -> str:
        return f"ann_file={str(self.ann_file)!r}"

    def load(self, index: int) -> tuple[torch.Tensor, dict[str, Any], str]:
        ann = self.samples[index]
        where = f"the annotation of image id {ann.get('image_id')} in {self.ann_file}"
        if ann.get("image_id") not in self.images:
            raise MissingFileError(f"{where} refers to an image id that the file's 'images' list "
                                   "lacks")
        info = self.images[ann["image_id"]]
        image_path = self.image_dir / info["file_name"]
        png_path = self.mask_dir / ann["file_name"]
        image = read_image(image_path, referenced_by=where)
        segment_ids = rgb_to_segment_ids(read_label_image(png_path, modes=("RGB",),
                                                          referenced_by=where))
        check_same_size(image, segment_ids, image_path=image_path, label_path=png_path)
        h, w = segment_ids.shape

        segments = ann.get("segments_info", [])
        listed = {segment["id"] for segment in segments}
        unlisted = sorted(set(np.unique(segment_ids).tolist()) - listed - {0})
        if unlisted:
            raise SampleError(f"{png_path} contains segment ids {unlisted[:5]} that {where} does "
                              "not list")

        # void (segment id 0 in the PNG) gets IGNORE_INDEX, segedu's one void value in both
        # target["panoptic"] and target["semantic"], so that transforms and metrics treat it alike
        category = np.full((h, w), IGNORE_INDEX, dtype=np.int64)
        instance = np.zeros((h, w), dtype=np.int64)
        masks, boxes, labels, crowd = [], [], [], []
        for segment in segments:
            category_id = segment.get("category_id")
            if category_id not in self.categories:
                raise SampleError(f"segment {segment['id']} of {where} has unknown category_id "
                                  f"{category_id!r}")
            region = segment_ids == segment["id"]
            category[region] = category_id
            if category_id in self.things:
                masks.append(region)
                instance[region] = len(masks)  # thing instances are numbered 1, 2, ... per image
                labels.append(category_id)
                crowd.append(bool(segment.get("iscrowd", 0)))
                boxes.append(self._box(segment, region, where))

        source = f"{png_path} (segments of image id {ann['image_id']} in {self.ann_file})"
        target = make_target(
            canvas_size=(h, w),
            panoptic=torch.from_numpy(np.stack([category, instance])),
            semantic=torch.from_numpy(category.copy()),
            masks=torch.from_numpy(np.stack(masks)) if masks
            else torch.zeros((0, h, w), dtype=torch.bool),
            boxes=torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
            labels=torch.tensor(labels, dtype=torch.int64),
            iscrowd=torch.tensor(crowd, dtype=torch.bool),
            source=source,
        )
        return image, target, source
