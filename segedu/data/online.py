"""Real datasets for the online branches of the labs and chapters, through torchvision's classes.

When :func:`segedu.config.online` is true (Colab, or ``SEGEDU_ONLINE=1``) a lab's GPU cell trains on
real photographs instead of the synthetic scenes. The files are read, and downloaded, by
torchvision's own dataset classes, whose URLs and MD5 checksums torchvision keeps:

- :func:`pets_segmentation`: ``torchvision.datasets.OxfordIIITPet(target_types="segmentation")``,
  the trimaps mapped to background 0, pet 1 and border 255 (void);
- :func:`voc_segmentation`: ``torchvision.datasets.VOCSegmentation``, class indices 0..20 and the
  void border 255, kept as it is.

Both give items ``(image, labels)``: ``image`` float32 ``(3, S, S)`` (in [0, 1], or normalised with
ImageNet's mean and standard deviation when ``normalize=True``, as an ImageNet-pretrained encoder
expects) and ``labels`` int64 ``(S, S)`` with 255 where losses and metrics must ignore the pixel
(``ignore_index=255``). Images and labels are resized together (bilinear for the image, nearest
for the labels); ``train=True`` adds a random crop of 50-100 % of the image and a horizontal flip,
the same for both. A plain tensor pair batches with the default ``DataLoader`` collation.

Failures say what went wrong in one line: a missing or incomplete dataset folder raises
:class:`~segedu.data.datasets._io.DatasetNotFoundError` (which folder, how to get it), an unreadable
file :class:`~segedu.data.datasets._io.CorruptFileError` (which file), a label outside the dataset's
values :class:`~segedu.data.sample.SampleError`, and a failed download
:class:`~segedu.data.download.DownloadError` naming the URL, after a bounded wait
(:func:`download_errors`), never a hang.
"""

from __future__ import annotations

import http.client
import os
import socket
import urllib.error
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset
from torchvision import tv_tensors
from torchvision.transforms import v2

from segedu.data.datasets import (
    IGNORE_INDEX,
    CorruptFileError,
    DatasetNotFoundError,
    resolve_root,
)
from segedu.data.datasets.pets import TRIMAP_TO_SEMANTIC
from segedu.data.download import DownloadError
from segedu.data.sample import SampleError
from segedu.data.statistics import IMAGENET_MEAN, IMAGENET_STD

__all__ = [
    "pets_segmentation",
    "voc_segmentation",
    "download_errors",
    "JointResize",
    "PETS_URLS",
    "VOC_URLS",
    "DOWNLOAD_TIMEOUT",
]

DOWNLOAD_TIMEOUT = 30.0
"""Seconds a download may wait for a connection or for the next bytes before it fails."""

_IDENTITY = np.arange(256, dtype=np.int64)


def _pets_urls() -> tuple[str, ...]:
    from torchvision.datasets import OxfordIIITPet

    return tuple(url for url, _ in OxfordIIITPet._RESOURCES)


def _voc_url(year: str) -> str:
    from torchvision.datasets.voc import DATASET_YEAR_DICT

    return DATASET_YEAR_DICT[year]["url"]


PETS_URLS = _pets_urls()
"""The two archives torchvision's ``OxfordIIITPet`` downloads (read from torchvision itself)."""
VOC_URLS = {"2012": _voc_url("2012")}
"""The archive torchvision's ``VOCSegmentation`` downloads for each year used here."""


@contextmanager
def download_errors(what: str, urls: Sequence[str], *, timeout: float = DOWNLOAD_TIMEOUT
                    ) -> Iterator[None]:
    """Run a download (torchvision's or ``torch.hub``'s) so that it fails in one clear line.

    Inside the block, sockets without a timeout of their own give up after ``timeout`` seconds
    (neither torchvision nor ``torch.hub`` sets one: an unreachable server would hang a notebook),
    and a network error, an HTTP error, a timeout or a failed checksum becomes
    :class:`DownloadError` whose one-line message names ``what`` and ``urls``. Other errors pass
    through unchanged.
    """
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout)
    where = ", ".join(urls)
    hint = ("Is this machine offline? Set SEGEDU_ONLINE=0 to stay offline, or download the file "
            "by hand into $SEGEDU_CACHE (default ~/.cache/segedu).")
    try:
        yield
    except urllib.error.HTTPError as error:
        raise DownloadError(
            f"Could not download {what} from {where}: HTTP {error.code} ({error.reason}). {hint}"
        ) from None
    except (urllib.error.URLError, http.client.HTTPException, OSError) as error:
        if isinstance(error, (FileNotFoundError, CorruptFileError)):
            raise  # a file of the dataset, not the network
        reason = getattr(error, "reason", None) or error
        text = " ".join(str(reason).split()) or type(error).__name__
        raise DownloadError(f"Could not download {what} from {where}: {text}. {hint}") from None
    except RuntimeError as error:
        if "corrupted" not in str(error) and "hash" not in str(error):
            raise
        raise DownloadError(
            f"Could not download {what} from {where}: the file's checksum does not match "
            f"({' '.join(str(error).split())}). Delete the partial file and run again."
        ) from None
    finally:
        socket.setdefaulttimeout(previous)


