"""PASCAL VOC segmentation: 20 object classes plus background, with a void border.

On disk (the layout of ``VOCtrainval_11-May-2012.tar``)::

    <root>/VOCdevkit/VOC2012/
        JPEGImages/<id>.jpg            the photographs
        SegmentationClass/<id>.png     palette PNG: class index per pixel, 255 = void
        SegmentationObject/<id>.png    palette PNG: object index per pixel (1, 2, ...), 255 = void
        ImageSets/Segmentation/{train,val,trainval}.txt   one <id> per line

The palette PNGs *look* coloured, but their pixel values are indices: reading them as RGB (a common
mistake) destroys the labels. Class 255 is the thin "void" band that annotators drew along object
outlines, where the true boundary is uncertain; it is kept as ``255`` so that losses and metrics can
ignore it (``ignore_index=255``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torchvision

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

__all__ = ["VOCSegmentation", "CLASSES", "VOC2012_TRAINVAL"]

CLASSES = (
    "background",
    "aeroplane",
    "bicycle",
    "bird",
    "boat",
    "bottle",
    "bus",
    "car",
    "cat",
    "chair",
    "cow",
    "diningtable",
    "dog",
    "horse",
    "motorbike",
    "person",
    "pottedplant",
    "sheep",
    "sofa",
    "train",
    "tvmonitor",
)
"""The 21 classes of VOC segmentation, in label order (0 is background)."""

VOC2012_TRAINVAL = DatasetFile(
    name="VOCtrainval_11-May-2012.tar",
    url="https://thor.robots.ox.ac.uk/pascal/VOC/voc2012/VOCtrainval_11-May-2012.tar",
    sha256="e14f763270cf193d0b5f74b169f44157a4b0c6efa708f4dd0ff78ee691763bcb",
    extract=True,
)
"""The VOC 2012 train/val archive (about 2 GB); it unpacks to ``VOCdevkit/VOC2012``."""

_YEARS = ("2007", "2008", "2009", "2010", "2011", "2012")


class VOCSegmentation(SegmentationDataset):
    """PASCAL VOC semantic (and instance) segmentation.

    Args:
        root: folder that contains ``VOCdevkit`` (default ``$SEGEDU_CACHE/voc``).
        year: ``"2007"`` to ``"2012"``; only 2012 can be downloaded.
        image_set: ``"train"``, ``"val"`` or ``"trainval"`` (and ``"test"`` for 2007).
        transforms: joint transform ``(image, target) -> (image, target)``.
        download: download and unpack :data:`VOC2012_TRAINVAL` into ``root`` first (skipped when
            already done).

    Each item is ``(image, target)``:

    - ``image``: ``tv_tensors.Image`` float32 ``(3, H, W)`` in ``[0, 1]``;
    - ``target["semantic"]``: ``Mask`` int64 ``(H, W)``, class index 0..20, 255 = void border;
    - when ``SegmentationObject/<id>.png`` exists (it does for every image of the segmentation
      splits): ``target["masks"]`` bool ``(N, H, W)`` (one per object, void excluded),
      ``target["labels"]`` int64 ``(N,)`` (the class of each object, read from
      ``SegmentationClass``) and ``target["boxes"]`` ``(N, 4)`` XYXY (tight boxes of the masks).
    """

    CLASSES = CLASSES

    def __init__(
        self,
        *,
        root: str | os.PathLike[str] | None = None,
        year: str = "2012",
        image_set: str = "train",
        transforms: Callable | None = None,
        download: bool = False,
    ) -> None:
        super().__init__(transforms=transforms)
        if year not in _YEARS:
            raise ValueError(f"year must be one of {_YEARS}, got {year!r}")
        image_sets = ("train", "val", "trainval") + (("test",) if year == "2007" else ())
        if image_set not in image_sets:
            raise ValueError(f"image_set must be one of {image_sets} for VOC {year}, got "
                             f"{image_set!r}")
        self.root = resolve_root(root, "voc")
        self.year = year
        self.image_set = image_set
        if download:
            if year != "2012":
                raise ValueError(
                    f"download=True is only available for VOC 2012; put VOC {year} under "
                    f"{self.root} by hand (see http://host.robots.ox.ac.uk/pascal/VOC/)"
                )
            VOC2012_TRAINVAL.fetch(self.root)

        key = "2007-test" if (year, image_set) == ("2007", "test") else year
        self.voc_root = self.root / torchvision.datasets.voc.DATASET_YEAR_DICT[key]["base_dir"]
        self.split_file = self.voc_root / "ImageSets" / "Segmentation" / f"{image_set}.txt"
        self._check_layout()

        # torchvision reads the split file and builds the image and mask paths
        listing = torchvision.datasets.VOCSegmentation(
            str(self.root), year=year, image_set=image_set, download=False
        )
        self.samples = [
            (Path(image), Path(mask))
            for image, mask in zip(listing.images, listing.masks, strict=True)
            if Path(image).stem  # torchvision turns a blank line of the split file into ".jpg"
        ]

    def _check_layout(self) -> None:
        how = (
            f"Pass download=True to download {VOC2012_TRAINVAL.name} (2 GB) from "
            f"{VOC2012_TRAINVAL.url}, or download it by hand and extract it into {self.root}."
            if self.year == "2012"
            else (f"Get VOC {self.year} from http://host.robots.ox.ac.uk/pascal/VOC/ and extract "
                  f"it into {self.root}.")
        )
        if not self.voc_root.is_dir():
            raise DatasetNotFoundError(f"PASCAL VOC {self.year} not found: {self.voc_root} does "
                                       f"not exist. {how}")
        for needed in (self.split_file, self.voc_root / "JPEGImages",
                       self.voc_root / "SegmentationClass"):
            if not needed.exists():
                raise DatasetNotFoundError(
                    f"PASCAL VOC {self.year} under {self.voc_root} is incomplete: {needed} is "
                    f"missing. {how}"
                )

    def extra_repr(self) -> str:
        return f"root={str(self.root)!r}, year={self.year!r}, image_set={self.image_set!r}"

    def load(self, index: int) -> tuple[torch.Tensor, dict[str, Any], str]:
        image_path, class_path = self.samples[index]
        listed_in = f"{self.split_file}"
        image = read_image(image_path, referenced_by=listed_in)
        # (H, W) uint8
        classes = read_label_image(class_path, modes=("P", "L"), referenced_by=listed_in)
        check_same_size(image, classes, image_path=image_path, label_path=class_path)
        unknown = sorted(set(np.unique(classes).tolist()) - set(range(len(CLASSES)))
                         - {IGNORE_INDEX})
        if unknown:
            raise SampleError(
                f"{class_path} contains class indices {unknown}; VOC uses 0..{len(CLASSES) - 1} "
                f"and {IGNORE_INDEX} (void)"
            )
        semantic = torch.from_numpy(classes.astype(np.int64))

        object_path = self.voc_root / "SegmentationObject" / class_path.name
        if not object_path.is_file():
            return (image,
                    make_target(canvas_size=classes.shape, semantic=semantic,
                                source=str(class_path)),
                    str(class_path))

        objects = read_label_image(object_path, modes=("P", "L"), referenced_by=listed_in)
        check_same_size(image, objects, image_path=image_path, label_path=object_path)
        object_ids = [int(i) for i in np.unique(objects) if i not in (0, IGNORE_INDEX)]
        masks = (np.stack([objects == i for i in object_ids]) if object_ids
                 else np.zeros((0, *objects.shape), bool))
        labels = []
        for object_id, mask in zip(object_ids, masks, strict=True):
            # the object's class is the (majority) class under its pixels in SegmentationClass
            under = classes[mask]
            under = under[(under != 0) & (under != IGNORE_INDEX)]
            if under.size == 0:
                raise SampleError(
                    f"object {object_id} of {object_path} lies only on background or void pixels "
                    f"of {class_path}; the two annotations disagree"
                )
            labels.append(int(np.bincount(under).argmax()))
        target = make_target(
            canvas_size=classes.shape,
            semantic=semantic,
            masks=torch.from_numpy(masks),
            labels=torch.tensor(labels, dtype=torch.int64),
            source=str(object_path),
        )
        return image, target, str(object_path)
