"""Write any segedu dataset as COCO files: instance annotations (RLE or polygons) and panoptic PNGs.

With the data in COCO format, every COCO tool works on it: pycocotools' ``COCOeval``,
panopticapi, detectron2, the labelling tools that read COCO. The layout under ``out_dir`` is
COCO's own::

    out_dir/<split>/000000.png ...                  the images (file name = dataset index)
    out_dir/annotations/instances_<split>.json      export_coco_instances
    out_dir/annotations/panoptic_<split>.json       export_coco_panoptic
    out_dir/annotations/panoptic_<split>/000000.png

Ids:

- **category id = class index + 1**. COCO keeps 0 for "no category" (and the panoptic PNGs keep
  id 0 for unlabelled pixels), so class 0 of a segedu dataset becomes category 1, class 3 becomes
  category 4, and so on. Subtract 1 to go back.
- image id = dataset index + 1 (the same index gives the same id in every split and file).
- panoptic segment id = category id * 1000 + instance id (0 for stuff), so ``id // 1000`` is the
  category and ``id % 1000`` the instance; the PNG stores it as ``R + 256 G + 256^2 B``.

Class names come from the dataset's ``classes`` attribute (and which of them are things from
``thing_classes``), or from the ``classes`` / ``thing_classes`` arguments.

Nothing is replaced silently: an existing annotation file, or an existing image with different
content, raises :class:`FileExistsError` unless ``overwrite=True``. An image identical to the one
already there is not an overwrite, so the instance and panoptic exports of one dataset can share
``out_dir``.
"""

from __future__ import annotations

import datetime
import io
import json
import operator
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from pycocotools import mask as mask_utils
from scipy import ndimage as ndi
from skimage import measure

from .sample import SampleError, validate_sample

__all__ = [
    "export_coco_instances",
    "export_coco_panoptic",
    "mask_to_polygons",
    "mask_to_rle",
    "panoptic_segment_ids",
]

# panoptic segment id = category id * SEGMENT_BASE + instance id
SEGMENT_BASE = 1000


# --------------------------------------------------------------------------------------------
# one mask -> COCO segmentation


def mask_to_rle(mask: np.ndarray) -> dict[str, Any]:
    """Compressed COCO RLE of a bool mask ``(H, W)``: ``{"size": [H, W], "counts": str}``."""
    # pycocotools wants uint8 in Fortran (column-major) order: COCO runs go down the columns
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    rle["counts"] = rle["counts"].decode("ascii")  # bytes -> str, for JSON
    return rle


def mask_to_polygons(mask: np.ndarray) -> list[list[float]]:
    """COCO polygons ``[[x1, y1, x2, y2, ...], ...]`` tracing the outline of a bool mask ``(H, W)``.

    The outline runs through the midpoints between inside and outside pixel centres (marching
    squares, ``skimage.measure.find_contours`` at level 0.5). In COCO coordinates pixel ``(row,
    col)`` covers ``[col, col + 1) x [row, row + 1)``, so a contour point ``(r, c)`` becomes
    ``(x, y) = (c + 0.5, r + 0.5)``. pycocotools rasterises these polygons back to exactly the
    mask, except holes: COCO polygons cannot have holes, their union is filled.
    """
    # pad with background so that objects touching the border still get closed outlines
    padded = np.pad(mask.astype(np.float64), 1)
    polygons = []
    for contour in measure.find_contours(padded, 0.5):
        # closed contour: the last point repeats the first
        points = contour[:-1]
        # drop points on a straight line between their neighbours (same shape, shorter JSON)
        before, after = np.roll(points, 1, axis=0), np.roll(points, -1, axis=0)
        turn = (points[:, 0] - before[:, 0]) * (after[:, 1] - points[:, 1]) - (
            points[:, 1] - before[:, 1]
        ) * (after[:, 0] - points[:, 0])
        points = points[turn != 0]
        if len(points) < 3:  # pycocotools needs at least 3 points (and reads 2 as a box)
            continue
        # (row, col) in the padded array -> (x, y) in COCO pixel coordinates
        xy = points[:, ::-1] - 1 + 0.5
        polygons.append([float(v) for v in xy.ravel()])
    return polygons