class JointResize:
    """Joint transform ``(PIL image, PIL label image) -> (image (3, S, S), labels (S, S))``.

    Args:
        size: output side ``S``.
        train: add a random resized crop (50-100 % of the area, aspect 3/4-4/3) and a horizontal
            flip, applied alike to the image and its labels; otherwise a plain resize.
        normalize: subtract ImageNet's mean and divide by its standard deviation.
        label_map: optional lookup table applied to the label values (e.g. trimap -> labels).
        valid: the label values allowed after ``label_map``; any other raises ``SampleError``.
    """

    def __init__(self, size: int, *, train: bool, normalize: bool,
                 label_map: np.ndarray | None, valid: set[int]) -> None:
        if not isinstance(size, int) or size < 8:
            raise ValueError(f"size must be an int >= 8, got {size!r}")
        if train:
            geometry = [v2.RandomResizedCrop(size, scale=(0.5, 1.0), antialias=True),
                        v2.RandomHorizontalFlip()]
        else:
            geometry = [v2.Resize((size, size), antialias=True)]
        to_float = v2.ToDtype({tv_tensors.Image: torch.float32, "others": None}, scale=True)
        steps = [v2.ToImage(), *geometry, to_float]
        if normalize:
            steps.append(v2.Normalize(IMAGENET_MEAN, IMAGENET_STD))
        self.transform = v2.Compose(steps)
        self.label_map = label_map
        self.valid = valid

    def __call__(self, image: Image.Image, label: Image.Image) -> tuple[torch.Tensor, torch.Tensor]:
        values = np.asarray(label)
        if values.ndim != 2:
            raise SampleError(f"a label image must have one channel, got shape {values.shape}")
        if values.dtype != np.uint8:
            raise SampleError(f"a label image must hold 8-bit values, got {values.dtype}")
        # which values occur: a histogram, much cheaper than np.unique's sort on every item
        present = np.flatnonzero(np.bincount(values.ravel(), minlength=256))
        table = self.label_map if self.label_map is not None else _IDENTITY
        if present.max(initial=0) >= len(table):
            raise SampleError(f"label value {int(present.max())} is outside the label map")
        unexpected = sorted(set(table[present].tolist()) - self.valid)
        if unexpected:
            raise SampleError(f"unexpected label values {unexpected}")
        # the geometry moves the raw 8-bit values (nearest neighbour), then the table maps the
        # smaller result
        raw = tv_tensors.Mask(torch.from_numpy(values.copy()))  # (H, W) uint8
        out_image, out_mask = self.transform(image, raw)
        out_mask = torch.from_numpy(table)[out_mask.as_subclass(torch.Tensor).long()]
        return out_image.as_subclass(torch.Tensor), out_mask


class _NamedFiles(Dataset):
    """A torchvision segmentation dataset whose items fail with the names of their files."""

    def __init__(self, dataset: Dataset, images: Sequence, labels: Sequence, name: str) -> None:
        self.dataset, self.name = dataset, name
        self.images, self.labels = list(images), list(labels)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        try:
            return self.dataset[index]
        except FileNotFoundError as error:
            raise CorruptFileError(f"{self.name}: {error.filename} is listed but missing") from None
        except SampleError as error:
            raise SampleError(f"{self.labels[index]}: {error}") from None
        except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as error:
            raise CorruptFileError(
                f"{self.name}: cannot read {self.images[index]} or {self.labels[index]} "
                f"({type(error).__name__}: {error}); delete the dataset folder and download it "
                "again"
            ) from None

    def __repr__(self) -> str:
        return f"{self.name} ({len(self)} images) via torchvision.datasets"


