"""Loaders for real segmentation datasets, all returning the common sample format.

Each loader is a ``torch.utils.data.Dataset`` whose items are ``(image, target)`` as described in
:mod:`segedu.data.sample`; torchvision's own dataset classes find the files where torchvision has
one (VOC, COCO, Cityscapes). Tests and CI never download: they write tiny datasets in the real
on-disk formats and read them with these loaders.

===================  ================================  =========================================
class                module                            target keys
===================  ================================  =========================================
``VOCSegmentation``  :mod:`.voc`                       semantic (+ masks, boxes, labels)
``COCOInstances``    :mod:`.coco`                      masks, boxes, labels, iscrowd
``COCOPanoptic``     :mod:`.coco_panoptic`             panoptic, semantic, masks, boxes, labels,
                                                       iscrowd
``Cityscapes``       :mod:`.cityscapes`                semantic (+ masks, boxes, labels,
                                                       instances)
``ADE20K``           :mod:`.ade20k`                    semantic
``OxfordIIITPet``    :mod:`.pets`                      semantic, masks, boxes, labels
===================  ================================  =========================================

Submodules are imported on first use (as in :mod:`segedu.data`).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "VOCSegmentation": "voc",
    "COCOInstances": "coco",
    "COCOPanoptic": "coco_panoptic",
    "Cityscapes": "cityscapes",
    "ADE20K": "ade20k",
    "OxfordIIITPet": "pets",
    "SegmentationDataset": "_base",
    "DatasetNotFoundError": "_io",
    "MissingFileError": "_io",
    "CorruptFileError": "_io",
    "IGNORE_INDEX": "_io",
    "resolve_root": "_io",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'segedu.data.datasets' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
