"""Oxford-IIIT Pet: 37 cat and dog breeds, each photograph with a pet/background *trimap*.

On disk (the layout of ``images.tar.gz`` and ``annotations.tar.gz``, as torchvision expects)::

    <root>/oxford-iiit-pet/
        images/<Breed_name>_<n>.jpg              (cat breeds are capitalised, dog breeds not)
        annotations/trimaps/<Breed_name>_<n>.png  8-bit PNG: 1 pet, 2 background, 3 border
        annotations/{trainval,test}.txt           "<image> <class 1..37> <species 1..2> <breed id>"

A *trimap* has three values because the outline of fur cannot be drawn exactly: annotators marked
the pet, the background, and an uncertain band between them. The loader maps them to

===========  ==============  =========================================
trimap       ``semantic``    meaning
===========  ==============  =========================================
1            1               pet
2            0               background
3            255 (ignore)    border: uncertain, skipped by losses/metrics
===========  ==============  =========================================

and also gives the pet as one instance (the pixels marked 1) labelled with its breed (0..36).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from segedu.data.datasets._base import SegmentationDataset
from segedu.data.datasets._io import (
    IGNORE_INDEX,
    CorruptFileError,
    DatasetNotFoundError,
    check_same_size,
    read_image,
    read_label_image,
    resolve_root,
)
from segedu.data.download import DatasetFile
from segedu.data.sample import SampleError, make_target

__all__ = ["OxfordIIITPet", "CLASSES", "SEMANTIC_CLASSES", "PETS_FILES", "TRIMAP_TO_SEMANTIC",
           "trimap_to_semantic"]

PETS_FILES = (
    DatasetFile(
        name="images.tar.gz",
        url="https://www.robots.ox.ac.uk/~vgg/data/pets/data/images.tar.gz",
        sha256="67195c5e1c01f1ab5f9b6a5d22b8c27a580d896ece458917e61d459337fa318d",
        extract=True,
    ),
    DatasetFile(
        name="annotations.tar.gz",
        url="https://www.robots.ox.ac.uk/~vgg/data/pets/data/annotations.tar.gz",
        sha256="52425fb6de5c424942b7626b428656fcbd798db970a937df61750c0f1d358e91",
        extract=True,
    ),
)
"""The two archives (755 MB of images, 18 MB of annotations); they unpack to ``images/`` and
``annotations/`` inside ``<root>/oxford-iiit-pet``."""

CLASSES = (
    "Abyssinian", "American Bulldog", "American Pit Bull Terrier", "Basset Hound", "Beagle",
    "Bengal", "Birman", "Bombay", "Boxer", "British Shorthair", "Chihuahua", "Egyptian Mau",
    "English Cocker Spaniel", "English Setter", "German Shorthaired", "Great Pyrenees", "Havanese",
    "Japanese Chin", "Keeshond", "Leonberger", "Maine Coon", "Miniature Pinscher", "Newfoundland",
    "Persian", "Pomeranian", "Pug", "Ragdoll", "Russian Blue", "Saint Bernard", "Samoyed",
    "Scottish Terrier", "Shiba Inu", "Siamese", "Sphynx", "Staffordshire Bull Terrier",
    "Wheaten Terrier", "Yorkshire Terrier",
)  # fmt: skip
"""The 37 breeds in label order (list-file class ``k`` is label ``k - 1``)."""

SEMANTIC_CLASSES = ("background", "pet")
"""Classes of ``target["semantic"]`` (the border is 255)."""

TRIMAP_TO_SEMANTIC = np.array([IGNORE_INDEX, 1, 0, IGNORE_INDEX], dtype=np.int64)
"""The semantic label of each trimap value (the index): 1 pet, 2 background, 3 border (void)."""


def trimap_to_semantic(trimap: np.ndarray) -> np.ndarray:
    """Trimap values ``(H, W)`` in {1, 2, 3} -> semantic labels: pet 1, background 0, border 255."""
    return TRIMAP_TO_SEMANTIC[trimap]


class OxfordIIITPet(SegmentationDataset):
    """Oxford-IIIT Pet with trimap segmentation and breed labels.

    Args:
        root: folder that contains ``oxford-iiit-pet`` (default ``$SEGEDU_CACHE/pets``), the
            same layout as torchvision's ``OxfordIIITPet``.
        split: ``"trainval"`` (3 680 images) or ``"test"`` (3 669).
        transforms: joint transform ``(image, target) -> (image, target)``.
        download: download and unpack :data:`PETS_FILES` into ``<root>/oxford-iiit-pet`` first.

    Each item is ``(image, target)``:

    - ``target["semantic"]`` int64 ``(H, W)``: 0 background, 1 pet, 255 border (see the module
      docstring);
    - ``target["masks"]`` bool ``(1, H, W)``: the pet (trimap value 1), ``target["boxes"]``
      ``(1, 4)`` its tight box, ``target["labels"]`` int64 ``(1,)`` its breed (``CLASSES``).

    torchvision's ``OxfordIIITPet`` reads the same files, but keeps the file list private and
    names the breeds after those present in the split; this loader reads the split file itself
    (same format) and uses the fixed list :data:`CLASSES`.
    """

    CLASSES = CLASSES
    SEMANTIC_CLASSES = SEMANTIC_CLASSES

    def __init__(
        self,
        *,
        root: str | os.PathLike[str] | None = None,
        split: str = "trainval",
        transforms: Callable | None = None,
        download: bool = False,
    ) -> None:
        super().__init__(transforms=transforms)
        if split not in ("trainval", "test"):
            raise ValueError(f"split must be 'trainval' or 'test', got {split!r}")
        self.root = resolve_root(root, "pets")
        self.split = split
        self.base = self.root / "oxford-iiit-pet"
        if download:
            for archive in PETS_FILES:
                archive.fetch(self.base)
        self.split_file = self.base / "annotations" / f"{split}.txt"
        how = (
            f"Pass download=True to download {PETS_FILES[0].name} and {PETS_FILES[1].name} from "
            f"https://www.robots.ox.ac.uk/~vgg/data/pets/, or download them by hand and extract "
            f"them into {self.base}."
        )
        for needed in (self.base / "images", self.base / "annotations" / "trimaps",
                       self.split_file):
            if not needed.exists():
                raise DatasetNotFoundError(f"Oxford-IIIT Pet not found: {needed} does not exist. "
                                           f"{how}")
        self.samples = self._read_split_file()

    def _read_split_file(self) -> list[tuple[Path, Path, int]]:
        samples = []
        with open(self.split_file, encoding="utf-8") as file:
            for number, line in enumerate(file, start=1):
                if not line.strip() or line.startswith("#"):
                    continue
                fields = line.split()
                if (len(fields) != 4 or not fields[1].isdigit()
                    or not 1 <= int(fields[1]) <= len(CLASSES)):
                    raise CorruptFileError(
                        f"{self.split_file}, line {number}: expected '<image> <class 1..37> "
                        f"<species> <breed id>', got {line.strip()!r}"
                    )
                name = fields[0]
                samples.append(
                    (
                        self.base / "images" / f"{name}.jpg",
                        self.base / "annotations" / "trimaps" / f"{name}.png",
                        int(fields[1]) - 1,
                    )
                )
        return samples

    def extra_repr(self) -> str:
        return f"root={str(self.root)!r}, split={self.split!r}"

    def load(self, index: int) -> tuple[torch.Tensor, dict[str, Any], str]:
        image_path, trimap_path, breed = self.samples[index]
        listed_in = str(self.split_file)
        image = read_image(image_path, referenced_by=listed_in)
        trimap = read_label_image(trimap_path, modes=("L", "P"), referenced_by=listed_in)
        check_same_size(image, trimap, image_path=image_path, label_path=trimap_path)
        unexpected = sorted(set(np.unique(trimap).tolist()) - {1, 2, 3})
        if unexpected:
            raise SampleError(f"{trimap_path} contains the values {unexpected}; a trimap holds "
                              "only 1, 2 and 3")
        target = make_target(
            canvas_size=trimap.shape,
            semantic=torch.from_numpy(trimap_to_semantic(trimap)),
            masks=torch.from_numpy(trimap == 1)[None],  # (1, H, W): the pet
            labels=torch.tensor([breed], dtype=torch.int64),
            source=str(trimap_path),
        )
        return image, target, str(trimap_path)
