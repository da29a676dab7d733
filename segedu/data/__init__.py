"""Datasets, generators, transforms and annotation formats.

Public names are re-exported here and imported on first use, so ``import segedu.data`` stays cheap
and one broken optional loader cannot break the rest.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    # the common sample format
    "make_target": "sample",
    "validate_sample": "sample",
    "validate_target": "sample",
    "panoptic_to_hw2": "sample",
    "SampleError": "sample",
    # the normalisation of ImageNet-pretrained backbones
    "IMAGENET_MEAN": "statistics",
    "IMAGENET_STD": "statistics",
    # synthetic data with exact ground truth
    "SyntheticScenes": "synthetic_scenes",
    "SCENE_CLASSES": "synthetic_scenes",
    "SCENE_STUFF": "synthetic_scenes",
    "SCENE_COLORS": "synthetic_scenes",
    "SCENE_THINGS": "synthetic_scenes",
    "SyntheticCells": "synthetic_cells",
    "touching_pairs": "synthetic_cells",
    "SyntheticRods": "synthetic_rods",
    "SyntheticVideos": "synthetic_video",
    # DataLoaders over the generators, split between seeded, persistent workers
    "synthetic_loader": "loading",
    "default_workers": "loading",
    # COCO-format export
    "export_coco_instances": "coco_export",
    "export_coco_panoptic": "coco_export",
    # downloads
    "download_file": "download",
    "DownloadError": "download",
    # real datasets
    "VOCSegmentation": "datasets.voc",
    "COCOInstances": "datasets.coco",
    "COCOPanoptic": "datasets.coco_panoptic",
    "Cityscapes": "datasets.cityscapes",
    "ADE20K": "datasets.ade20k",
    "OxfordIIITPet": "datasets.pets",
    # torchvision's own Pets and VOC classes, as (image, labels) pairs for the online branches
    "pets_segmentation": "online",
    "voc_segmentation": "online",
    # real images that installed packages ship (stardist's DSB 2018 nuclei,
    # scikit-image's photographs)
    "dsb2018_nuclei": "real_images",
    "skimage_photograph": "real_images",
    "SKIMAGE_PHOTOGRAPHS": "real_images",
    # joint transforms
    "ElasticDeformation": "transforms",
    "BoxesFromMasks": "transforms",
    "train_transforms": "transforms",
    "eval_transforms": "transforms",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'segedu.data' has no attribute {name!r}")
    module = importlib.import_module(f".{_EXPORTS[name]}", __name__)
    value = getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
