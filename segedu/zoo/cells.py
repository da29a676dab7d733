"""The zoo's cell models (StarDist, Cellpose, Omnipose, DenoiSeg, ...): data, score, training.

The bottom-up cell models share one interface (``model.targets(instances)``, ``model.loss(outputs,
targets)``, ``model.predict_instances(images)``), so one recipe trains them and one scorer compares
them with each other and with the classical methods.

- **Data**: ``SyntheticCells`` of 128 x 128 pixels, one grey channel, the generator's default
  nuclei (10 to 40 per image, 60 % placed against an earlier one so that they touch). Training
  uses ``TRAIN_IMAGES`` images of seed 0, the held-out split ``TEST_IMAGES`` images of seed 1 (never
  seen in training). That is the entry's data ``"cells"``; its other kinds (:mod:`.cell_data`)
  are thin bent rods (Omnipose, and Cellpose beside it) and noisy nuclei of which a tenth is
  labelled (DenoiSeg, and its baseline on the labelled tenth alone).
- **Score**: object matching at IoU 0.5, 0.6, ..., 0.9 (:func:`segedu.metrics.matching`, as
  StarDist and Cellpose score nuclei), counted over the whole split: the true positives, false
  positives and false negatives of all images are added before the ratios are taken (StarDist's
  ``matching_dataset`` with ``by_image=False``), so an image with many nuclei weighs more.
  ``accuracy`` = TP / (TP + FP + FN) is what those papers call average precision.
- **Training** (:func:`train`, :class:`CellConfig`): batches of 8 by epochs of the images in an
  order replayed from the run's seed, Adam with a cosine decay to 0, the model's own loss,
  float16 autocast with a loss scaler on a GPU, through :func:`segedu.zoo.recipe.run_recipe`
  (resumable); the targets of each training image are computed once (on first use) and kept.
- **A real image** (:func:`evaluate_real_nuclei`): the same scores on the 2018 Data Science Bowl
  nuclei that ``stardist`` ships, resized so that its median nucleus has the training nuclei's
  diameter; :func:`classical_predictors` gives the untrained baselines to compare with.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage
from skimage.filters import gaussian, threshold_otsu
from torch.utils.data import DataLoader, Dataset

from ..classical import distance_transform_watershed
from ..data import dsb2018_nuclei
from ..engine import WarmupCosine, replay_batches, to_device
from ..metrics import matching
from ..models.bottom_up.denoiseg import DenoiSeg
from . import Task
from .cards import model_card, trained_line, where
from .cell_data import cell_data
from .recipe import Recipe, TrainConfig, Training, run_recipe, train_run

__all__ = ["SIZE", "TRAIN_IMAGES", "TEST_IMAGES", "THRESHOLDS", "cell_tensors", "held_out_cells",
           "training_cells", "learns_without_labels", "denoising_psnr", "CellTargets",
           "score_instances", "evaluate_cells", "CellConfig", "train_cells", "cells_card", "train",
           "evaluate", "RECIPE",
           "model_predictor", "median_diameter",
           "synthetic_diameter", "classical_predictors", "evaluate_real_nuclei"]

SIZE, TRAIN_IMAGES, TEST_IMAGES = 128, 2000, 100
THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9)

Predictor = Callable[[torch.Tensor],
                     Sequence[torch.Tensor]]  # images (N, 1, H, W) -> N label images


def cell_tensors(*, seed: int, length: int, size: int = SIZE,
                 data: str = "cells") -> tuple[torch.Tensor, torch.Tensor]:
    """Cell images ``0..length-1`` of ``seed`` of the kind ``data`` (:mod:`.cell_data`, every one
    labelled): images (L, 1, S, S) (in [0, 1] unless noisy), instances (L, S, S) int64."""
    cells = cell_data(data).dataset(size=size, length=length, seed=seed)
    images = torch.empty(length, 1, size, size)
    instances = torch.empty(length, size, size, dtype=torch.int64)
    for i in range(length):
        image, target = cells[i]
        images[i] = image.as_subclass(torch.Tensor)
        instances[i] = target["instances"].as_subclass(torch.Tensor)
    return images, instances


@functools.lru_cache(maxsize=4)
def held_out_cells(length: int = TEST_IMAGES,
                   data: str = "cells") -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``length`` images of the held-out split (seed 1) of the cells ``data``
    (:mod:`.cell_data`), drawn once per length and kind."""
    if not 1 <= length <= TEST_IMAGES:
        raise ValueError(f"the held-out split has {TEST_IMAGES} images; asked for {length}")
    return cell_tensors(seed=1, length=length, data=data)