def _segmentation(mask: np.ndarray, encoding: str, crowd: bool) -> tuple[Any, float, list[float]]:
    """Segmentation, area and ``[x, y, w, h]`` box of one mask, as pycocotools will read them."""
    h, w = mask.shape
    polygons = mask_to_polygons(mask) if encoding == "polygon" and not crowd else []
    if polygons:
        # area and box of the polygons as pycocotools rasterises them (what annToMask gives)
        rle = mask_utils.merge(mask_utils.frPyObjects(polygons, h, w))
        segmentation: Any = polygons
    else:
        # crowd regions are always RLE, as in COCO
        rle = mask_to_rle(mask)
        segmentation = rle
    area = float(mask_utils.area(rle))
    bbox = [float(v) for v in mask_utils.toBbox(rle)]
    return segmentation, area, bbox


# --------------------------------------------------------------------------------------------
# shared checks and writing


def _check_indices(dataset: Any, indices: Iterable[int] | None) -> list[int]:
    try:
        n = len(dataset)
    except TypeError:
        raise TypeError(f"dataset must have a length, got {type(dataset).__name__}") from None
    if indices is None:
        return list(range(n))
    if isinstance(indices, (str, bytes)) or not isinstance(indices, Iterable):
        raise TypeError(f"indices must be a sequence of ints, got {type(indices).__name__}")
    out = []
    for i in indices:
        try:
            i = operator.index(i)
        except TypeError:
            raise TypeError(f"indices must hold ints, got {i!r}") from None
        if not 0 <= i < n:
            raise IndexError(f"indices holds {i}, outside the dataset's range 0..{n - 1}")
        out.append(i)
    if len(set(out)) != len(out):
        raise ValueError("indices holds the same index more than once")
    return out


def _check_split(split: Any) -> str:
    if (not isinstance(split, str) or not split or "/" in split or "\\" in split
        or split in (".", "..")):
        raise ValueError(f"split must be a plain folder name such as 'train', got {split!r}")
    return split


def _class_info(
    dataset: Any, classes: Sequence[str] | None, thing_classes: Iterable[int] | None
) -> tuple[list[str] | None, set[int] | None]:
    """Class names and thing class ids, from the arguments or else from the dataset."""
    names = classes if classes is not None else getattr(dataset, "classes", None)
    things = thing_classes if thing_classes is not None else getattr(dataset, "thing_classes", None)
    if names is not None:
        if isinstance(names, str) or not all(isinstance(c, str) for c in names):
            raise TypeError(f"classes must be a sequence of class names, got {names!r}")
        names = list(names)
    if things is not None:
        things = {operator.index(c) for c in things}
        if names is not None and not things <= set(range(len(names))):
            raise ValueError(f"thing_classes {sorted(things)} must be class indices into classes "
                             f"{names}")
    return names, things