def pets_segmentation(root: str | os.PathLike[str] | None = None, *, split: str = "trainval",
                      size: int = 160, train: bool = False, normalize: bool = False,
                      download: bool = False) -> Dataset:
    """Oxford-IIIT Pet trimaps as ``(image (3, S, S), labels (S, S))`` through torchvision.

    Args:
        root: folder holding ``oxford-iiit-pet/`` (default ``$SEGEDU_CACHE/pets``), torchvision's
            layout: ``images/<name>.jpg``, ``annotations/trimaps/<name>.png`` (1 pet,
            2 background, 3 border) and ``annotations/{trainval,test}.txt``.
        split: ``"trainval"`` (3,680 images) or ``"test"`` (3,669).
        size, train, normalize: see :class:`JointResize`.
        download: let torchvision download and check the two archives (:data:`PETS_URLS`,
            755 MB of images and 18 MB of annotations) when the folder is missing.

    Labels: background 0, pet 1, border 255 (void: train and score with ``ignore_index=255``).
    """
    from torchvision.datasets import OxfordIIITPet

    if split not in ("trainval", "test"):
        raise ValueError(f"split must be 'trainval' or 'test', got {split!r}")
    root = resolve_root(root, "pets")
    transform = JointResize(size, train=train, normalize=normalize, label_map=TRIMAP_TO_SEMANTIC,
                            valid={0, 1, IGNORE_INDEX})
    base = Path(root) / "oxford-iiit-pet"
    try:
        if download:
            with download_errors("Oxford-IIIT Pet", PETS_URLS):
                dataset = OxfordIIITPet(root, split=split, target_types="segmentation",
                                        transforms=transform, download=True)
        else:
            dataset = OxfordIIITPet(root, split=split, target_types="segmentation",
                                    transforms=transform)
    except (RuntimeError, FileNotFoundError) as error:
        if isinstance(error, FileNotFoundError) and not isinstance(error, DatasetNotFoundError):
            missing = error.filename or error
        elif isinstance(error, RuntimeError) and "not found" in str(error):
            missing = f"{base / 'images'} or {base / 'annotations'}"
        else:
            raise
        raise DatasetNotFoundError(
            f"Oxford-IIIT Pet not found: {missing} does not exist. Run online (SEGEDU_ONLINE=1, "
            f"download=True) or extract images.tar.gz and annotations.tar.gz from "
            f"https://www.robots.ox.ac.uk/~vgg/data/pets/ into {base}."
        ) from None
    return _NamedFiles(dataset, dataset._images, dataset._segs, f"Oxford-IIIT Pet {split}")


def voc_segmentation(root: str | os.PathLike[str] | None = None, *, image_set: str = "train",
                     year: str = "2012", size: int = 256, train: bool = False,
                     normalize: bool = False, download: bool = False) -> Dataset:
    """PASCAL VOC segmentation as ``(image (3, S, S), labels (S, S))`` through torchvision.

    Args:
        root: folder holding ``VOCdevkit/VOC2012/`` (default ``$SEGEDU_CACHE/voc``):
            ``JPEGImages/<id>.jpg``, ``SegmentationClass/<id>.png`` (palette PNG of class indices)
            and ``ImageSets/Segmentation/{train,val,trainval}.txt``.
        image_set: ``"train"`` (1,464 images), ``"val"`` (1,449) or ``"trainval"``.
        year: only ``"2012"`` here (the segmentation benchmark).
        size, train, normalize: see :class:`JointResize`.
        download: let torchvision download and check ``VOCtrainval_11-May-2012.tar``
            (:data:`VOC_URLS`, about 2 GB) when the folder is missing.

    Labels: the 21 classes 0..20 (0 background) and 255, the void border (``ignore_index=255``).
    """
    from torchvision.datasets import VOCSegmentation

    if year not in VOC_URLS:
        raise ValueError(f"year must be one of {sorted(VOC_URLS)}, got {year!r}")
    if image_set not in ("train", "val", "trainval"):
        raise ValueError(f"image_set must be 'train', 'val' or 'trainval', got {image_set!r}")
    root = resolve_root(root, "voc")
    transform = JointResize(size, train=train, normalize=normalize, label_map=None,
                            valid=set(range(21)) | {IGNORE_INDEX})
    base = Path(root) / "VOCdevkit" / f"VOC{year}"
    split_file = base / "ImageSets" / "Segmentation" / f"{image_set}.txt"
    try:
        # torchvision's VOCSegmentation downloads (or re-extracts 2 GB) whenever download=True:
        # only when the data set is not there yet
        if download and not split_file.is_file():
            with download_errors(f"PASCAL VOC {year}", [VOC_URLS[year]]):
                dataset = VOCSegmentation(root, year=year, image_set=image_set,
                                          transforms=transform, download=True)
        else:
            dataset = VOCSegmentation(root, year=year, image_set=image_set, transforms=transform)
    except (RuntimeError, FileNotFoundError) as error:
        if isinstance(error, RuntimeError) and "not found" not in str(error):
            raise
        missing = split_file if base.is_dir() else base
        raise DatasetNotFoundError(
            f"PASCAL VOC {year} not found: {missing} does not exist. Run online (SEGEDU_ONLINE=1, "
            f"download=True) or extract {Path(VOC_URLS[year]).name} into {root}."
        ) from None
    return _NamedFiles(dataset, dataset.images, dataset.masks, f"PASCAL VOC {year} {image_set}")