def training_cells(data: str, images: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The training images of the cells ``data`` (seed 0): the first ``images`` of them, the
    instances of those past the labelled share set to 0 (unlabelled), or only the labelled ones
    for a kind that trains on them alone (:class:`.cell_data.CellData`)."""
    kind = cell_data(data)
    labelled = kind.labelled_images(images)
    images_, instances = cell_tensors(seed=0, length=labelled if kind.labelled_only else images,
                                      data=data)
    instances[labelled:] = 0
    return images_, instances


def learns_without_labels(model: torch.nn.Module) -> bool:
    """Whether ``model`` learns from unlabelled images: DenoiSeg with its denoising term on."""
    return isinstance(model, DenoiSeg) and model.alpha > 0


class CellTargets(Dataset):
    """``(image (1, S, S), targets dict)`` items: ``targets_fn(instances)`` computed on first use,
    then kept (floating-point targets in float16, to halve the memory; given back in float32)."""

    def __init__(self, images: torch.Tensor, instances: torch.Tensor,
                 targets_fn: Callable[[torch.Tensor], dict[str, torch.Tensor]]) -> None:
        if images.ndim != 4 or instances.ndim != 3 or len(images) != len(instances):
            raise ValueError(f"images must be (L, C, H, W) and instances (L, H, W) of the same "
                             "length, got "
                             f"{tuple(images.shape)} and {tuple(instances.shape)}")
        self.images, self.instances, self.targets_fn = images, instances, targets_fn
        self._kept: dict[int, dict[str, torch.Tensor]] = {}

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        if index not in self._kept:
            targets = self.targets_fn(self.instances[index])
            self._kept[index] = {k: v.half() if v.is_floating_point() else v
                                 for k, v in targets.items()}
        targets = {k: v.float() if v.is_floating_point() else v
                   for k, v in self._kept[index].items()}
        return self.images[index], targets


def score_instances(predictions: Sequence[torch.Tensor], truths: Sequence[torch.Tensor],
                    thresholds: Sequence[float] = THRESHOLDS) -> dict[float, dict[str, float]]:
    """Object matching over a whole split, per IoU threshold: ``{t: {"accuracy", "f1", "precision",
    "recall", "panoptic_quality", "tp", "fp", "fn"}}``; the counts (and the matched IoUs) added over
    the images before the ratios are taken. ``panoptic_quality`` is the sum of the matched pairs'
    IoU over ``tp + fp/2 + fn/2`` (Kirillov et al. 2019; at ``t = 0.5`` the PQ of one class, except
    that a pair of IoU exactly 0.5 counts here and not in panopticapi, which asks for IoU > 0.5)."""
    if len(predictions) != len(truths):
        raise ValueError(f"{len(predictions)} predictions for {len(truths)} ground-truth images")
    totals = {t: {"tp": 0, "fp": 0, "fn": 0} for t in thresholds}
    matched_iou = dict.fromkeys(thresholds, 0.0)  # the IoU summed over the true positives
    for pred, truth in zip(predictions, truths, strict=True):
        for stats in matching(truth, pred, thresh=list(thresholds)):
            for key in ("tp", "fp", "fn"):
                totals[stats["thresh"]][key] += int(stats[key])
            matched_iou[stats["thresh"]] += stats["mean_matched_score"] * stats["tp"]
    scores = {}
    for t, c in totals.items():
        tp, fp, fn = c["tp"], c["fp"], c["fn"]
        scores[t] = {
            "panoptic_quality": matched_iou[t] / (tp + fp / 2 + fn / 2) if tp else 0.0,
            "accuracy": tp / (tp + fp + fn) if tp else 0.0,
            "f1": 2 * tp / (2 * tp + fp + fn) if tp else 0.0,
            "precision": tp / (tp + fp) if tp else 0.0,
            "recall": tp / (tp + fn) if tp else 0.0,
            **c,
        }
    return scores


def model_predictor(model: torch.nn.Module, device: torch.device | str = "cpu",
                    **thresholds) -> Predictor:
    """``images -> label images`` with a cell model's ``predict_instances`` on ``device``."""

    def predict(images: torch.Tensor) -> list[torch.Tensor]:
        model.to(device).eval()
        return [labels.cpu() for labels in model.predict_instances(images.to(device), **thresholds)]

    return predict


def evaluate_cells(predict: Predictor | torch.nn.Module, *, length: int = TEST_IMAGES,
                   batch: int = 16, device: torch.device | str = "cpu",
                   data: str = "cells") -> dict[str, float]:
    """Matching scores of a cell model (or any ``images -> label images`` function) on the first
    ``length`` held-out images of the cells ``data`` (:mod:`.cell_data`), with the time it took
    per image.

    Returns ``accuracy_50`` ... ``accuracy_90``, ``f1_50`` ... ``f1_90``, ``pq`` (panoptic quality
    of the nuclei, matches at IoU 0.5) and ``seconds_per_image``.
    """
    if isinstance(predict, torch.nn.Module):
        predict = model_predictor(predict, device)
    images, instances = held_out_cells(length, data)
    start = time.perf_counter()
    predictions = [p for i in range(0, length, batch) for p in predict(images[i:i + batch])]
    seconds = (time.perf_counter() - start) / length
    scores = score_instances(predictions, list(instances))
    result = {f"accuracy_{round(t * 100)}": s["accuracy"] for t, s in scores.items()}
    result |= {f"f1_{round(t * 100)}": s["f1"] for t, s in scores.items()}
    return result | {"pq": scores[0.5]["panoptic_quality"], "seconds_per_image": seconds}


def median_diameter(instances: Sequence[torch.Tensor] | torch.Tensor) -> float:
    """Median object diameter in pixels over label images ``(H, W)`` (0 background), as Cellpose
    measures it (``cellpose.utils.diameters``): the median of sqrt(area) over all objects, divided
    by sqrt(pi) / 2, i.e. the diameter of a disc of the median area."""
    areas = [torch.bincount(labels.reshape(-1).long())[1:] for labels in instances]
    areas = torch.cat(areas) if areas else torch.zeros(0)
    areas = areas[areas > 0].double()
    if not len(areas):
        raise ValueError("the label images hold no object: no diameter to measure")
    return float(np.median(areas.sqrt().numpy()) / (np.pi ** 0.5 / 2))


@functools.lru_cache(maxsize=1)
def synthetic_diameter(length: int = 20) -> float:
    """:func:`median_diameter` of the nuclei of the first ``length`` training images (seed 0): the
    size of nucleus the cell zoo models were trained on."""
    return median_diameter(cell_tensors(seed=0, length=length)[1])


def _otsu_foreground(image: torch.Tensor) -> np.ndarray:
    """(H, W) bool foreground of a (1, H, W) image: Gaussian smoothing (sigma 1), Otsu's threshold,
    holes filled."""
    smooth = gaussian(image[0].cpu().numpy().astype(np.float64), sigma=1)
    if smooth.min() == smooth.max():
        return np.zeros(smooth.shape, dtype=bool)
    return ndimage.binary_fill_holes(smooth > threshold_otsu(smooth))


def classical_predictors() -> dict[str, Predictor]:
    """The two untrained baselines of the cell chapter, as ``images (N, 1, H, W) -> label images``:

    - ``"connected components (Otsu)"``: the image smoothed by a Gaussian of one pixel, thresholded
      at Otsu's threshold, holes filled, then 4-connected components (touching nuclei merge);
    - ``"distance-transform watershed"``: the same foreground split by
      :func:`segedu.classical.distance_transform_watershed` (one marker per peak of the distance
      transform, at least 3 pixels apart).
    """

    def components(images: torch.Tensor) -> list[torch.Tensor]:
        return [torch.from_numpy(ndimage.label(_otsu_foreground(im))[0].astype(np.int64))
                for im in images]

    def watershed(images: torch.Tensor) -> list[torch.Tensor]:
        return [torch.from_numpy(distance_transform_watershed(_otsu_foreground(im)))
                for im in images]

    return {"connected components (Otsu)": components, "distance-transform watershed": watershed}


def evaluate_real_nuclei(predict: Predictor | torch.nn.Module, *, scale: float | str = "diameter",
                         device: torch.device | str = "cpu", multiple: int = 16
                         ) -> tuple[dict[str, float], torch.Tensor]:
    """Score a cell model (or any ``images -> label images`` function) on a **real** image: the 2018
    Data Science Bowl nuclei that ``stardist`` ships (:func:`segedu.data.dsb2018_nuclei`, 512 x 512,
    percentiles 1 and 99.8 mapped to 0 and 1), against its hand-drawn labels.

    Args:
        predict: as for :func:`evaluate_cells`.
        scale: the factor the image is resized by before ``predict`` (bilinear, anti-aliased); the
            predicted labels are resized back to 512 x 512 (nearest neighbour), so that the ground
            truth is never touched. ``"diameter"`` (the default) is Cellpose's diameter rescaling:
            :func:`synthetic_diameter` / :func:`median_diameter` of the image's labels, which makes
            the median real nucleus as large as the median training nucleus (the labels give only
            this one number, as a user who tells Cellpose the diameter of the cells); ``1.0`` runs
            the image as it is.
        device: for a model.
        multiple: the resized image is padded with zeros (the background's value) on the bottom and
            right to a multiple of this, as the networks' down-sampling needs; the padding is cut
            off the predicted labels.

    Returns:
        ``(scores, labels)``: ``scores`` has the keys of :func:`evaluate_cells` (``accuracy_50`` ...
        ``accuracy_90``, ``f1_50`` ... ``f1_90``, ``pq``, matching at IoU 0.5,
        ``seconds_per_image``) and ``scale``, ``nuclei`` (in the ground truth), ``objects``
        (predicted) and the counts ``tp``, ``fp``, ``fn`` of the matching at IoU 0.5;
        ``labels`` is the predicted int64 ``(512, 512)`` label image.
    """
    if isinstance(predict, torch.nn.Module):
        predict = model_predictor(predict, device)
    image, instances = dsb2018_nuclei()  # (1, H, W) in [0, 1], (H, W) int64
    if scale == "diameter":
        scale = synthetic_diameter() / median_diameter([instances])
    if isinstance(scale, str) or not scale > 0:
        raise ValueError(f"scale must be a positive number or 'diameter', got {scale!r}")
    height, width = instances.shape
    size = (max(1, round(height * scale)), max(1, round(width * scale)))
    x = image[None] if size == (height, width) else F.interpolate(
        image[None], size=size, mode="bilinear", antialias=True, align_corners=False).clamp(0, 1)
    pad_h, pad_w = -size[0] % multiple, -size[1] % multiple
    x = F.pad(x, (0, pad_w, 0, pad_h))  # zeros: the background of the normalised image
    start = time.perf_counter()
    labels = predict(x)[0][: size[0], : size[1]].to(torch.int64).cpu()
    seconds = time.perf_counter() - start
    if size != (height, width):  # back to the ground truth's grid
        labels = F.interpolate(labels[None, None].double(), size=(height, width),
                               mode="nearest")[0, 0].long()
    scores = score_instances([labels], [instances])
    result = {f"accuracy_{round(t * 100)}": s["accuracy"] for t, s in scores.items()}
    result |= {f"f1_{round(t * 100)}": s["f1"] for t, s in scores.items()}
    result |= {"pq": scores[0.5]["panoptic_quality"], "seconds_per_image": seconds,
               "scale": float(scale),
               "nuclei": int(len(torch.unique(instances)) - 1),
               "objects": int(len(torch.unique(labels)) - 1),
               "tp": scores[0.5]["tp"], "fp": scores[0.5]["fp"], "fn": scores[0.5]["fn"]}
    return result, labels


@dataclass
class CellConfig(TrainConfig):
    """:class:`~segedu.zoo.recipe.TrainConfig` plus ``images`` (training images drawn, seed 0)
    and ``test_images`` (held-out images scored); the resume file every 250 steps."""

    tasks = (Task.CELLS,)
    positive = ("images", "test_images")

    images: int = TRAIN_IMAGES
    test_images: int = TEST_IMAGES
    save_every: int = 250


def denoising_psnr(model: torch.nn.Module, *, length: int = TEST_IMAGES, data: str,
                   device: torch.device | str = "cpu", batch: int = 16) -> dict[str, float]:
    """How well a denoising model (``model(images)["denoised"]``, as DenoiSeg) removes the noise
    of the held-out cells ``data``: ``{"psnr_noisy", "psnr_denoised"}``, the peak signal-to-noise
    ratio in dB (peak 1, ``10 log10(1 / MSE)``, the squared errors averaged over every pixel of the
    first ``length`` images) of the noisy images and of the model's output, both against the same
    images before the noise (the kind's ``clean`` data)."""
    clean_kind = cell_data(data).clean
    if clean_kind is None:
        raise ValueError(f"the cells {data!r} have no noise added: no clean images to compare with")
    noisy, _ = held_out_cells(length, data)
    clean, _ = cell_tensors(seed=1, length=length, data=clean_kind)
    model.to(device).eval()
    with torch.no_grad():
        denoised = torch.cat([model(noisy[i:i + batch].to(device))["denoised"].float().cpu()
                              for i in range(0, length, batch)])

    def psnr(images: torch.Tensor) -> float:
        return float(10 * torch.log10(1 / (images.double() - clean.double()).square().mean()))

    return {"psnr_noisy": psnr(noisy), "psnr_denoised": psnr(denoised)}


def evaluate(model: torch.nn.Module, device: torch.device | str = "cpu", *,
             length: int = TEST_IMAGES, data: str = "cells") -> dict[str, float]:
    """:func:`evaluate_cells` of a cell model on the held-out cells ``data``: the recipe's
    score; for a model that also learns to denoise (DenoiSeg) on noisy cells, with
    :func:`denoising_psnr`."""
    scores = evaluate_cells(model, length=length, device=device, data=data)
    if learns_without_labels(model) and cell_data(data).clean is not None:
        scores |= denoising_psnr(model, length=length, data=data, device=device)
    return scores


def train_cells(model: torch.nn.Module, config: CellConfig, device: torch.device) -> dict:
    """Train cell model ``model`` on ``config.images`` synthetic cell images (seed 0) of the
    entry's kind (:attr:`segedu.zoo.ZooEntry.data`, see :mod:`.cell_data`) by epochs in an order
    drawn from ``config.seed`` (:func:`segedu.engine.replay_batches`): the model's own loss, Adam
    with a cosine decay to 0, float16 AMP on a GPU, through :func:`~segedu.zoo.recipe.train_run`
    (resumable from ``config.resume_path``). Returns the run's record (``steps``, ``minutes``,
    ``data_minutes``, ``images``)."""
    kind = cell_data(config.entry.data)
    if kind.labelled < 1 and not kind.labelled_only and not learns_without_labels(model):
        raise ValueError(f"{config.name!r} learns from labels only: train it on the labelled "
                         f"images alone, not on {config.entry.data!r}, whose other images are "
                         "unlabelled")
    start = time.perf_counter()
    train_images, train_instances = training_cells(config.entry.data, config.images)
    data_minutes = (time.perf_counter() - start) / 60
    loader = DataLoader(CellTargets(train_images, train_instances, model.targets),
                        batch_size=config.batch, shuffle=True, drop_last=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    scheduler = WarmupCosine(optimizer, config.steps)
    batches, order = replay_batches(loader, seed=config.seed)  # by epochs, from the seed
    model.to(device).train()

    def compute_loss(batch):
        images, targets = to_device(batch, device, non_blocking=True)
        return model.loss(model(images), targets)

    return train_run(config, model, device, Training(
        compute_loss, batches, optimizer, scheduler, amp=torch.float16, data=order.signature(),
        facts={"data_minutes": data_minutes, "images": len(train_images)}))


def cells_card(config: CellConfig, model: torch.nn.Module, device: torch.device, run: dict,
               score: dict[str, float]) -> list[str]:
    """The card of a cell run: how it was trained, object matching per IoU threshold, the time
    per image (and the denoising of a model that denoises)."""
    data, thresholds = config.entry.data, (50, 60, 70, 80, 90)
    table = [
        "| IoU threshold | accuracy | F1 |",
        "| --- | ---: | ---: |",
        *[f"| {t / 100:.1f} | {score[f'accuracy_{t}']:.3f} | {score[f'f1_{t}']:.3f} |"
          for t in thresholds],
        "",
        f"Prediction took {score['seconds_per_image'] * 1000:.0f} ms per image ({where(device)}, "
        "batches of 16, post-processing included).",
        "",
    ]
    if "psnr_denoised" in score:
        table[-1:] = ["", f"Denoising (PSNR against the images before the noise, peak 1): "
                      f"{score['psnr_noisy']:.2f} dB noisy, {score['psnr_denoised']:.2f} dB "
                      "denoised.", ""]
    trained = (trained_line(config, device, run["steps"], run["minutes"])
               + f" (and {run['data_minutes']:.1f} min to draw the images)")
    recipe = (f"batch {config.batch} from {run['images']} {cell_data(data).words}, "
              f"{SIZE}x{SIZE} (data `{data}`, seed 0, targets computed once), the model's own "
              f"loss, Adam {config.lr:g} with cosine decay")
    held_out = (f"{config.test_images} images of `{data}` from seed 1, every one labelled, never "
                "seen in training; object matching (`segedu.metrics.matching`) with the counts "
                "added over the split")
    title = "synthetic cells" if data == "cells" else f"synthetic cells (`{data}`)"
    return model_card(config, model, title=f"Zoo model `{config.name}` on {title}",
                      trained=trained, recipe=recipe, held_out=held_out, table=table)


def train(config: CellConfig) -> torch.nn.Module:
    """Train cell model ``config.name`` (:func:`train_cells`), score it on the held-out images
    of its kind, write its checkpoint and card (object matching) to ``config.out``
    (:func:`~segedu.zoo.recipe.run_recipe`); return the trained model."""
    return run_recipe(config, train=train_cells, card=cells_card, score=functools.partial(
        evaluate, length=config.test_images, data=config.entry.data))


RECIPE = Recipe(Task.CELLS, CellConfig, train, evaluate, by_data=True)