def _prepare_out(out_dir: str | Path, annotation: Path, overwrite: bool) -> Path:
    """Refuse an ``out_dir`` that is a file, or an existing annotation file without overwrite."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"out_dir {out} exists and is not a folder")
    path = out / annotation
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} already exists; pass overwrite=True to replace it")
    return path


def _write_file(path: Path, data: bytes, overwrite: bool) -> None:
    """Write bytes; an existing file with other content needs ``overwrite=True``."""
    if path.exists() and not overwrite and path.read_bytes() != data:
        raise FileExistsError(
            f"{path} already exists with different content; pass overwrite=True to replace it"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def _image_png(image: torch.Tensor) -> bytes:
    """A float image ``(C, H, W)`` in [0, 1] as PNG bytes (grey for C = 1, RGB for C = 3)."""
    pixels = (image.as_subclass(torch.Tensor).detach().cpu().float() * 255).round().to(torch.uint8)
    array = pixels.permute(1, 2, 0).numpy()
    return _png_bytes(array[..., 0] if array.shape[2] == 1 else array)


def _load_item(dataset: Any, index: int, need: Sequence[str],
               caller: str) -> tuple[torch.Tensor, dict]:
    """``dataset[index]``, checked against the sample format and for the keys ``need``."""
    item = dataset[index]
    if not isinstance(item, tuple) or len(item) != 2:
        raise SampleError(f"dataset[{index}] must be an (image, target) pair, got "
                          f"{type(item).__name__}")
    image, target = item
    validate_sample(image, target, source=f"dataset[{index}]")
    for key in need:
        if key not in target:
            raise SampleError(
                f"dataset[{index}] has no target[{key!r}]; {caller} needs {' and '.join(need)}"
            )
    return image, target


def _info(dataset: Any) -> dict[str, Any]:
    return {
        "description": f"{type(dataset).__name__} exported by segedu",
        "date_created": datetime.date.today().isoformat(),
    }


def _category(class_id: int, names: list[str] | None, things: set[int] | None) -> dict[str, Any]:
    name = names[class_id] if names is not None else f"class_{class_id}"
    kind = "thing" if things is None or class_id in things else "stuff"
    return {"id": class_id + 1, "name": name, "supercategory": kind}


# --------------------------------------------------------------------------------------------
# instances


def export_coco_instances(
    dataset: Any,
    out_dir: str | Path,
    *,
    indices: Iterable[int] | None = None,
    encoding: str = "rle",
    split: str = "train",
    classes: Sequence[str] | None = None,
    thing_classes: Iterable[int] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write images and ``annotations/instances_<split>.json``; return the JSON's path.

    Args:
        dataset: items ``(image, target)`` in the common sample format, with ``masks`` and
            ``labels`` (``iscrowd`` too, when there is one).
        out_dir: output folder (created when missing).
        indices: which items (default: all), each written once.
        encoding: ``"rle"`` (compressed RLE, exact) or ``"polygon"`` (outlines; exact but for
            holes, which COCO polygons cannot have). Crowd instances are always RLE. ``area`` and
            ``bbox`` are those of the segmentation as pycocotools decodes it.
        split: the split's name, used in the folder and file names.
        classes, thing_classes: class names and thing class ids; default to the dataset's
            attributes of the same name. Without names, categories are called ``class_<id>``.
            The categories listed are the thing classes (all classes if unknown).
        overwrite: replace existing files.

    Instances whose mask is empty (a transform may crop one away) are left out.
    """
    if encoding not in ("rle", "polygon"):
        raise ValueError(f"encoding must be 'rle' or 'polygon', got {encoding!r}")
    split = _check_split(split)
    order = _check_indices(dataset, indices)
    names, things = _class_info(dataset, classes, thing_classes)
    json_path = _prepare_out(out_dir, Path("annotations") / f"instances_{split}.json", overwrite)
    image_dir = Path(out_dir) / split

    images, annotations, seen = [], [], set()
    for index in order:
        image, target = _load_item(dataset, index, ("masks", "labels"), "export_coco_instances")
        h, w = image.shape[-2:]
        file_name = f"{index:06d}.png"
        _write_file(image_dir / file_name, _image_png(image), overwrite)
        images.append({"id": index + 1, "file_name": file_name, "height": int(h), "width": int(w)})

        masks = target["masks"].as_subclass(torch.Tensor).cpu().numpy()  # (N, H, W) bool
        labels = target["labels"].tolist()
        crowd = target["iscrowd"].tolist() if "iscrowd" in target else [False] * len(labels)
        for mask, label, is_crowd in zip(masks, labels, crowd, strict=True):
            if names is not None and not 0 <= label < len(names):
                raise SampleError(
                    f"dataset[{index}] target['labels'] holds {label}, not a class index of {names}"
                )
            if things is not None and label not in things:
                raise SampleError(
                    f"dataset[{index}] target['labels'] holds {label}, not a thing class "
                    f"{sorted(things)}"
                )
            if not mask.any():
                continue
            segmentation, area, bbox = _segmentation(mask, encoding, bool(is_crowd))
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": index + 1,
                    "category_id": label + 1,  # COCO category ids start at 1
                    "segmentation": segmentation,
                    "area": area,
                    "bbox": bbox,
                    "iscrowd": int(bool(is_crowd)),
                }
            )
            seen.add(label)

    if things is not None:
        category_ids = sorted(things)
    elif names is not None:
        category_ids = list(range(len(names)))
    else:
        category_ids = sorted(seen)
    coco = {
        "info": _info(dataset),
        "licenses": [],
        "images": images,
        "annotations": annotations,
        "categories": [_category(c, names, things) for c in category_ids],
    }
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(coco))
    return json_path


# --------------------------------------------------------------------------------------------
# panoptic


def panoptic_segment_ids(panoptic: np.ndarray, things: set[int], num_classes: int) -> np.ndarray:
    """Segment id of every pixel, ``(H, W)`` int64, from a ``(2, H, W)`` panoptic target.

    ``category id * 1000 + instance id`` for things, ``category id * 1000`` for stuff (a stuff
    class is one segment, whatever its instance ids), 0 for void pixels (a class id outside
    ``0..num_classes - 1``, such as an ignore index).
    """
    cls, inst = panoptic[0].astype(np.int64), panoptic[1].astype(np.int64)
    valid = (cls >= 0) & (cls < num_classes)
    is_thing = np.isin(cls, sorted(things)) & valid
    if (inst[is_thing] >= SEGMENT_BASE).any() or (inst[is_thing] < 0).any():
        raise ValueError(f"panoptic instance ids must lie in 0..{SEGMENT_BASE - 1}")
    segment = (cls + 1) * SEGMENT_BASE + np.where(is_thing, inst, 0)
    return np.where(valid, segment, 0)


def export_coco_panoptic(
    dataset: Any,
    out_dir: str | Path,
    *,
    indices: Iterable[int] | None = None,
    split: str = "train",
    classes: Sequence[str] | None = None,
    thing_classes: Iterable[int] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write images, panoptic PNGs and ``annotations/panoptic_<split>.json``; return the
    JSON's path.

    Each item's ``target["panoptic"]`` ``(2, H, W)`` (class id, instance id) becomes one PNG of
    segment ids (``R + 256 G + 256^2 B``; see the module doc) and one ``segments_info`` entry per
    segment with ``id``, ``category_id``, ``iscrowd``, ``bbox`` ``[x, y, w, h]`` and ``area``
    (pixels). Stuff classes give one segment each; thing pixels with instance id 0 form one crowd
    segment (``iscrowd = 1``) per class; pixels of an unknown class (e.g. an ignore index) are
    void (id 0, in no segment). ``classes`` and ``thing_classes`` default to the dataset's
    attributes and are required when it has none. ``overwrite`` replaces existing files.
    """
    split = _check_split(split)
    order = _check_indices(dataset, indices)
    names, things = _class_info(dataset, classes, thing_classes)
    if names is None or things is None:
        raise ValueError(
            "export_coco_panoptic needs the class names and which are things: the dataset has no "
            "'classes'/'thing_classes' attributes, so pass classes=... and thing_classes=..."
        )
    json_path = _prepare_out(out_dir, Path("annotations") / f"panoptic_{split}.json", overwrite)
    image_dir = Path(out_dir) / split
    png_dir = Path(out_dir) / "annotations" / f"panoptic_{split}"

    images, annotations = [], []
    for index in order:
        image, target = _load_item(dataset, index, ("panoptic",), "export_coco_panoptic")
        h, w = image.shape[-2:]
        file_name = f"{index:06d}.png"
        _write_file(image_dir / file_name, _image_png(image), overwrite)
        images.append({"id": index + 1, "file_name": file_name, "height": int(h), "width": int(w)})

        # 1. segment id of every pixel
        panoptic = target["panoptic"].as_subclass(torch.Tensor).cpu().numpy()
        segment = panoptic_segment_ids(panoptic, things, len(names))
        # 2. the PNG: id = R + 256 G + 256^2 B
        rgb = np.stack([segment % 256, segment // 256 % 256, segment // 256**2], axis=-1)
        _write_file(png_dir / file_name, _png_bytes(rgb.astype(np.uint8)), overwrite)
        # 3. one entry per segment: area from the pixel count, box from the bounding slices
        ids, compact, areas = np.unique(segment, return_inverse=True, return_counts=True)
        slices = ndi.find_objects(compact.reshape(segment.shape) + 1)
        segments_info = []
        for seg_id, area, (rows, cols) in zip(ids.tolist(), areas.tolist(), slices, strict=True):
            if seg_id == 0:
                continue  # void
            category = seg_id // SEGMENT_BASE
            segments_info.append(
                {
                    "id": seg_id,
                    "category_id": category,
                    "iscrowd": int(category - 1 in things and seg_id % SEGMENT_BASE == 0),
                    "bbox": [cols.start, rows.start, cols.stop - cols.start,
                             rows.stop - rows.start],
                    "area": area,
                }
            )
        annotations.append({"image_id": index + 1, "file_name": file_name,
                            "segments_info": segments_info})

    categories = [
        {**_category(c, names, things), "isthing": int(c in things)} for c in range(len(names))
    ]
    coco = {
        "info": _info(dataset),
        "licenses": [],
        "images": images,
        "annotations": annotations,
        "categories": categories,
    }
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(coco))
    return json_path
